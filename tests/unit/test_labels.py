"""Label placement in screen space, and the camera projection it measures with."""

from __future__ import annotations

import numpy as np
import pytest
from test_layout import inception_layers, resnet_layers

from nnrender.layout.camera import (
    View,
    basis,
    frame_points,
    frame_points_ortho,
    half_tangents,
    offset_direction,
)
from nnrender.layout.labels import (
    PIXEL_GAP,
    label_priority,
    place_labels,
    text_extent,
)
from nnrender.layout.network import LayerBlock, arrange, layer_block
from nnrender.model.ir import LayerInfo
from nnrender.model.synthetic import cnn_layers

W, H = 1280, 720


def corners(blocks: list[LayerBlock]) -> np.ndarray:
    return np.array([c for b in blocks for c in b.bounds()])


def framed(blocks: list[LayerBlock], azimuths=(62.0, 48.0), lens: float = 70.0) -> list[View]:
    target, distance = frame_points(corners(blocks), list(azimuths), 20.0, lens, W, H, 1.06)
    return [View(target, distance, az, 20.0, lens, W, H) for az in azimuths]


def text_of(b: LayerBlock) -> str:
    return f"{b.name}\n{'×'.join(str(d) for d in b.shape)}"


def screen_rect(view: View, anchor, text: str, size: float) -> np.ndarray:
    """Independent of labels._rects: the billboard's corners projected one by one."""
    w, h = text_extent(text, size)
    right, up, _ = basis(offset_direction(view.azimuth, view.elevation))
    a = np.asarray(anchor, dtype=float)
    pts = np.array([a - right * w / 2, a + right * w / 2,
                    a - right * w / 2 + up * h, a + right * w / 2 + up * h])
    px, py, _ = view.project(pts)
    return np.array([px.min(), py.min(), px.max(), py.max()])


def overlapping(rects: list[np.ndarray]) -> list[tuple[int, int]]:
    out = []
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            a, b = rects[i], rects[j]
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                out.append((i, j))
    return out


# ---------------------------------------------------------------- text and priority


def test_text_extent_follows_the_default_font() -> None:
    w, h = text_extent("conv1", 2.0)
    assert w == pytest.approx(0.55 * 2.0 * 5) and h == pytest.approx(2.0 * 0.95)
    w, h = text_extent("a\nlonger line\nb", 1.0)
    assert w == pytest.approx(0.55 * 11) and h == pytest.approx(0.9 * 2 + 0.95)


def test_priority_ranks_inputs_outputs_then_merges_and_stage_changes() -> None:
    layers = resnet_layers()
    blocks = arrange(layers)
    pr = dict(zip([la.name for la in layers], label_priority(layers, blocks), strict=True))
    top = sorted(pr, key=pr.get, reverse=True)[:2]
    assert set(top) == {"input", "predictions"}
    assert pr["conv2_block2_add"] > pr["conv2_block2_2_bn"]
    assert pr["conv3_block1_1_conv"] > pr["conv2_block1_1_bn"]  # 56 -> 28: a new stage
    assert pr["conv2_block1_3_conv"] > pr["conv2_block1_3_bn"]  # 64 -> 256 channels
    assert pr["conv2_block2_1_bn"] > pr["conv2_block3_1_bn"]  # earlier first among equals
    assert pr["conv2_block1_1_bn"] > pr["conv2_block1_0_bn"]  # main path before shortcut


# ---------------------------------------------------------------- placement


def test_resnet_labels_never_overlap_in_any_view() -> None:
    layers = resnet_layers()
    blocks = arrange(layers)
    views = framed(blocks)
    size = float(np.clip(0.13 * np.median([max(b.extent[1:]) for b in blocks]), 0.12, 3.0))
    texts = [text_of(b) for b in blocks]
    forced = [not la.inbound or la.name == "predictions" for la in layers]
    pos = place_labels(blocks, texts, size, label_priority(layers, blocks), forced, views)
    placed = [i for i, p in enumerate(pos) if p is not None]
    assert 0.2 * len(blocks) < len(placed) < len(blocks)  # crowded: some are left out
    assert pos[0] is not None and pos[-1] is not None  # input and output always
    for view in views:
        rects = [screen_rect(view, pos[i], texts[i], size) for i in placed]
        assert not overlapping(rects)
    # a placed label sits above its own block's top centre
    for i in placed:
        lo, hi = blocks[i].bounds()
        assert pos[i][0] == pytest.approx((lo[0] + hi[0]) / 2)
        assert pos[i][2] >= hi[2] + 0.5 * size - 1e-9


def test_inception_and_cnn_labels() -> None:
    for layers in (inception_layers(), cnn_layers()):
        blocks = arrange(layers)
        views = framed(blocks)
        size = 0.13 * float(np.median([max(b.extent[1:]) for b in blocks]))
        texts = [text_of(b) for b in blocks]
        pos = place_labels(blocks, texts, size, label_priority(layers, blocks),
                           [False] * len(blocks), views)
        assert pos[0] is not None and pos[-1] is not None
        for view in views:
            rects = [screen_rect(view, p, t, size) for p, t in zip(pos, texts, strict=True)
                     if p is not None]
            assert not overlapping(rects)
    # the small demo network has room for every label
    assert all(p is not None for p in pos)


