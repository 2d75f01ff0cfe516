"""Layer blocks and graph layout: real architectures (ResNet-style, Inception-style) built by
hand, no TensorFlow."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from nnrender.layout import graph as graph_mod
from nnrender.layout.network import (
    ELLIPSIS,
    IMAGE,
    MAX_WALL,
    NEURON,
    PLACEHOLDER,
    SUMMARY_MAX,
    SUMMARY_MEAN,
    LayerBlock,
    LayerStyle,
    arrange,
    layer_block,
    map_side,
)
from nnrender.model.ir import LayerInfo
from nnrender.model.synthetic import cnn_layers

# ---------------------------------------------------------------- model builders


def _adder(layers: list[LayerInfo]):  # noqa: ANN202
    """``add(name, kind, shape, *inbound)``: append a layer, return its name to chain on."""

    def add(name: str, kind: str, shape: list[int], *inbound: str) -> str:
        layers.append(LayerInfo(name, kind, shape, inbound=list(inbound)))
        return name

    return add


def resnet_layers(stages: tuple[tuple[int, int, int], ...] = ((64, 3, 56), (128, 4, 28),
                                                             (256, 3, 14))) -> list[LayerInfo]:
    """A ResNet-50-like stem and bottleneck stages (filters, blocks, resolution), in the
    order Keras lists them: projection shortcut (conv+bn) on each stage's first block."""
    layers: list[LayerInfo] = []
    add = _adder(layers)

    x = add("input", "InputLayer", [224, 224, 3])
    x = add("conv1_conv", "Conv2D", [112, 112, 64], x)
    x = add("conv1_bn", "BatchNormalization", [112, 112, 64], x)
    x = add("conv1_relu", "Activation", [112, 112, 64], x)
    x = add("pool1", "MaxPooling2D", [56, 56, 64], x)
    for s, (f, blocks, hw) in enumerate(stages, start=2):
        for b in range(1, blocks + 1):
            p = f"conv{s}_block{b}"
            y = add(f"{p}_1_conv", "Conv2D", [hw, hw, f], x)
            y = add(f"{p}_1_bn", "BatchNormalization", [hw, hw, f], y)
            y = add(f"{p}_1_relu", "Activation", [hw, hw, f], y)
            y = add(f"{p}_2_conv", "Conv2D", [hw, hw, f], y)
            y = add(f"{p}_2_bn", "BatchNormalization", [hw, hw, f], y)
            y = add(f"{p}_2_relu", "Activation", [hw, hw, f], y)
            short = x
            if b == 1:
                short = add(f"{p}_0_conv", "Conv2D", [hw, hw, 4 * f], x)
            y = add(f"{p}_3_conv", "Conv2D", [hw, hw, 4 * f], y)
            if b == 1:
                short = add(f"{p}_0_bn", "BatchNormalization", [hw, hw, 4 * f], short)
            y = add(f"{p}_3_bn", "BatchNormalization", [hw, hw, 4 * f], y)
            y = add(f"{p}_add", "Add", [hw, hw, 4 * f], short, y)
            x = add(f"{p}_out", "Activation", [hw, hw, 4 * f], y)
    x = add("avg_pool", "GlobalAveragePooling2D", [4 * stages[-1][0]], x)
    add("predictions", "Dense", [10], x)
    return layers


def inception_layers() -> list[LayerInfo]:
    """Stem, then one Inception-like block: three parallel branches of different lengths
    (1x1; 1x1 -> 5x5; 1x1 -> 3x3 -> 3x3) joined by a Concatenate."""
    layers: list[LayerInfo] = []
    add = _adder(layers)

    x = add("input", "InputLayer", [64, 64, 3])
    x = add("stem_conv", "Conv2D", [32, 32, 32], x)
    x = add("stem_pool", "MaxPooling2D", [16, 16, 32], x)
    a = add("b1_1x1", "Conv2D", [16, 16, 16], x)
    b = add("b2_1x1", "Conv2D", [16, 16, 12], x)
    b = add("b2_5x5", "Conv2D", [16, 16, 16], b)
    c = add("b3_1x1", "Conv2D", [16, 16, 16], x)
    c = add("b3_3x3a", "Conv2D", [16, 16, 24], c)
    c = add("b3_3x3b", "Conv2D", [16, 16, 24], c)
    m = add("mixed", "Concatenate", [16, 16, 56], a, b, c)
    x = add("gap", "GlobalAveragePooling2D", [56], m)
    add("output", "Dense", [10], x)
    return layers


