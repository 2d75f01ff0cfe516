"""Edge bundling (nnrender.edges.bundle) and its metrics: exact endpoints, determinism,
monotone progress between the walls, degenerate groups, and a measured bundling effect."""

from __future__ import annotations

import numpy as np
import pytest

from nnrender.edges import bundle as nb
from nnrender.edges import metrics


def grid_case() -> tuple[np.ndarray, np.ndarray]:
    """64 sources on an 8x8 grid on the x=0 wall, 10 targets in a column at x=4: all pairs."""
    a = np.linspace(-1.0, 1.0, 8)
    yy, zz = np.meshgrid(a, a)
    sp = np.stack([np.zeros(64), yy.ravel(), zz.ravel()], axis=1)
    dp = np.stack([np.full(10, 4.0), np.zeros(10), np.linspace(-1.0, 1.0, 10)], axis=1)
    si, di = np.meshgrid(np.arange(64), np.arange(10), indexing="ij")
    return sp[si.ravel()], dp[di.ravel()]


def mnist_case(n: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """784 inputs (28x28 wall) -> 81 outputs (9x9 wall at x=5), a random subset of pairs."""
    rng = np.random.default_rng(1)
    g = np.stack(np.meshgrid(np.linspace(-2, 2, 28), np.linspace(-2, 2, 28)), -1)
    sp = np.c_[np.zeros(784), g.reshape(-1, 2)]
    g2 = np.stack(np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)), -1)
    dp = np.c_[np.full(81, 5.0), g2.reshape(-1, 2)]
    pairs = rng.choice(784 * 81, n, replace=False)
    return sp[pairs // 81], dp[pairs % 81]


def wrapped_case() -> tuple[np.ndarray, np.ndarray]:
    """A row wrap: the target wall sits below and behind the source, not further along +X."""
    rng = np.random.default_rng(2)
    sp = np.c_[np.full(50, 10.0), rng.uniform(-1, 1, (50, 2))]
    dp = np.c_[np.full(30, 0.0), rng.uniform(-1, 1, (30, 2)) + [-6.0, 0.0]]
    return sp[rng.integers(0, 50, 400)], dp[rng.integers(0, 30, 400)]


CASES = {"grid": grid_case, "mnist": mnist_case, "wrapped": wrapped_case}


@pytest.fixture(scope="module")
def curves() -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for name in ("grid", "mnist"):
        src, dst = CASES[name]()
        hier = nb.hierarchical(src, dst)
        out[name] = {"straight": nb.straight(src, dst), "hier": hier,
                     "refine": nb.refine_kde(hier)}
    return out


# --------------------------------------------------------------------------- straight


def test_straight_is_linear_with_exact_endpoints():
    src, dst = grid_case()
    st = nb.straight(src, dst, samples=7)
    assert st.shape == (640, 7, 3) and st.dtype == np.float32
    t = np.linspace(0.0, 1.0, 7)[None, :, None]
    np.testing.assert_allclose(st, src[:, None] + t * (dst - src)[:, None], atol=1e-6)
    assert np.array_equal(st[:, 0], src.astype(np.float32))
    assert np.array_equal(st[:, -1], dst.astype(np.float32))
    steps = np.diff(st, axis=1)
    np.testing.assert_allclose(steps, np.broadcast_to(steps[:, :1], steps.shape), atol=1e-6)


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("refine", [False, True])
def test_shape_dtype_endpoints_bitwise(case, refine):
    src, dst = CASES[case]()
    st = nb.straight(src, dst)
    out = nb.bundle(src, dst, refine=refine)
    assert out.shape == (len(src), nb.SAMPLES, 3) and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert np.array_equal(out[:, 0], st[:, 0])
    assert np.array_equal(out[:, -1], st[:, -1])


@pytest.mark.parametrize("refine", [False, True])
def test_deterministic(refine):
    src, dst = mnist_case(2000)
    a = nb.bundle(src, dst, refine=refine)
    b = nb.bundle(src.copy(), dst.copy(), refine=refine)
    assert np.array_equal(a, b)


def test_edge_order_does_not_matter():
    """Clusters come from the distinct endpoints' coordinates, not from the edge order."""
    src, dst = mnist_case(2000)
    perm = np.random.default_rng(5).permutation(len(src))
    a = nb.hierarchical(src, dst)
    b = nb.hierarchical(src[perm], dst[perm])
    np.testing.assert_allclose(b, a[perm], atol=1e-5)  # main direction's sum order only


def test_samples_argument():
    src, dst = grid_case()
    assert nb.bundle(src, dst, samples=2).shape == (640, 2, 3)
    out = nb.bundle(src, dst, samples=33, refine=True)
    assert out.shape == (640, 33, 3)
    assert np.array_equal(out[:, 0], src.astype(np.float32))
    with pytest.raises(ValueError):
        nb.bundle(src, dst, samples=1)
    with pytest.raises(ValueError):
        nb.bundle(src, dst[:-1])


# --------------------------------------------------------------------------- shape of curves


@pytest.mark.parametrize("case", list(CASES))
def test_monotone_along_main_direction(case):
    """Each curve progresses along d like its straight line: no back-tracking."""
    src, dst = CASES[case]()
    d = nb.main_direction(src, dst)
    for out in (nb.hierarchical(src, dst), nb.bundle(src, dst, refine=True)):
        along = out.astype(np.float64) @ d
        sign = np.sign(along[:, -1] - along[:, 0])[:, None]
        assert (np.diff(along, axis=1) * sign).min() >= -1e-5


def test_wrapped_direction_is_not_x():
    src, dst = wrapped_case()
    d = nb.main_direction(src, dst)
    assert d[0] < -0.8 and d[1] < -0.4  # towards -X and down: the next row of layers


def test_bundles_stay_distinct():
    """The coarsest level keeps several clusters a side: the gap holds a few bundles."""
    src, dst = grid_case()
    mid = nb.hierarchical(src, dst)[:, nb.SAMPLES // 2]
    distinct = np.unique(np.round(mid[:, 1:], 3), axis=0)
    assert 4 <= len(distinct) <= 64


# --------------------------------------------------------------------------- bundling effect


# Measured (ink at 512 cells on x-z; neighbour distance over 2000 sampled curves), as a
# ratio to the straight edges:
#   grid  (640 edges):  hierarchical ink 0.199, dist 0.337;  + refine ink 0.162, dist 0.261
#   mnist (5000 edges): hierarchical ink 0.218, dist 0.419;  + refine ink 0.226, dist 0.360
@pytest.mark.parametrize("case, ink_max, dist_max", [("grid", 0.30, 0.45),
                                                     ("mnist", 0.30, 0.55)])
def test_bundling_reduces_ink_and_neighbour_distance(curves, case, ink_max, dist_max):
    c = curves[case]
    ink0 = metrics.ink(c["straight"])
    dist0 = metrics.mean_neighbour_distance(c["straight"])
    assert metrics.ink(c["hier"]) <= ink_max * ink0
    assert metrics.mean_neighbour_distance(c["hier"]) <= dist_max * dist0
    assert metrics.ink(c["refine"]) <= ink_max * ink0


@pytest.mark.parametrize("case", ["grid", "mnist"])
def test_refine_tightens_bundles(curves, case):
    c = curves[case]
    hier = metrics.mean_neighbour_distance(c["hier"])
    assert metrics.mean_neighbour_distance(c["refine"]) <= 0.95 * hier  # measured 0.78, 0.86


# --------------------------------------------------------------------------- degenerate groups


@pytest.mark.parametrize("refine", [False, True])
def test_empty_and_single_edge(refine):
    empty = nb.bundle(np.zeros((0, 3)), np.zeros((0, 3)), refine=refine)
    assert empty.shape == (0, nb.SAMPLES, 3) and empty.dtype == np.float32
    src, dst = np.array([[0.0, 1.0, 2.0]]), np.array([[3.0, -1.0, 0.5]])
    one = nb.bundle(src, dst, refine=refine)
    assert one.shape == (1, nb.SAMPLES, 3) and np.isfinite(one).all()
    # a lone edge has nothing to bundle with: it stays on its segment
    seg = (dst - src)[0] / np.linalg.norm(dst - src)
    rel = one[0] - src[0]
    np.testing.assert_allclose(rel - np.outer(rel @ seg, seg), 0.0, atol=1e-5)


@pytest.mark.parametrize("refine", [False, True])
def test_all_edges_share_one_source(refine):
    rng = np.random.default_rng(3)
    dst = np.c_[np.full(200, 3.0), rng.uniform(-1, 1, (200, 2))]
    src = np.zeros((200, 3))
    out = nb.bundle(src, dst, refine=refine)
    assert np.isfinite(out).all()
    assert np.array_equal(out[:, 0], src.astype(np.float32))
    assert np.array_equal(out[:, -1], dst.astype(np.float32))
    assert metrics.ink(out) < metrics.ink(nb.straight(src, dst))


@pytest.mark.parametrize("refine", [False, True])
def test_zero_length_edges_stay_points(refine):
    rng = np.random.default_rng(4)
    src = rng.uniform(-1, 1, (100, 3))
    dst = src + [3.0, 0.0, 0.0] + rng.uniform(-1, 1, (100, 3))
    dst[:10] = src[:10]
    out = nb.bundle(src, dst, refine=refine)
    assert np.isfinite(out).all()
    assert np.array_equal(out[:10], np.broadcast_to(src[:10, None].astype(np.float32),
                                                    (10, nb.SAMPLES, 3)))
    same = nb.bundle(src, src, refine=refine)  # every edge degenerate: d falls back to +X
    assert np.array_equal(same, np.broadcast_to(src[:, None].astype(np.float32), same.shape))


def test_symmetric_group_falls_back_to_edge_directions():
    """mean(src) == mean(dst): d is the edges' principal direction, and nothing breaks."""
    rng = np.random.default_rng(6)
    src = rng.uniform(-1, 1, (300, 3))
    dst = src[::-1].copy()
    d = nb.main_direction(src, dst)
    assert np.isclose(np.linalg.norm(d), 1.0)
    out = nb.bundle(src, dst, refine=True)
    assert np.isfinite(out).all() and np.array_equal(out[:, 0], src.astype(np.float32))
    assert np.array_equal(nb.main_direction(np.zeros((5, 3)), np.zeros((5, 3))), [1, 0, 0])


# --------------------------------------------------------------------------- metrics


def test_ink_of_known_lines():
    # two horizontal lines across a 10x1 box: 512 x 52 cells, 2 rows touched
    pts = np.zeros((2, 5, 3))
    pts[:, :, 0] = np.linspace(0, 10, 5)
    pts[1, :, 2] = 1.0
    counts = metrics.rasterize(pts, 512)
    assert counts.shape == (52, 512)
    assert metrics.ink(pts) == pytest.approx(2 * 512 / counts.size)
    assert metrics.ink(pts[..., [0, 2]]) == metrics.ink(pts)  # 2D input, same figure
    diag = np.linspace([0.0, 0.0], [1.0, 1.0], 3)[None]
    assert np.count_nonzero(metrics.rasterize(diag, 100)) == 100  # 8-connected, no gaps


def test_mean_neighbour_distance_of_parallel_lines():
    pts = np.zeros((3, 9, 3))
    pts[:, :, 0] = np.linspace(0, 4, 9)
    pts[1, :, 1] = 1.0
    pts[2, :, 1] = 3.0
    # nearest other: 1, 1, 2 (sampled the same however the curves are sampled)
    assert metrics.mean_neighbour_distance(pts) == pytest.approx(4 / 3)
    assert metrics.mean_neighbour_distance(metrics.resample(pts, 40)) == pytest.approx(4 / 3)
    assert metrics.mean_neighbour_distance(pts[:1]) == 0.0


def test_paths_to_array_roundtrip():
    a = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    b = np.array([[0.0, 1.0], [0.5, 1.0], [1.0, 1.0], [1.5, 1.0], [3.0, 1.0]])
    nan = np.full((1, 2), np.nan)
    xy = np.concatenate([a, nan, b, nan])
    arr = metrics.paths_to_array(xy[:, 0], xy[:, 1], samples=4)
    assert arr.shape == (2, 4, 2)
    np.testing.assert_allclose(arr[0, :, 0], [0, 2 / 3, 4 / 3, 2])
    np.testing.assert_allclose(arr[1, :, 0], [0, 1, 2, 3])
    np.testing.assert_allclose(arr[:, :, 1], [[0] * 4, [1] * 4])
