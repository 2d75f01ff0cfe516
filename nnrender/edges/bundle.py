"""Edge bundling for one layer-to-layer group of edges, in numpy only.

Two passes. ``hierarchical`` is the fast one (Holten's hierarchical edge bundling adapted
to a bipartite group): each side's distinct endpoints get a k-d tree built by median splits
in the plane across the group's main direction ``d``, and each edge runs as a clamped cubic
B-spline through its source's cluster centroids (fine to coarse), a middle point, and its
destination's clusters (coarse to fine). The coarsest level keeps 4 clusters a side, so the
gap shows a handful of thick bundles rather than one knot. Every control point takes its
along-``d`` coordinate from the straight edge, so curves move monotonically from wall to
wall. Since the spline is linear in its control points, the part that depends on one
endpoint is computed once per distinct endpoint. Each edge then costs two row gathers and
one rank-2 product.

``refine_kde`` is an optional KDEEB-style pass (Hurter et al. 2012, the idea behind
datashader's ``hammer_bundle``): it splats the curve points into a density grid, blurs it,
moves the points up the density gradient, smooths each curve, and repeats with a smaller
kernel.

Both passes are deterministic: no random numbers, and only order-fixed reductions
(``bincount``, cumulative sums, small matrix products).
"""

from __future__ import annotations

import numpy as np

SAMPLES = 16  # default points per curve

_TOP_LEVEL = 2  # k-d depth of the coarsest clusters: 2**2 = 4 bundles per side
_MAX_LEVELS = 4  # cluster levels used per side (control points between endpoint and middle)
_FINEST_GAP = 2  # the finest level used holds about 2**2 endpoints per cluster
_T_COARSE = 0.35  # curve parameter of the coarsest source cluster (1 - it for the target side)
_CHUNK = 131_072  # edges per chunk when assembling curves (bounds the temporaries)
_EPS = 1e-9
_SLABS = 24  # KDE grid cells along the group direction


# --------------------------------------------------------------------------- helpers