# ---------------------------------------------------------------- geometry helpers


def boxes_overlap(lo1: np.ndarray, hi1: np.ndarray, lo2: np.ndarray, hi2: np.ndarray,
                  eps: float = 1e-9) -> np.ndarray:
    return np.all((lo1 < hi2 - eps) & (lo2 < hi1 - eps), axis=-1)


def assert_blocks_apart(blocks: list[LayerBlock]) -> None:
    lo = np.array([b.bounds()[0] for b in blocks])
    hi = np.array([b.bounds()[1] for b in blocks])
    hit = boxes_overlap(lo[:, None], hi[:, None], lo[None], hi[None])
    np.fill_diagonal(hit, False)
    pairs = [(blocks[i].name, blocks[j].name) for i, j in zip(*np.nonzero(hit), strict=True)
             if i < j]
    assert not pairs, pairs[:5]


def assert_cells_apart(block: LayerBlock) -> None:
    for s in range(block.stages):
        c, sz = block.stage_centers[s], block.stage_sizes[s]
        vis = np.any(sz > 0, axis=1)
        c, sz = c[vis], sz[vis]
        lo, hi = c - sz / 2, c + sz / 2
        hit = boxes_overlap(lo[:, None], hi[:, None], lo[None], hi[None])
        np.fill_diagonal(hit, False)
        assert not hit.any(), f"{block.name} stage {s}: cells overlap"


def centre(block: LayerBlock) -> np.ndarray:
    lo, hi = block.bounds()
    return (lo + hi) / 2


def edges_of(layers: list[LayerInfo]) -> list[tuple[int, int]]:
    return graph_mod.graph_edges(layers)


@pytest.fixture(scope="module")
def resnet() -> tuple[list[LayerInfo], list[LayerBlock]]:
    layers = resnet_layers()
    return layers, arrange(layers)


@pytest.fixture(scope="module")
def inception() -> tuple[list[LayerInfo], list[LayerBlock]]:
    layers = inception_layers()
    return layers, arrange(layers)


# ---------------------------------------------------------------- graph layout


def test_resnet_builder_is_big_and_valid() -> None:
    layers = resnet_layers()
    assert len(layers) >= 60
    names = set()
    for layer in layers:
        assert all(p in names for p in layer.inbound)
        names.add(layer.name)


@pytest.mark.parametrize("model", [resnet_layers, inception_layers, cnn_layers])
def test_no_two_blocks_overlap_and_no_two_cells(model) -> None:
    layers = model()
    blocks = arrange(layers)
    assert [b.name for b in blocks] == [layer.name for layer in layers]
    assert_blocks_apart(blocks)
    for b in blocks:
        assert_cells_apart(b)


@pytest.mark.parametrize("model", [resnet_layers, inception_layers, cnn_layers])
def test_every_map_and_neuron_is_placed(model) -> None:
    layers = model()
    for layer, b in zip(layers, arrange(layers), strict=True):
        total = layer.output_shape[-1]
        assert b.total == total and b.shown == total
        if b.role == "image":  # a long vector: one slab holding every neuron
            assert total > 512 and b.count == 1 and b.sources.tolist() == [IMAGE]
            continue
        assert b.count == total  # no ellipsis, no summary cell with the default style
        assert sorted(b.sources.tolist()) == list(range(total))
        assert b.stage_centers.shape == b.stage_sizes.shape == (1, total, 3)
        assert np.all(b.sizes > 0)


