"""Stage 4: a camera that keeps given points in view over its whole orbit, and what one
pixel measures at that framing (edge radii and label sizes are kept visible with it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnrender.config.schema import SceneConfig
from nnrender.layout.camera import (
    View,
    clear_of,
    fit_clear_of,
    frame_points,
    frame_points_ortho,
    half_tangents,
)
from nnrender.layout.network import LayerBlock
from nnrender.plan.inset import keep_clear

FRAME_SAMPLE = 200_000  # points framed at most (a seeded sample, plus the bounding corners)
ORBIT_STEPS = 5  # azimuths checked along the orbit


@dataclass
class Framing:
    """Camera target and distance (and the orthographic scale, 0 for perspective)."""

    target: np.ndarray
    distance: float
    ortho: float
    lens: float
    width: int
    height: int

    @property
    def view_height(self) -> float:
        """World height of the view at the target."""
        if self.ortho:  # ortho_scale is the world size of the larger image side
            return self.ortho * (self.height / self.width if self.width >= self.height else 1.0)
        return 2.0 * self.distance * half_tangents(self.lens, self.width, self.height)[1]

    @property
    def pixel(self) -> float:
        """World size of one pixel at the target."""
        return self.view_height / self.height

    def view(self, azimuth: float, elevation: float) -> View:
        return View(self.target, self.distance, azimuth, elevation, self.lens, self.width,
                    self.height, self.ortho or None)


def orbit(config: SceneConfig) -> tuple[float, float, list[float]]:
    """First and last azimuth of the orbit, and the azimuths framing checks along it."""
    cam = config.camera
    az0, az1 = cam.azimuth + cam.orbit / 2, cam.azimuth - cam.orbit / 2
    return az0, az1, [float(a) for a in np.linspace(az0, az1, ORBIT_STEPS)]


def block_corners(blocks: list[LayerBlock]) -> np.ndarray:
    """The shown cells' box corners at every stage, attached blocks included."""
    pts = []
    for b in [*blocks, *(extra for owner in blocks for extra in owner.attached)]:
        for c, s in zip(b.stage_centers, b.stage_sizes, strict=True):
            shown = np.any(s > 0, axis=1)
            pts += [c[shown] - s[shown] / 2, c[shown] + s[shown] / 2]
    return np.concatenate(pts)


def frame(points: np.ndarray, config: SceneConfig) -> Framing:
    """The framing that keeps ``points`` in view at every azimuth of the orbit."""
    if len(points) > FRAME_SAMPLE:
        lo, hi = points.min(axis=0), points.max(axis=0)
        rng = np.random.default_rng(config.seed)
        points = points[rng.choice(len(points), FRAME_SAMPLE, replace=False)]
        points = np.concatenate([points, lo[None], hi[None]])
    target, distance, scale = fit(points, orbit(config)[2], config.camera.elevation, config,
                                  config.camera.projection == "orthographic")
    w, h = config.render.resolution
    return Framing(target, distance, scale, config.camera.lens, w, h)


def fit(points: np.ndarray, azimuths: list[float], elevation: float, config: SceneConfig,
        orthographic: bool) -> tuple[np.ndarray, float, float]:
    """(target, distance, ortho scale; 0 in perspective) keeping ``points`` in view at each
    azimuth, and out from under the metrics inset."""
    cam = config.camera
    w, h = config.render.resolution
    box = keep_clear(config.metrics, w, h)
    if orthographic:
        target, scale = frame_points_ortho(points, azimuths, elevation, w, h, cam.margin)
        radius = float(np.linalg.norm(points - target, axis=1).max())
        if box is not None:
            _, scale = clear_of(box, points, target, 0.0, float(scale), azimuths, elevation,
                                cam.lens, w, h)
        return target, 2.0 * radius + 1.0, float(scale)
    if box is not None:
        target, distance = fit_clear_of(box, points, azimuths, elevation, cam.lens, w, h,
                                        cam.margin)
    else:
        target, distance = frame_points(points, azimuths, elevation, cam.lens, w, h,
                                        cam.margin)
    return target, float(distance), 0.0
