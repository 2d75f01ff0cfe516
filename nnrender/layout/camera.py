"""Automatic framing: a camera that keeps every given point in view over its whole orbit."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SENSOR = 36.0  # mm, Blender's default sensor width, fitted to the larger image side


def offset_direction(azimuth: float, elevation: float) -> np.ndarray:
    """Unit vector from the target to the camera; azimuth 0 looks along +X (down the net)."""
    az, el = math.radians(azimuth), math.radians(elevation)
    return np.array([-math.cos(el) * math.cos(az), -math.cos(el) * math.sin(az), math.sin(el)])


def basis(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, up, forward) of a camera looking along ``-direction`` with +Z up."""
    fwd = -direction / np.linalg.norm(direction)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    norm = np.linalg.norm(right)
    right = right / norm if norm > 1e-9 else np.array([1.0, 0.0, 0.0])
    up = np.cross(right, fwd)
    return right, up, fwd


def half_tangents(lens: float, width: int, height: int) -> tuple[float, float]:
    """tan of half the horizontal and vertical field of view (sensor fit 'AUTO')."""
    t = SENSOR / (2.0 * lens)
    if width >= height:
        return t, t * height / width
    return t * width / height, t


def frame_points(
    points: np.ndarray,
    azimuths: list[float],
    elevation: float,
    lens: float,
    width: int,
    height: int,
    margin: float,
) -> tuple[np.ndarray, float]:
    """Target and distance so all ``points`` fit the image at each azimuth.

    The target is recentred on the projected extent (not the bounding box), so a long
    network seen at an angle is centred in the picture rather than in space.
    """
    tx, ty = half_tangents(lens, width, height)
    return fit_tangents(points, azimuths, elevation, tx / margin, ty / margin)


def fit_tangents(points: np.ndarray, azimuths: list[float], elevation: float, tx: float,
                 ty: float) -> tuple[np.ndarray, float]:
    """``frame_points`` for a view of half-angle tangents ``tx`` x ``ty``."""
    target = (points.min(axis=0) + points.max(axis=0)) / 2
    distance = 0.0
    for _ in range(8):
        distance = 0.0
        views = []
        for az in azimuths:
            right, up, fwd = basis(offset_direction(az, elevation))
            rel = points - target
            x, y, z = rel @ right, rel @ up, rel @ fwd
            # a point at depth D + z is in view when |x| <= tx (D + z) and |y| <= ty (D + z)
            need = max(np.max(np.abs(x) / tx - z), np.max(np.abs(y) / ty - z))
            distance = max(distance, float(need))
            views.append((right, up, x, y, z))
        # recentre on the perspective-projected extent, averaged over the orbit
        shift = np.zeros(3)
        for right, up, x, y, z in views:
            depth = np.maximum(distance + z, 1e-6)
            sx, sy = x / depth, y / depth
            shift += ((sx.max() + sx.min()) / 2 * distance * right
                      + (sy.max() + sy.min()) / 2 * distance * up) / len(views)
        target = target + shift
        if np.linalg.norm(shift) < 1e-3 * max(distance, 1e-6):
            break
    near = float(np.linalg.norm(points - target, axis=1).max())
    return target, max(distance, 0.1 * near + 1e-3)


def clear_of(box: tuple[float, float, float, float], points: np.ndarray, target: np.ndarray,
             distance: float, ortho: float, azimuths: list[float], elevation: float,
             lens: float, width: int, height: int, most: float = 1.6) -> tuple[float, float]:
    """(distance, ortho scale) backed off until no point projects into ``box`` (x0, y0, x1,
    y1 in -1..1 frame coordinates: where an inset sits) at any azimuth, so the network is
    not drawn under it; ``most`` times the framing at the furthest."""
    tx, ty = half_tangents(lens, width, height)
    aspect = width / height
    rel = points - target
    x0, y0, x1, y1 = box
    k = 1.0
    for k in np.linspace(1.0, most, 16):
        hit = False
        for az in azimuths:
            right, up, fwd = basis(offset_direction(az, elevation))
            x, y = rel @ right, rel @ up
            if ortho:  # ortho_scale spans the larger side
                half_x = ortho * k / 2 * (1.0 if aspect >= 1 else aspect)
                sx, sy = x / half_x, y / (half_x / aspect)
            else:
                depth = np.maximum(distance * k + rel @ fwd, 1e-6)
                sx, sy = x / (depth * tx), y / (depth * ty)
            if np.any((sx > x0) & (sx < x1) & (sy > y0) & (sy < y1)):
                hit = True
                break
        if not hit:
            break
    return distance * (1.0 if ortho else float(k)), ortho * float(k)