def test_shortcuts_sit_in_a_lane_off_the_axis(resnet) -> None:
    layers, blocks = resnet
    by = {b.name: b for b in blocks}
    shortcuts = [b for b in blocks if "_0_" in b.name]
    assert len(shortcuts) == 6
    for b in shortcuts:
        assert b.lane > 0, b.name  # above the main path first
        row_axis = [centre(o)[2] for o in blocks if o.row == b.row and o.lane == 0]
        assert centre(b)[2] > max(row_axis)
    for b in blocks:
        if "_0_" not in b.name:
            assert b.lane == 0, b.name
    # the short shortcut is centred in its block's span, not crammed next to the split
    for s in (2, 3, 4):
        p = f"conv{s}_block1"
        conv, add = by[f"{p}_0_conv"], by[f"{p}_add"]
        split = by[layers[[la.name for la in layers].index(f"{p}_1_conv")].inbound[0]]
        free_lo, free_hi = split.column + 1, add.column - 1
        mid = (free_lo + free_hi) / 2
        assert abs((conv.column + by[f"{p}_0_bn"].column) / 2 - mid) <= 0.5


def test_merges_are_on_the_main_path_line(resnet) -> None:
    layers, blocks = resnet
    for layer, b in zip(layers, blocks, strict=True):
        if layer.type == "Add":
            assert b.lane == 0
            line = [centre(o)[2] for o in blocks if o.row == b.row and o.lane == 0]
            assert np.allclose(line, centre(b)[2])
    # every main-path block of a row shares one Z line and Y = 0
    for r in range(max(b.row for b in blocks) + 1):
        zs = [centre(b)[2] for b in blocks if b.row == r and b.lane == 0]
        assert np.ptp(zs) < 1e-9
    assert all(abs(centre(b)[1]) < 1e-9 for b in blocks if b.role == "maps")


@pytest.mark.parametrize("model", [resnet_layers, inception_layers, cnn_layers])
def test_columns_increase_along_edges(model) -> None:
    layers = model()
    blocks = arrange(layers)
    for u, v in edges_of(layers):
        assert blocks[v].column > blocks[u].column
        if blocks[u].row == blocks[v].row:
            assert blocks[v].bounds()[0][0] > blocks[u].bounds()[1][0]
        else:
            assert blocks[v].row > blocks[u].row


def test_big_network_wraps_into_rows_stacked_downwards(resnet) -> None:
    _, blocks = resnet
    rows = max(b.row for b in blocks) + 1
    assert rows > 1
    starts = []
    for r in range(rows):
        members = [b for b in blocks if b.row == r]
        starts.append(min(b.bounds()[0][0] for b in members))
        if r:
            above = [b for b in blocks if b.row == r - 1]
            assert (max(b.bounds()[1][2] for b in members)
                    < min(b.bounds()[0][2] for b in above))
    assert np.ptp(starts) < 2.0  # every row starts again at the left
    # rows break at block boundaries (after a block output), where only one node's edges cross
    for r in range(1, rows):
        first = min((b for b in blocks if b.row == r), key=lambda b: b.column)
        last = max((b for b in blocks if b.row == r - 1), key=lambda b: b.column)
        assert last.name.endswith(("_out", "pool1")), last.name
        assert first.column == last.column + 1


def test_wrap_auto_is_about_the_frame(resnet) -> None:
    _, blocks = resnet
    lo = np.min([b.bounds()[0] for b in blocks], axis=0)
    hi = np.max([b.bounds()[1] for b in blocks], axis=0)
    single = arrange(resnet_layers(), wrap="none")
    slo = np.min([b.bounds()[0] for b in single], axis=0)
    shi = np.max([b.bounds()[1] for b in single], axis=0)
    assert (shi[0] - slo[0]) / (shi[2] - slo[2]) > 10  # far too wide as one line
    assert 1.0 < (hi[0] - lo[0]) / (hi[2] - lo[2]) < 10


def test_wrap_overrides() -> None:
    layers = resnet_layers()
    assert {b.row for b in arrange(layers, wrap="none")} == {0}
    assert {b.row for b in arrange(layers, wrap=1)} == {0}
    blocks = arrange(layers, wrap=4)
    assert {b.row for b in blocks} == {0, 1, 2, 3}
    assert_blocks_apart(blocks)
    with pytest.raises(ValueError):
        arrange(layers, wrap="sideways")
    with pytest.raises(ValueError):
        arrange(layers, wrap=0)