def _as_points(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must be (E, 3), got {arr.shape}")
    return arr


def _check(src: np.ndarray, dst: np.ndarray, samples: int) -> tuple[np.ndarray, np.ndarray]:
    s, d = _as_points(src, "src"), _as_points(dst, "dst")
    if s.shape != d.shape:
        raise ValueError(f"src {s.shape} and dst {d.shape} differ")
    if samples < 2:
        raise ValueError(f"samples must be >= 2, got {samples}")
    return s, d


def main_direction(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The group's unit direction: from the mean source to the mean destination.

    If the two means coincide (a layer wired to itself, or a symmetric group), it falls
    back to the principal axis of the per-edge directions, and to +X if every edge has
    zero length. One direction for the whole group is always enough for monotone curves:
    each edge keeps the along-``d`` progress of its own straight line, whichever way that
    runs.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if len(src) == 0:
        return np.array([1.0, 0.0, 0.0])
    both = np.concatenate([src, dst])
    scale = max(float(np.max(both.max(axis=0) - both.min(axis=0))), _EPS)
    v = dst.mean(axis=0) - src.mean(axis=0)
    n = float(np.linalg.norm(v))
    if n > 1e-6 * scale:
        return v / n
    diff = dst - src
    cov = diff.T @ diff
    if float(np.trace(cov)) <= (1e-6 * scale) ** 2 * len(diff):
        return np.array([1.0, 0.0, 0.0])
    w, vecs = np.linalg.eigh(cov)
    axis = vecs[:, int(np.argmax(w))]
    k = int(np.argmax(np.abs(axis)))  # deterministic sign: largest component positive
    return axis if axis[k] > 0 else -axis


def perpendicular_basis(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane across ``d`` (deterministic)."""
    d = np.asarray(d, dtype=np.float64)
    helper = np.zeros(3)
    helper[int(np.argmin(np.abs(d)))] = 1.0
    e1 = np.cross(d, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(d, e1)
    return e1, e2


def _distinct(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a float32 (E, 3) array and each row's index among them.

    It hashes the 96 bits of a row into 64 and sorts the hashes, which is about 15 times
    faster than ``np.unique(axis=0)`` at 1M rows. Every row is then checked against its
    representative, and a collision falls back to the exact method, so the result is exact.
    The order is a function of the coordinates alone, so shuffling the edges changes nothing.
    """
    pts = points + np.float32(0.0)  # -0.0 -> 0.0
    bits = np.ascontiguousarray(pts).view(np.uint32).astype(np.uint64)
    h = bits[:, 0] * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    h += bits[:, 1]
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(31)
    h += bits[:, 2]
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(32)
    _, inverse = np.unique(h, return_inverse=True)
    inverse = inverse.reshape(-1)
    uniq = np.empty((int(inverse.max()) + 1, 3), dtype=np.float32)
    uniq[inverse] = pts
    if not np.array_equal(uniq[inverse], pts):  # hash collision: be exact instead
        uniq, inverse = np.unique(pts, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
    return uniq, inverse


def _kd_levels(q: np.ndarray, levels: list[int]) -> dict[int, np.ndarray]:
    """Cluster ids of the points ``q`` (n, k) at the given depths of a median-split k-d tree.

    Every node of a depth is split at once: one lexsort orders the points by (node,
    coordinate along the node's widest axis), and the lower half of each node becomes
    its first child. Ties fall to the points' order, so the result is deterministic.
    """
    n = len(q)
    out: dict[int, np.ndarray] = {}
    if not levels:
        return out
    perm = np.arange(n)
    node = np.zeros(n, dtype=np.int64)  # compact node id of perm[i]; sorted
    rows = np.arange(n)
    for depth in range(1, max(levels) + 1):
        starts = np.flatnonzero(np.r_[True, node[1:] != node[:-1]])
        counts = np.diff(np.r_[starts, n])
        qs = q[perm]
        ext = np.maximum.reduceat(qs, starts, axis=0) - np.minimum.reduceat(qs, starts, axis=0)
        axis = np.argmax(ext, axis=1)
        key = qs[rows, axis[node]]
        order = np.lexsort((key, node))
        perm = perm[order]
        child = (rows - starts[node]) >= (counts // 2)[node]
        new = 2 * node + child
        node = np.cumsum(np.r_[0, new[1:] != new[:-1]])
        if depth in levels:
            ids = np.empty(n, dtype=np.int64)
            ids[perm] = node
            out[depth] = ids
    return out


def _levels_for(n: int) -> list[int]:
    """The k-d depths used as control points, coarse to fine, for n distinct endpoints."""
    if n <= 1:
        return []
    full = int(np.ceil(np.log2(n)))
    top = min(_TOP_LEVEL, full)
    finest = max(top, full - _FINEST_GAP)
    k = min(_MAX_LEVELS, finest - top + 1)
    return sorted({int(round(x)) for x in np.linspace(top, finest, k)})


def _side_tables(points: np.ndarray, d: np.ndarray, e1: np.ndarray, e2: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct endpoint: its own position across ``d`` followed by its clusters'
    centroids (fine to coarse), as (n, 1 + K, 3) float64; and the coarsest one (n, 3)."""
    p = points.astype(np.float64)
    perp = p - np.outer(p @ d, d)
    q = np.stack([p @ e1, p @ e2], axis=1)
    levels = _levels_for(len(p))
    ids = _kd_levels(q, levels)
    table = [perp]
    for depth in sorted(levels, reverse=True):  # fine to coarse
        lab = ids[depth]
        cnt = np.bincount(lab).astype(np.float64)
        cen = np.stack([np.bincount(lab, weights=perp[:, c]) for c in range(3)], axis=1)
        table.append((cen / cnt[:, None])[lab])
    stacked = np.stack(table, axis=1)
    return stacked, stacked[:, -1]


def bspline_basis(controls: int, samples: int, degree: int = 3) -> np.ndarray:
    """(samples, controls) basis of a clamped uniform B-spline at evenly spaced parameters.

    Clamped, so the first and last samples are exactly the first and last control points.
    """
    p = min(degree, controls - 1)
    inner = controls - p - 1
    knots = np.concatenate([np.zeros(p + 1), np.arange(1, inner + 1) / (inner + 1),
                            np.ones(p + 1)])
    u = np.linspace(0.0, 1.0, samples)
    nb = len(knots) - 1
    basis = np.zeros((samples, nb))
    for j in range(nb):
        basis[:, j] = (knots[j] <= u) & (u < knots[j + 1])
    basis[u >= 1.0, :] = 0.0
    basis[u >= 1.0, controls - 1] = 1.0
    for k in range(1, p + 1):
        for j in range(nb - k):
            left = knots[j + k] - knots[j]
            right = knots[j + k + 1] - knots[j + 1]
            a = (u - knots[j]) / left * basis[:, j] if left > 0 else 0.0
            b = (knots[j + k + 1] - u) / right * basis[:, j + 1] if right > 0 else 0.0
            basis[:, j] = a + b
    return basis[:, :controls]


# --------------------------------------------------------------------------- public API


def straight(src: np.ndarray, dst: np.ndarray, samples: int = SAMPLES) -> np.ndarray:
    """(E, samples, 3) float32 points evenly spaced on each segment, endpoints exact."""
    s, d = _check(src, dst, samples)
    t = np.linspace(0.0, 1.0, samples, dtype=np.float32)
    out = s[:, None, :] + t[None, :, None] * (d - s)[:, None, :]
    out[:, 0] = s
    out[:, -1] = d
    return out


def hierarchical(src: np.ndarray, dst: np.ndarray, samples: int = SAMPLES) -> np.ndarray:
    """(E, samples, 3) float32 curves bundled through the endpoints' cluster centroids.

    This is the fast pass: about 0.7M edges/s at 1M edges on 2 cores. The curve is linear
    in its control points, so everything that depends on one endpoint (its own cross-``d``
    position and its cluster centroids, weighted by the spline basis) is precomputed once
    per distinct endpoint. The along-``d`` part, ``a0 + tau(s) * (a1 - a0)``, is the same
    spline applied to the straight line's progress. An edge whose ends coincide stays a
    point.
    """
    s32, d32 = _check(src, dst, samples)
    e = len(s32)
    out = np.empty((e, samples, 3), dtype=np.float32)
    if e == 0:
        return out
    d = main_direction(s32, d32)
    e1, e2 = perpendicular_basis(d)
    us, inv_s = _distinct(s32)
    ud, inv_d = _distinct(d32)
    ts, top_s = _side_tables(us, d, e1, e2)
    td, top_d = _side_tables(ud, d, e1, e2)
    ks, kd = ts.shape[1] - 1, td.shape[1] - 1
    m = ks + kd + 3  # src, its clusters, middle, dst clusters, dst
    # curve parameter of each control point: clusters move into the gap, fine to coarse
    t_src = np.r_[0.0, _T_COARSE * np.arange(1, ks + 1) / max(ks, 1)]
    t_dst = np.r_[0.0, _T_COARSE * np.arange(1, kd + 1) / max(kd, 1)]
    t_ctrl = np.r_[t_src, 0.5, 1.0 - t_dst[::-1]]
    basis = bspline_basis(m, samples)  # (S, M)
    tau = basis @ t_ctrl  # along-d progress at each sample
    mid = basis[:, ks + 1]
    # per distinct endpoint: sum over its side's control points of basis * position,
    # plus half of the middle point (the mean of the two coarsest centroids)
    gs = np.matmul(basis[:, : ks + 1], ts)  # (n, S, 3)
    gs += 0.5 * mid[None, :, None] * top_s[:, None, :]
    gd = np.matmul(np.ascontiguousarray(basis[:, ks + 2:][:, ::-1]), td)
    gd += 0.5 * mid[None, :, None] * top_d[:, None, :]
    gs = gs.astype(np.float32).reshape(len(us), samples * 3)
    gd = gd.astype(np.float32).reshape(len(ud), samples * 3)
    d32v = d.astype(np.float32)
    # along d: a0 + tau * (a1 - a0), as one rank-2 product [a0, a1] @ [(1 - tau) d; tau d]
    ramp = np.stack([np.outer(1.0 - tau, d), np.outer(tau, d)]).astype(np.float32)
    ramp = ramp.reshape(2, samples * 3)
    ends = np.stack([s32 @ d32v, d32 @ d32v], axis=1)  # (E, 2): a0, a1
    flat = out.reshape(e, samples * 3)
    for i0 in range(0, e, _CHUNK):
        i1 = min(e, i0 + _CHUNK)
        chunk = flat[i0:i1]
        np.take(gs, inv_s[i0:i1], axis=0, out=chunk)
        chunk += np.take(gd, inv_d[i0:i1], axis=0)
        chunk += ends[i0:i1] @ ramp
    same = np.all(s32 == d32, axis=1)
    if same.any():
        out[same] = s32[same][:, None, :]
    out[:, 0] = s32
    out[:, -1] = d32
    return out


def _gauss(n: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(n, n) Gaussian kernel matrix over cell indices and its derivative (per cell)."""
    sigma = max(sigma, 1e-3)
    i = np.arange(n, dtype=np.float64)
    diff = i[:, None] - i[None, :]
    g = np.exp(-0.5 * (diff / sigma) ** 2)
    g[np.abs(diff) > 4.0 * sigma] = 0.0  # no subnormals: they slow matrix products 10x
    return g.astype(np.float32), (-diff / sigma**2 * g).astype(np.float32)


def _cell(x: np.ndarray, top: int) -> np.ndarray:
    """Cell index of a coordinate in cells, clamped to 0..top (truncation is floor for
    x >= 0, and anything below 0 lands in cell 0 either way)."""
    i = x.astype(np.int64)
    np.maximum(i, 0, out=i)
    return np.minimum(i, max(top, 0), out=i)


def _bilinear(ch: np.ndarray, r00: np.ndarray, r01: np.ndarray, r10: np.ndarray,
              r11: np.ndarray, fu: np.ndarray, fv: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of the flat grid ``ch`` between four corner cells."""
    c00, c01 = np.take(ch, r00), np.take(ch, r01)
    c10, c11 = np.take(ch, r10), np.take(ch, r11)
    c00 += (c01 - c00) * fv
    c10 += (c11 - c10) * fv
    c00 += (c10 - c00) * fu
    return c00


def _smooth_along(move: np.ndarray, passes: int) -> np.ndarray:
    """[1/4, 1/2, 1/4] passes along axis 1, with zero displacement beyond both ends."""
    for _ in range(passes):
        nxt = move * np.float32(0.5)
        quarter = move * np.float32(0.25)
        nxt[:, 1:] += quarter[:, :-1]
        nxt[:, :-1] += quarter[:, 1:]
        move = nxt
    return move


def refine_kde(points: np.ndarray, *, iterations: int = 4, resolution: int = 64,
               bandwidth: float = 0.05, decay: float = 0.7, steps: int = 2,
               smooth: int = 1) -> np.ndarray:
    """KDE edge bundling (KDEEB) of (E, S, 3) curves; first and last points stay exact.

    The density grid is 3D, in the group's frame (``d`` and the two axes across it): a 2D
    projection would merge bundles that lie at different depths of a layer wall. It has
    ``resolution`` cells along the wider spread across ``d``, and at most 24 slabs along
    ``d``, where nothing moves. Points are splatted into their nearest cell, and the grid
    is blurred with separable Gaussian matrix products, whose derivative gives the
    gradient exactly. Each interior point then takes ``steps`` mean-shift steps,
    ``sigma**2 * grad(rho) / rho``, capped at ``sigma``. Only the two cross-``d``
    components move, scaled by ``sin(pi * t)`` along the curve, so curves still go
    monotonically from wall to wall and stay put near their endpoints; curves whose ends
    coincide do not move at all. Each step's displacement, rather than the positions, is
    smoothed along the curve (``smooth`` passes), so the curves stay smooth without being
    pulled straight out of their bundles. ``bandwidth`` is the kernel's sigma as a
    fraction of the wider spread across ``d``; it shrinks by ``decay`` every iteration.
    """
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 3 or pts.shape[2] != 3:
        raise ValueError(f"points must be (E, S, 3), got {pts.shape}")
    e, s, _ = pts.shape
    if e == 0 or s <= 2:
        return pts.copy()
    d = main_direction(pts[:, 0], pts[:, -1])
    e1, e2 = perpendicular_basis(d)
    rot = np.stack([d, e1, e2]).astype(np.float32)  # rows: frame axes
    flat = pts.reshape(-1, 3)
    qa, qu, qv = ((flat @ axis).reshape(e, s) for axis in rot)  # planar frame coordinates
    lo = np.array([c.min() for c in (qa, qu, qv)], dtype=np.float32)
    ext = np.array([c.max() for c in (qa, qu, qv)], dtype=np.float32) - lo
    size = float(ext[1:].max())  # the spread across d sets the cells and the kernel
    if size <= 0.0:
        return pts.copy()
    h = size / resolution
    inv_h = np.float32(1.0 / h)
    nu, nv = (int(x) for x in np.minimum((ext[1:] / h).astype(np.int64) + 1, resolution + 1))
    # along d only slabs are needed (points never move along d): coarser cells there
    h_a = max(h, float(ext[0]) / _SLABS)
    na = min(int(ext[0] / h_a) + 1, _SLABS + 1)
    # the interior points, measured from the grid corner; only pu and pv ever move
    ia = np.clip(((qa[:, 1:-1] - lo[0]) / np.float32(h_a)).astype(np.int64), 0, na - 1)
    base = (ia * (nu * nv)).reshape(-1)
    pu = qu[:, 1:-1] - lo[1]  # (E, S-2), contiguous
    pv = qv[:, 1:-1] - lo[2]
    w = np.sin(np.pi * np.arange(1, s - 1) / (s - 1)).astype(np.float32)[None, :]
    w = w * np.any(pts[:, 0] != pts[:, -1], axis=1, keepdims=True)  # points stay points
    for it in range(iterations):
        sigma_c = bandwidth * resolution * decay**it  # kernel sigma in cells
        cu = _cell((pu * inv_h).reshape(-1), nu - 1)
        cv = _cell((pv * inv_h).reshape(-1), nv - 1)
        hist = np.bincount(base + cu * nv + cv, minlength=na * nu * nv).astype(np.float32)
        ga, _ = _gauss(na, sigma_c * h / h_a)
        gu, du = _gauss(nu, sigma_c)
        gv, dv = _gauss(nv, sigma_c)
        t = (ga @ hist.reshape(na, -1)).reshape(na, nu, nv)
        # cross-d axes: rho = gu.t.gv, drho/du = du.t.gv, drho/dv = gu.t.dv; the mean
        # shift sigma^2 grad(rho) / rho (capped at sigma) is computed per cell, and then
        # interpolated at the points
        x = np.matmul(gu, t).reshape(-1, nv)
        y = np.matmul(du, t).reshape(-1, nv)
        rho = (x @ gv.T).reshape(-1)
        k = np.float32(sigma_c**2 * h) / np.maximum(rho, np.float32(1e-20))
        shift_u = (y @ gv.T).reshape(-1) * k
        shift_v = (x @ dv.T).reshape(-1) * k
        n2 = shift_u * shift_u + shift_v * shift_v
        cap2 = np.float32((sigma_c * h) ** 2)
        over = n2 > cap2
        k = np.sqrt(cap2 / n2[over])
        shift_u[over] *= k
        shift_v[over] *= k
        for _ in range(steps):
            fu = (pu * inv_h - np.float32(0.5)).reshape(-1)
            fv = (pv * inv_h - np.float32(0.5)).reshape(-1)
            iu = _cell(fu, nu - 2)
            iv = _cell(fv, nv - 2)
            fu -= iu
            fv -= iv
            np.minimum(np.maximum(fu, 0.0, out=fu), 1.0, out=fu)
            np.minimum(np.maximum(fv, 0.0, out=fv), 1.0, out=fv)
            r00 = base + iu * nv + iv
            r01 = r00 + (1 if nv > 1 else 0)
            r10 = r00 + (nv if nu > 1 else 0)
            r11 = r10 + (1 if nv > 1 else 0)
            mu, mv = (_bilinear(ch, r00, r01, r10, r11, fu, fv) for ch in (shift_u, shift_v))
            pu += _smooth_along(mu.reshape(e, s - 2) * w, smooth)
            pv += _smooth_along(mv.reshape(e, s - 2) * w, smooth)
    # add only the cross-d displacement: unmoved coordinates stay bitwise as they came
    pu -= qu[:, 1:-1] - lo[1]
    pv -= qv[:, 1:-1] - lo[2]
    out = pts.copy()
    out[:, 1:-1] += np.stack([pu, pv], axis=-1) @ rot[1:]
    return out


def bundle(src: np.ndarray, dst: np.ndarray, *, samples: int = SAMPLES, refine: bool = False,
           seed: int = 0) -> np.ndarray:
    """(E, samples, 3) float32 fully bundled curves (strength 1); first/last point == src/dst
    exactly (bitwise equal to straight()'s first/last point). Deterministic: same input, same
    output. ``seed`` is accepted for API stability; neither pass draws random numbers."""
    del seed
    curves = hierarchical(src, dst, samples)
    if refine and len(curves) > 1:
        curves = refine_kde(curves)
    return curves
