"""Automatic framing: a camera that keeps every given point in view over its whole orbit."""

from __future__ import annotations

import math

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
    tx, ty = tx / margin, ty / margin
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