def test_demo_cnn_is_one_straight_line_like_before() -> None:
    layers = cnn_layers()
    blocks = arrange(layers)
    assert {b.row for b in blocks} == {0} and {b.lane for b in blocks} == {0}
    assert [b.column for b in blocks] == list(range(len(layers)))
    xs = [centre(b)[0] for b in blocks]
    assert xs == sorted(xs)
    assert all(abs(centre(b)[2]) < 1e-9 and abs(centre(b)[1]) < 1e-9 for b in blocks)
    # centred on the origin along the network
    assert abs(blocks[0].bounds()[0][0] + blocks[-1].bounds()[1][0]) < 1e-6
    # maps keep their map_side size (no shrinking on a small network), input enlarged
    for layer, b in zip(layers, blocks, strict=True):
        if b.role == "maps" and layer.output_shape[2] > 4:
            sw, sh = map_side(*layer.output_shape[:2])
            assert np.allclose(b.sizes[:, 1:], [sw, sh])
    assert blocks[0].sizes[0, 2] > map_side(8, 8)[1]
    # the gaps grow with the walls as before: 1.2 + 0.3 * wall (spacing 1)
    gap = blocks[1].bounds()[0][0] - blocks[0].bounds()[1][0]
    wall = max(blocks[0].extent[1:].max(), blocks[1].extent[1:].max())
    assert gap == pytest.approx(1.2 + 0.3 * wall)


def test_old_dumps_without_inbound_are_a_chain() -> None:
    layers = cnn_layers()
    bare = [LayerInfo(la.name, la.type, la.output_shape) for la in layers]
    a, b = arrange(layers), arrange(bare)
    for x, y in zip(a, b, strict=True):
        assert np.allclose(x.stage_centers, y.stage_centers)
        assert x.column == y.column


def test_unknown_inbound_names_are_ignored_and_sequential_inbound_is_a_chain() -> None:
    layers = cnn_layers()
    layers[3].inbound = [*layers[3].inbound, "not_a_layer"]
    blocks = arrange(layers)
    assert [b.column for b in blocks] == list(range(len(layers)))


def test_inception_branches_go_above_then_below(inception) -> None:
    layers, blocks = inception
    by = {b.name: b for b in blocks}
    # the longest branch is the main path; the other two take lanes +1 and -1
    assert {by[n].lane for n in ("b3_1x1", "b3_3x3a", "b3_3x3b", "mixed", "stem_pool")} == {0}
    lanes = {by["b1_1x1"].lane, by["b2_1x1"].lane, by["b2_5x5"].lane}
    assert by["b2_1x1"].lane == by["b2_5x5"].lane
    assert lanes == {1, -1}
    assert by["b2_1x1"].lane == 1  # the longer side branch is placed first, above
    assert centre(by["b2_5x5"])[2] > centre(by["mixed"])[2] > centre(by["b1_1x1"])[2]
    # a one-layer branch across a three-column span sits in its middle
    assert by["b1_1x1"].column == by["b3_3x3a"].column
    assert by["mixed"].column == by["b3_3x3b"].column + 1


def test_arrange_is_deterministic_and_fast() -> None:
    layers = resnet_layers(((64, 3, 56), (128, 4, 28), (256, 6, 14), (512, 3, 7)))
    assert len(layers) >= 170
    t = time.perf_counter()
    a = arrange(layers)
    elapsed = time.perf_counter() - t
    b = arrange(layers)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.stage_centers, y.stage_centers)
        assert (x.column, x.row, x.lane) == (y.column, y.row, y.lane)
    assert elapsed < 1.0  # ~0.1 s here; generous for slow CI machines


