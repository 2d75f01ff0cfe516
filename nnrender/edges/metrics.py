"""How bundled a set of curves is, as numbers the tests and the benchmark can compare.

Curves are (E, S, D) arrays with D = 3 (our output) or D = 2 (a projection, or datashader's
output converted by ``paths_to_array``). Two figures: ``ink``, the share of raster cells the
curves touch (bundling draws the same edges with less ink), and
``mean_neighbour_distance``, how far each curve runs from its nearest other curve (bundling
puts curves on top of each other). Both are vectorised and handle 100k curves in about a
second.
"""

from __future__ import annotations

import numpy as np

_RASTER_SAMPLES = 4_000_000  # polyline samples per rasterisation chunk (bounds memory)


def _points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[2] not in (2, 3):
        raise ValueError(f"points must be (E, S, 2) or (E, S, 3), got {pts.shape}")
    return pts


def _project(points: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
    """(E, S, 2): 2D points pass through and 3D points keep the two ``axes``."""
    pts = _points(points)
    return pts if pts.shape[2] == 2 else pts[..., list(axes)]


def bounds_of(*point_sets: np.ndarray, axes: tuple[int, int] = (0, 2)
              ) -> tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax) over the projections of several curve sets, so that
    several sets can be rasterised onto the same grid."""
    lo = np.array([np.inf, np.inf])
    hi = -lo
    for p in point_sets:
        q = _project(p, axes).reshape(-1, 2)
        if len(q):
            lo = np.minimum(lo, q.min(axis=0))
            hi = np.maximum(hi, q.max(axis=0))
    if not np.all(np.isfinite(lo)):
        return (0.0, 1.0, 0.0, 1.0)
    return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


def rasterize(points: np.ndarray, resolution: int = 512, axes: tuple[int, int] = (0, 2), *,
              bounds: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """(H, W) int64 count of polyline samples per cell, with ``resolution`` cells on the
    longer side of ``bounds`` (default: the points' own bounding box).

    Each segment gets one sample per cell along its major axis (DDA), so a polyline
    touches an 8-connected run of cells. The count is the density the benchmark draws.
    """
    q = _project(points, axes)
    x0, x1, y0, y1 = bounds if bounds is not None else bounds_of(q)
    span = max(x1 - x0, y1 - y0, 1e-12)
    scale = resolution / span
    w = max(1, int(np.ceil((x1 - x0) * scale)))
    hgt = max(1, int(np.ceil((y1 - y0) * scale)))
    counts = np.zeros(w * hgt, dtype=np.int64)
    e, s, _ = q.shape
    if e == 0:
        return counts.reshape(hgt, w)
    cell = (q - [x0, y0]) * scale  # cell coordinates

    def splat(p: np.ndarray) -> None:  # + 1e-9: a sample on a cell border is in the next
        ix = np.clip(np.floor(p[:, 0] + 1e-9).astype(np.int64), 0, w - 1)
        iy = np.clip(np.floor(p[:, 1] + 1e-9).astype(np.int64), 0, hgt - 1)
        counts[:] += np.bincount(iy * w + ix, minlength=w * hgt)

    splat(cell[:, -1])  # last point of every curve; segments cover [start, end)
    if s < 2:
        splat(cell[:, 0])
        return counts.reshape(hgt, w)
    per_curve = float(np.abs(np.diff(cell, axis=1)).max(axis=2).sum(axis=1).mean()) + s
    step = max(1, int(_RASTER_SAMPLES / per_curve))
    for i0 in range(0, e, step):
        c = cell[i0:i0 + step]
        p0 = c[:, :-1].reshape(-1, 2)
        dp = (c[:, 1:] - c[:, :-1]).reshape(-1, 2)
        n = np.maximum(np.ceil(np.abs(dp).max(axis=1)), 1).astype(np.int64)
        seg = np.repeat(np.arange(len(n)), n)
        k = np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)
        f = (k / n[seg])[:, None]
        splat(p0[seg] + f * dp[seg])
    return counts.reshape(hgt, w)


def ink(points: np.ndarray, resolution: int = 512, axes: tuple[int, int] = (0, 2), *,
        bounds: tuple[float, float, float, float] | None = None) -> float:
    """Share of raster cells touched by the curves drawn as polylines (2D projection on `axes`
    of the combined bounding box of all points, `resolution` cells on the longer side):
    less ink = more bundled. ``axes`` is ignored for 2D points. Pass the same ``bounds``
    (``bounds_of``) to compare sets whose boxes differ."""
    counts = rasterize(points, resolution, axes, bounds=bounds)
    return float(np.count_nonzero(counts)) / counts.size


def resample(points: np.ndarray, samples: int) -> np.ndarray:
    """(E, samples, D) points evenly spaced by arc length along each polyline, so that
    curves sampled differently (ours, datashader's) compare point by point."""
    pts = _points(points)
    e, s, dim = pts.shape
    if e == 0 or s == 1:
        return np.repeat(pts[:, :1], samples, axis=1)
    seg = np.sqrt((np.diff(pts, axis=1) ** 2).sum(axis=2))  # (E, S-1)
    cum = np.concatenate([np.zeros((e, 1)), np.cumsum(seg, axis=1)], axis=1)
    total = cum[:, -1:]
    uniform = np.broadcast_to(np.linspace(0.0, 1.0, s), (e, s))
    cn = np.where(total > 0, cum / np.where(total > 0, total, 1.0), uniform)
    u = np.linspace(0.0, 1.0, samples)
    idx = (cn[:, None, :] <= u[None, :, None]).sum(axis=2) - 1
    idx = np.clip(idx, 0, s - 2)
    rows = np.arange(e)[:, None]
    c0 = cn[rows, idx]
    c1 = cn[rows, idx + 1]
    gap = c1 - c0
    f = np.where(gap > 0, (u[None, :] - c0) / np.where(gap > 0, gap, 1.0), 0.0)
    f = np.clip(f, 0.0, 1.0)[..., None]
    return pts[rows, idx] + f * (pts[rows, idx + 1] - pts[rows, idx])


def mean_neighbour_distance(points: np.ndarray, sample: int = 2000, seed: int = 0, *,
                            resample_to: int = 16) -> float:
    """Mean over (a sample of) curves of the distance to the nearest OTHER curve (mean
    point-wise distance between the curves' resampled points, excluding the endpoints).

    Each curve is resampled by arc length to ``resample_to`` + 2 points, and the two
    endpoints are dropped. The distance between two curves is the root mean square of
    their point-wise distances. That ranks like the plain mean (and is never below it),
    and it lets one matrix product compare ``sample`` query curves against all E. 0.0
    for fewer than 2 curves.
    """
    pts = _points(points)
    e = pts.shape[0]
    if e < 2:
        return 0.0
    r = resample(pts, resample_to + 2)[:, 1:-1]
    flat = r.reshape(e, -1)
    flat = flat - flat.mean(axis=0)
    sq = (flat * flat).sum(axis=1)
    if sample >= e:
        query = np.arange(e)
    else:
        query = np.sort(np.random.default_rng(seed).choice(e, size=sample, replace=False))
    best = np.empty(len(query))
    step = max(1, 20_000_000 // max(e, 1))
    for i0 in range(0, len(query), step):
        qi = query[i0:i0 + step]
        d2 = sq[qi, None] + sq[None, :] - 2.0 * (flat[qi] @ flat.T)
        d2[np.arange(len(qi)), qi] = np.inf
        best[i0:i0 + step] = d2.min(axis=1)
    return float(np.sqrt(np.maximum(best, 0.0) / resample_to).mean())


def paths_to_array(x: np.ndarray, y: np.ndarray, samples: int = 16) -> np.ndarray:
    """(P, samples, 2) from NaN-separated path columns (datashader's ``hammer_bundle``
    output), each path resampled by arc length to ``samples`` points."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    gap = np.isnan(x) | np.isnan(y)
    path = np.cumsum(gap)  # path index of each row (NaN rows belong to the next path)
    keep = ~gap
    pid = path[keep]
    xy = np.stack([x[keep], y[keep]], axis=1)
    if len(xy) == 0:
        return np.zeros((0, samples, 2))
    _, pid = np.unique(pid, return_inverse=True)
    pid = pid.reshape(-1)
    count = np.bincount(pid)
    start = np.cumsum(count) - count
    pos = np.arange(len(pid)) - start[pid]
    width = int(count.max())
    # pad each path to the longest by repeating its last point (zero-length segments)
    padded = np.empty((len(count), width, 2))
    padded[:] = xy[(start + count - 1)][:, None, :]
    padded[pid, pos] = xy
    return resample(padded, samples)