def two_blocks() -> list[LayerBlock]:
    """Two one-map layers so close that their labels collide at the default height."""
    a = layer_block(LayerInfo("a", "Conv2D", [8, 8, 1]))
    b = layer_block(LayerInfo("b", "Conv2D", [8, 8, 1]))
    b.translate([0.3, 0.0, 0.0])
    return [a, b]


def test_colliding_labels_are_raised_then_dropped_unless_forced() -> None:
    blocks = two_blocks()
    views = [View((0.0, 0.0, 0.0), 20.0, 55.0, 20.0, 70.0, W, H)]
    texts = ["first layer", "second layer"]
    size = 0.3
    pos = place_labels(blocks, texts, size, [2.0, 1.0], [False, False], views, levels=3)
    assert pos[0] is not None and pos[1] is not None
    step = text_extent(texts[1], size)[1] + 0.3 * size
    assert pos[1][2] - pos[0][2] == pytest.approx(step)  # raised one step
    pos = place_labels(blocks, texts, size, [2.0, 1.0], [False, False], views, levels=1)
    assert pos[0] is not None and pos[1] is None
    # forced labels are always there, and go first so they take the free places
    pos = place_labels(blocks, texts, size, [2.0, 1.0], [False, True], views, levels=1)
    assert pos[0] is None and pos[1] is not None
    pos = place_labels(blocks, texts, size, [2.0, 1.0], [True, True], views, levels=1)
    assert pos[0] is not None and pos[1] is not None  # both, at level 0 regardless
    assert pos[1][2] == pytest.approx(pos[0][2])
    pos = place_labels(blocks, [None, "second layer"], size, [2.0, 1.0], [False, False],
                       views, levels=1)
    assert pos[0] is None and pos[1] is not None
    with pytest.raises(ValueError):
        place_labels(blocks, texts, size, [1.0], [False, False], views)


def test_pixel_gap_is_kept() -> None:
    blocks = two_blocks()
    views = [View((0.0, 0.0, 0.0), 20.0, 55.0, 20.0, 70.0, W, H)]
    size = 0.3
    pos = place_labels(blocks, ["aa", "bb"], size, [2.0, 1.0], [False, False], views)
    r = [screen_rect(views[0], p, t, size) for p, t in zip(pos, ["aa", "bb"], strict=True)]
    apart_x = max(r[1][0] - r[0][2], r[0][0] - r[1][2])
    apart_y = max(r[1][1] - r[0][3], r[0][1] - r[1][3])
    assert max(apart_x, apart_y) >= PIXEL_GAP - 1e-6


# ---------------------------------------------------------------- projection


def test_view_projects_target_to_the_image_centre() -> None:
    for ortho in (None, 30.0):
        view = View((1.0, -2.0, 0.5), 25.0, 55.0, 20.0, 70.0, W, H, ortho_scale=ortho)
        px, py, depth = view.project(np.array([[1.0, -2.0, 0.5]]))
        assert px[0] == pytest.approx(0.0, abs=1e-9) and py[0] == pytest.approx(0.0, abs=1e-9)
        assert depth[0] == pytest.approx(25.0)


def test_view_matches_blender_conventions() -> None:
    view = View((0.0, 0.0, 0.0), 10.0, 30.0, 10.0, 50.0, W, H)
    right, up, _ = basis(offset_direction(30.0, 10.0))
    tx, ty = half_tangents(50.0, W, H)
    px, py, _ = view.project(np.array([right * tx * 10.0, up * ty * 10.0]))
    assert px[0] == pytest.approx(W / 2) and py[1] == pytest.approx(H / 2)  # y up
    # orthographic: ortho_scale is the world width of the larger (here horizontal) side
    flat = View((0.0, 0.0, 0.0), 10.0, 30.0, 10.0, 50.0, W, H, ortho_scale=8.0)
    px, py, _ = flat.project(np.array([right * 4.0, up * 4.0 * H / W]))
    assert px[0] == pytest.approx(W / 2) and py[1] == pytest.approx(H / 2)
    tall = View((0.0, 0.0, 0.0), 10.0, 30.0, 10.0, 50.0, H, W, ortho_scale=8.0)
    _, py, _ = tall.project(np.array([up * 4.0]))
    assert py[0] == pytest.approx(W / 2)


def test_framed_points_lie_within_the_image() -> None:
    blocks = arrange(resnet_layers())
    pts = corners(blocks)
    azimuths = [62.0, 55.0, 48.0]
    target, distance = frame_points(pts, azimuths, 20.0, 70.0, W, H, 1.06)
    edge = 0.0
    for az in azimuths:
        px, py, depth = View(target, distance, az, 20.0, 70.0, W, H).project(pts)
        assert np.all(depth > 0)
        assert np.all(np.abs(px) <= W / 2) and np.all(np.abs(py) <= H / 2)
        edge = max(edge, np.abs(px).max() / (W / 2), np.abs(py).max() / (H / 2))
    assert edge > 0.85  # framed, not lost in the middle
    target, scale = frame_points_ortho(pts, azimuths, 20.0, W, H, 1.06)
    edge = 0.0
    for az in azimuths:
        px, py, _ = View(target, 50.0, az, 20.0, 70.0, W, H, ortho_scale=scale).project(pts)
        assert np.all(np.abs(px) <= W / 2) and np.all(np.abs(py) <= H / 2)
        edge = max(edge, np.abs(px).max() / (W / 2), np.abs(py).max() / (H / 2))
    assert edge > 0.9