def test_huge_walls_shrink_to_a_bound(resnet) -> None:
    _, blocks = resnet
    walls = np.array([max(b.extent[1:]) for b in blocks if b.role == "maps"])
    # the input image is enlarged before the median is taken, as arrange does
    assert walls.max() <= MAX_WALL * np.median(walls) * 1.05
    big = next(b for b in blocks if b.shape == [56, 56, 256])
    small = next(b for b in blocks if b.shape == [56, 56, 64])
    # shrunk cells keep the slab's aspect and the gaps in proportion
    assert big.sizes[0, 1] < small.sizes[0, 1]
    assert big.sizes[0, 1] / big.sizes[0, 2] == pytest.approx(1.0)
    pitch = np.sort(np.unique(np.round(big.centers[:, 1], 9)))
    assert np.diff(pitch)[0] / big.sizes[0, 1] == pytest.approx(1.16)


def test_whole_network_centred_on_origin(resnet) -> None:
    _, blocks = resnet
    lo = np.min([b.bounds()[0] for b in blocks], axis=0)
    hi = np.max([b.bounds()[1] for b in blocks], axis=0)
    assert abs(lo[0] + hi[0]) < 1e-6 and abs(lo[2] + hi[2]) < 1e-6


def test_graph_helpers() -> None:
    layers = inception_layers()
    edges = graph_mod.graph_edges(layers)
    order, kept = graph_mod.topological(len(layers), edges)
    assert kept == edges and order == list(range(len(layers)))
    main, branches = graph_mod.chains(len(layers), order, edges)
    names = [layers[i].name for i in main]
    assert names == ["input", "stem_conv", "stem_pool", "b3_1x1", "b3_3x3a", "b3_3x3b",
                     "mixed", "gap", "output"]
    assert [[layers[i].name for i in c] for c in branches] == [["b2_1x1", "b2_5x5"],
                                                                ["b1_1x1"]]
    # a cycle (never in a valid dump) is broken instead of looping
    order, kept = graph_mod.topological(3, [(0, 1), (1, 2), (2, 1)])
    assert sorted(order) == [0, 1, 2] and len(kept) == 2


# ---------------------------------------------------------------- layer blocks


def maps_layer(c: int = 64, hw: int = 16) -> LayerInfo:
    return LayerInfo("conv", "Conv2D", [hw, hw, c])


def test_show_k_picks_evenly_with_ellipsis_after_the_last() -> None:
    layer = maps_layer(64)
    for kind in ("grid", "line", "circle"):
        b = layer_block(layer, LayerStyle([kind], show=5))
        assert b.shown == 5 and b.total == 64 and b.count == 5 + 3
        assert b.sources[:5].tolist() == [0, 16, 32, 47, 63]
        assert (b.sources == ELLIPSIS).sum() == 3
        dots = b.centers[5:]
        assert np.all(b.sizes[5:] < 0.2 * b.sizes[0, 1])  # small dots
        assert_cells_apart(b)
        if kind == "line":  # continuing the row towards -Y
            assert np.all(dots[:, 1] < b.centers[4, 1])
            assert np.allclose(dots[:, 2], b.centers[4, 2])
        if kind == "grid":  # the next grid slot: 6 slots in a 3x2 wall, slot 5 is last
            slot = dots.mean(axis=0)
            assert slot[2] == pytest.approx(b.centers[3, 2])
            assert slot[1] == pytest.approx(b.centers[2, 1])
        if kind == "circle":  # on the ring, after the last map
            r = np.hypot(b.centers[:5, 1], b.centers[:5, 2])
            assert np.allclose(r, r[0])
            assert np.hypot(*dots.mean(axis=0)[1:]) == pytest.approx(r[0], rel=0.05)
    # showing everything (or more) adds no ellipsis
    b = layer_block(layer, LayerStyle(show=64))
    assert b.count == 64 and not (b.sources == ELLIPSIS).any()
    with pytest.raises(ValueError):
        layer_block(layer, LayerStyle(show=0))


def test_show_counts_in_a_network() -> None:
    layers = resnet_layers()
    styles = [LayerStyle(show=8) if la.role == "maps" and la.output_shape[-1] > 8
              else LayerStyle() for la in layers]
    blocks = arrange(layers, styles)
    assert_blocks_apart(blocks)
    for layer, b in zip(layers, blocks, strict=True):
        if layer.role == "maps" and layer.output_shape[-1] > 8:
            assert b.shown == 8 and b.count == 11
            assert (b.sources == ELLIPSIS).sum() == 3
        assert_cells_apart(b)


