"""Skip connections and branches as arcs routed around the main path, never through a layer.

A skip within a lane leaves the top of its source block (the bottom below the axis), runs
at a height that clears every block it passes and comes down onto its target. A link into
or out of a side lane runs like a circuit diagram's connector: along its lane, through the
free gap between two columns, into the other lane. Corners are rounded with a fixed radius,
so the arc hugs its route; a route that would cut a block is not used.
"""

from __future__ import annotations

import numpy as np

from nnrender.layout.network import LayerBlock

CORNERS = 6  # points per rounded corner
Bounds = list[tuple[np.ndarray, np.ndarray]]  # (lo, hi) per block


def link_pairs(blocks: list[LayerBlock], graph: list[tuple[int, int]],
               drawn: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """The graph edges worth an arc: those that skip columns or change lanes, within one
    row, and not already drawn as weight edges. Neighbours on one lane need no arc."""
    out = []
    for p, c in graph:
        a, b = blocks[p], blocks[c]
        if (p, c) in drawn or a.row != b.row:
            continue
        if a.lane == b.lane and abs(b.column - a.column) <= 1:
            continue
        out.append((p, c))
    return out


def _rounded(points: np.ndarray, radius: float, samples: int) -> np.ndarray:
    """The polyline with every interior corner replaced by a quadratic arc of ``radius``
    (at most half of either leg), resampled to ``samples`` points evenly by length."""
    path = [points[0]]
    for i in range(1, len(points) - 1):
        prev, here, nxt = points[i - 1], points[i], points[i + 1]
        a, b = np.linalg.norm(here - prev), np.linalg.norm(nxt - here)
        r = min(radius, a / 2, b / 2)
        if r <= 1e-9:
            path.append(here)
            continue
        p0 = here + (prev - here) * (r / a)
        p2 = here + (nxt - here) * (r / b)
        t = np.linspace(0.0, 1.0, CORNERS)[:, None]
        path.extend((1 - t) ** 2 * p0 + 2 * (1 - t) * t * here + t**2 * p2)
    path.append(points[-1])
    path = np.asarray(path, dtype=np.float64)
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    length = np.concatenate([[0.0], np.cumsum(seg)])
    if length[-1] <= 0:
        return np.repeat(path[:1], samples, axis=0)
    at = np.linspace(0.0, length[-1], samples)
    out = np.stack([np.interp(at, length, path[:, k]) for k in range(3)], axis=1)
    out[0], out[-1] = path[0], path[-1]
    return out


def _gap(blocks: list[LayerBlock], bounds: Bounds, row: int, column: int) -> float | None:
    """X in the middle of the free gap between ``column`` and the next one on a row."""
    left = [hi[0] for blk, (_, hi) in zip(blocks, bounds, strict=True)
            if blk.row == row and blk.column == column]
    right = [lo[0] for blk, (lo, _) in zip(blocks, bounds, strict=True)
             if blk.row == row and blk.column == column + 1]
    if not left or not right:
        return None
    return (max(left) + min(right)) / 2


def link_curve(blocks: list[LayerBlock], p: int, c: int, margin: float,
               samples: int, bounds: Bounds | None = None) -> np.ndarray:
    """(samples, 3) points of the arc from block ``p`` to block ``c``.

    Between lanes (a branch leaving or joining): out of the source's side, along its lane,
    through the free gap between two columns (the one after the source or before the
    target) and into the target's side, like a circuit diagram's connector. Within a lane
    (a skip), or where no such route is free: over (under) every block on the way."""
    if bounds is None:
        bounds = [blk.bounds() for blk in blocks]
    a, b = blocks[p], blocks[c]
    (alo, ahi), (blo, bhi) = bounds[p], bounds[c]
    if a.lane != b.lane:
        az, bz = (alo[2] + ahi[2]) / 2, (blo[2] + bhi[2]) / 2
        for xg in (_gap(blocks, bounds, a.row, a.column),
                   _gap(blocks, bounds, b.row, b.column - 1)):
            if xg is None or not ahi[0] < xg < blo[0]:
                continue
            pts = np.array([[ahi[0], 0.0, az], [xg, 0.0, az], [xg, 0.0, bz],
                            [blo[0], 0.0, bz]])
            curve = _rounded(pts, margin, samples)
            if not _hits(curve, bounds, (p, c)):
                return curve
    ax, bx = (alo[0] + ahi[0]) / 2, (blo[0] + bhi[0]) / 2
    x0, x1 = min(ax, bx), max(ax, bx)
    span = [(lo, hi) for blk, (lo, hi) in zip(blocks, bounds, strict=True)
            if blk.row == a.row and hi[0] >= x0 and lo[0] <= x1]
    if max(a.lane, b.lane) >= 0:
        clear = max(hi[2] for _, hi in span) + margin
        start, end = ahi[2], bhi[2]
    else:
        clear = min(lo[2] for lo, _ in span) - margin
        start, end = alo[2], blo[2]
    pts = np.array([[ax, 0.0, start], [ax, 0.0, clear], [bx, 0.0, clear], [bx, 0.0, end]])
    return _rounded(pts, margin, samples)


def _hits(curve: np.ndarray, bounds: Bounds, ends: tuple[int, int]) -> bool:
    """Whether any interior point of the curve lies inside a block other than its ends'."""
    inner = curve[1:-1]
    for i, (lo, hi) in enumerate(bounds):
        if i in ends:
            continue
        if np.any(np.all((inner > lo) & (inner < hi), axis=1)):
            return True
    return False