def fit_clear_of(box: tuple[float, float, float, float], points: np.ndarray,
                 azimuths: list[float], elevation: float, lens: float, width: int,
                 height: int, margin: float) -> tuple[np.ndarray, float]:
    """Target and distance framing ``points`` without drawing them under ``box`` (-1..1
    frame coordinates; an inset in a corner): the closest of the whole frame backed off
    (``clear_of``) and the part of the frame beside or below the box, reached by moving
    the target so the picture's centre sits off the box."""
    tx, ty = half_tangents(lens, width, height)
    tx, ty = tx / margin, ty / margin
    x0, y0, x1, y1 = box
    parts = [(-1.0, -1.0, 1.0, y0) if y1 >= 0 else (-1.0, y1, 1.0, 1.0),
             (x1, -1.0, 1.0, 1.0) if x0 <= 0 else (-1.0, -1.0, x0, 1.0)]
    target, distance = fit_tangents(points, azimuths, elevation, tx, ty)
    best = (clear_of(box, points, target, distance, 0.0, azimuths, elevation, lens, width,
                     height)[0], target)
    right, up, _ = basis(offset_direction(azimuths[len(azimuths) // 2], elevation))
    for a0, b0, a1, b1 in parts:
        hx, hy = (a1 - a0) / 2, (b1 - b0) / 2
        if hx < 0.3 or hy < 0.3:  # too thin a strip to hold a network
            continue
        t, d = fit_tangents(points, azimuths, elevation, tx * hx, ty * hy)
        # the picture's centre moved to the middle of the part: the target goes the other way
        t = t - (a0 + a1) / 2 * d * tx * right - (b0 + b1) / 2 * d * ty * up
        d = clear_of(box, points, t, d, 0.0, azimuths, elevation, lens, width, height)[0]
        if d < best[0]:
            best = (d, t)
    return best[1], best[0]


@dataclass
class View:
    """A camera as the plan describes it, to measure things in pixels (label overlaps)
    without Blender. Perspective like ``frame_points``; orthographic when ``ortho_scale`` is
    set (the world size of the larger image side, Blender's convention)."""

    target: tuple[float, float, float] | np.ndarray
    distance: float
    azimuth: float
    elevation: float
    lens: float
    width: int
    height: int
    ortho_scale: float | None = None

    @property
    def position(self) -> np.ndarray:
        return (np.asarray(self.target, dtype=np.float64)
                + self.distance * offset_direction(self.azimuth, self.elevation))

    def pixels_per_unit(self, depth: np.ndarray | float) -> np.ndarray | float:
        """Screen pixels per world unit of something facing the camera at ``depth``."""
        if self.ortho_scale is not None:
            return max(self.width, self.height) / self.ortho_scale
        tx, _ = half_tangents(self.lens, self.width, self.height)
        return self.width / 2 / (tx * np.maximum(depth, 1e-9))

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(px, py, depth) per point: pixels from the image centre (y up) and the distance in
        front of the camera along its view axis."""
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        right, up, fwd = basis(offset_direction(self.azimuth, self.elevation))
        rel = pts - self.position
        x, y, depth = rel @ right, rel @ up, rel @ fwd
        if self.ortho_scale is not None:
            k = max(self.width, self.height) / self.ortho_scale
            return x * k, y * k, depth
        tx, ty = half_tangents(self.lens, self.width, self.height)
        d = np.maximum(depth, 1e-9)
        return x / d / tx * (self.width / 2), y / d / ty * (self.height / 2), depth


def frame_points_ortho(
    points: np.ndarray,
    azimuths: list[float],
    elevation: float,
    width: int,
    height: int,
    margin: float,
) -> tuple[np.ndarray, float]:
    """Target and orthographic scale so all ``points`` fit the image at each azimuth (the
    flat look of a paper figure). The target is centred on the projected extent."""
    pts = np.asarray(points, dtype=np.float64)
    target = (pts.min(axis=0) + pts.max(axis=0)) / 2
    bases = [basis(offset_direction(az, elevation))[:2] for az in azimuths]
    for _ in range(4):
        shift = np.zeros(3)
        for right, up in bases:
            rel = pts - target
            x, y = rel @ right, rel @ up
            shift += ((x.max() + x.min()) / 2 * right + (y.max() + y.min()) / 2 * up) / len(bases)
        target = target + shift
        if np.linalg.norm(shift) < 1e-9:
            break
    big = max(width, height)
    scale = 0.0
    for right, up in bases:
        rel = pts - target
        x, y = np.abs(rel @ right).max(), np.abs(rel @ up).max()
        scale = max(scale, 2 * x * big / width, 2 * y * big / height)
    return target, max(scale * margin, 1e-6)