def test_fold_stages() -> None:
    layer = maps_layer(64)
    only = layer_block(layer, LayerStyle(["fold"], summary="max"))
    assert only.count == 1 and only.sources.tolist() == [SUMMARY_MAX]
    assert only.shown == 0 and only.total == 64
    single = layer_block(layer)
    assert only.sizes[0, 0] > 3 * single.sizes[0, 0]  # a thick stack of maps
    assert only.sizes[0, 1] == pytest.approx(single.sizes[0, 1])
    few = layer_block(maps_layer(4), LayerStyle(["fold"]))
    assert few.sizes[0, 0] < only.sizes[0, 0]  # thickness grows with the count

    b = layer_block(layer, LayerStyle(["grid", "fold", "line"], show=10))
    assert b.stages == 3 and b.count == 10 + 3 + 1
    assert b.sources[-1] == SUMMARY_MEAN
    vis = np.any(b.stage_sizes > 0, axis=2)
    assert vis[0].tolist() == [True] * 13 + [False]
    assert vis[1].tolist() == [False] * 13 + [True]
    assert vis[2].tolist() == [True] * 13 + [False]
    assert np.allclose(b.stage_centers[1], 0.0)  # folded cells collapse to the centre
    assert np.allclose(b.stage_centers[0, 13], 0.0)
    # the line stage is one row along -Y
    assert np.allclose(b.stage_centers[2, :10, 2], 0.0)
    assert np.all(np.diff(b.stage_centers[2, :10, 1]) < 0)
    assert_cells_apart(b)
    lo, hi = b.bounds()  # over all stages: the long line is the widest
    assert hi[1] - lo[1] == pytest.approx(np.ptp(b.stage_centers[2, :13, 1])
                                          + b.stage_sizes[2, 0, 1], rel=0.05)


def test_multistage_network_layout() -> None:
    layers = inception_layers()
    styles = [LayerStyle(["grid", "circle", "fold"]) if la.role == "maps" else
              LayerStyle(["fold", "grid"]) for la in layers]
    blocks = arrange(layers, styles)
    assert_blocks_apart(blocks)
    for b in blocks:
        assert b.stages in (1, 2, 3)
        assert b.stage_centers.shape == b.stage_sizes.shape
        assert_cells_apart(b)


def test_circle_slabs_face_the_viewer_and_do_not_touch() -> None:
    b = layer_block(maps_layer(24), LayerStyle(["circle"]))
    assert np.allclose(b.centers[:, 0], 0.0)
    assert np.allclose(b.sizes, b.sizes[0])  # same slabs as the grid, not rotated
    r = np.hypot(b.centers[:, 1], b.centers[:, 2])
    assert np.allclose(r, r[0])
    assert b.centers[0, 2] == pytest.approx(r[0])  # starts at the top
    assert b.centers[1, 1] < 0  # then towards -Y, the screen's right
    assert_cells_apart(b)


def test_vector_layers() -> None:
    short = layer_block(LayerInfo("d", "Dense", [10]))
    assert short.role == "vector" and short.count == 10
    assert np.allclose(short.centers[:, :2], 0.0)  # one column
    assert np.all(np.diff(short.centers[:, 2]) < 0)  # top-down
    assert np.allclose(short.sizes, NEURON)
    wide = layer_block(LayerInfo("d", "Dense", [64]))
    assert len(np.unique(np.round(wide.centers[:, 1], 6))) == 8  # an 8x8 wall
    forced = layer_block(LayerInfo("d", "Dense", [64]), LayerStyle(dense="line"))
    assert np.allclose(forced.centers[:, 1], 0.0)
    as_grid = layer_block(LayerInfo("d", "Dense", [10]), LayerStyle(dense="grid"))
    assert len(np.unique(np.round(as_grid.centers[:, 1], 6))) > 1
    shown = layer_block(LayerInfo("d", "Dense", [100]), LayerStyle(["line"], show=6))
    assert shown.count == 9 and shown.tile_hw == (1, 1)
    assert np.all(shown.centers[6:, 2] < shown.centers[5, 2])  # the dots continue down
    folded = layer_block(LayerInfo("d", "Dense", [100]), LayerStyle(["fold"]))
    assert folded.count == 1 and folded.sizes[0, 0] > 2 * NEURON
    for b in (short, wide, shown, folded):
        assert_cells_apart(b)


def test_long_vectors_become_one_image_slab() -> None:
    b = layer_block(LayerInfo("pool", "GlobalAveragePooling2D", [2048]))
    assert b.role == "image" and b.count == 1 and b.sources.tolist() == [IMAGE]
    assert b.tile_hw == (45, 46)  # cols = ceil(sqrt(2048)) = 46, rows = ceil(2048 / 46)
    assert b.total == 2048 and b.shown == 2048
    sw, sh = map_side(45, 46)
    assert b.sizes[0, 1:].tolist() == pytest.approx([sw, sh])
    b = layer_block(LayerInfo("fc", "Dense", [1000]))
    assert b.role == "image" and b.tile_hw == (32, 32)
    b = layer_block(LayerInfo("fc", "Dense", [600]))
    assert b.tile_hw == (24, 25)
    b = layer_block(LayerInfo("fc", "Dense", [600]), LayerStyle(dense_limit=1000))
    assert b.role == "vector" and b.count == 600
    b = layer_block(LayerInfo("fc", "Dense", [1000]), LayerStyle(show=50))
    assert b.role == "vector" and b.shown == 50
    multi = layer_block(LayerInfo("fc", "Dense", [1000]), LayerStyle(["grid", "fold"]))
    assert multi.stages == 2 and multi.count == 1


def test_other_ranks_are_placeholders() -> None:
    """Only shapes with no drawing stay placeholders: ranks 1-4 are vectors, token strips,
    maps and volumes now; a rank-5 output is not."""
    b = layer_block(LayerInfo("odd", "Custom", [2, 3, 4, 5, 6]), LayerStyle(["grid", "fold"]))
    assert b.role == "other" and b.count == 1 and b.sources.tolist() == [PLACEHOLDER]
    assert b.tile_hw == (1, 1) and b.stages == 2


def test_stored_subset_indexes_the_stored_axis() -> None:
    layer = LayerInfo("conv", "Conv2D", [112, 112, 256], stored_shape=[56, 56, 32],
                      channels=list(range(0, 256, 8)))
    b = layer_block(layer)
    assert b.tile_hw == (56, 56)
    assert b.sources.tolist() == list(range(32)) and b.shown == 32 and b.total == 256
    sw, sh = map_side(112, 112)  # world size follows the real resolution
    assert b.sizes[0, 1] == pytest.approx(sw)
    b = layer_block(layer, LayerStyle(show=4))
    assert b.sources[:4].tolist() == [0, 10, 21, 31]


def test_bad_styles_are_errors() -> None:
    with pytest.raises(ValueError, match="spiral"):
        layer_block(maps_layer(), LayerStyle(["spiral"]))
    with pytest.raises(ValueError):
        layer_block(maps_layer(), LayerStyle(summary="median"))
    with pytest.raises(ValueError):
        layer_block(LayerInfo("d", "Dense", [10]), LayerStyle(dense="cloud"))
    with pytest.raises(ValueError):
        arrange(cnn_layers(), [LayerStyle()])


def test_block_extent_and_scale() -> None:
    b = layer_block(maps_layer(16, 8), LayerStyle(["grid", "fold"]))
    ext = b.extent.copy()
    b.scale(0.5)
    assert np.allclose(b.extent, ext * 0.5)
    assert np.allclose(b.stage_sizes[1, :16], 0.0)  # hidden cells stay hidden
    assert math.isclose(float(np.abs(b.stage_centers[1, :16]).max()), 0.0, abs_tol=1e-12)
