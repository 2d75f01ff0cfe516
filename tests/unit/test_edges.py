"""Which edges are drawn, where arcs and receptive fields run (pure: no bpy, no TensorFlow)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_layout import _adder, boxes_overlap, resnet_layers

from nnrender.config.load import load_config
from nnrender.edges import field as field_mod
from nnrender.edges import route, select
from nnrender.edges.connect import endpoints
from nnrender.errors import ConfigError
from nnrender.layout import graph as graph_mod
from nnrender.layout.network import arrange
from nnrender.model.ir import Dump, LayerInfo
from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.plan import make_plan

# ---------------------------------------------------------------- selection


def test_top_k_picks_the_largest_per_output_and_breaks_ties_by_input_order() -> None:
    scores = np.array([[0.1, 5.0, 0.0],
                       [0.9, 5.0, 0.0],
                       [0.5, 1.0, 0.0],
                       [0.7, 5.0, 0.0]])
    mask = select.top_k_mask(scores, 2)
    assert mask[:, 0].tolist() == [False, True, False, True]  # 0.9 and 0.7
    assert mask[:, 1].tolist() == [True, True, False, False]  # three 5.0s: the first two
    assert not mask[:, 2].any()  # zero weights are no connections
    both = select.top_k_mask(scores, 1, threshold=0.22)  # 0.22 * 5 = 1.1
    assert both[:, 0].tolist() == [False, True, False, False]
    assert both[:, 1].tolist() == [True, True, False, True]


def test_top_k_matches_a_brute_force_ranking() -> None:
    rng = np.random.default_rng(3)
    scores = np.abs(rng.normal(size=(50, 20)))
    mask = select.top_k_mask(scores, 4)
    for j in range(20):
        expected = set(np.argsort(-scores[:, j])[:4].tolist())
        assert set(np.nonzero(mask[:, j])[0].tolist()) == expected


def test_select_edges_unions_epochs_and_fades_unselected_edges() -> None:
    e0 = np.array([[1.0, 0.2], [0.1, -0.5], [0.3, 0.1]])
    e1 = np.array([[0.1, 0.2], [2.0, -0.5], [0.3, -4.0]])
    src, dst, values = select.select_edges([e0, e1], k=1)
    edges = list(zip(src.tolist(), dst.tolist(), strict=True))
    # epoch 0 picks (0,0) and (1,1); epoch 1 picks (1,0) and (2,1)
    assert edges == [(0, 0), (1, 0), (1, 1), (2, 1)]
    assert values.shape == (4, 2)
    np.testing.assert_allclose(values[:, 0], [1.0 / 4, 0.0, -0.5 / 4, 0.0])
    np.testing.assert_allclose(values[:, 1], [0.0, 2.0 / 4, 0.0, -1.0])
    assert np.abs(values).max() == 1.0


def test_select_edges_by_weight_times_activation_and_limit() -> None:
    w = np.array([[1.0, 1.0], [0.5, 0.5]])
    _, _, _ = select.select_edges([w], k=1)
    src, _, _ = select.select_edges([w], k=1)
    assert src.tolist() == [0, 0]
    src, _, _ = select.select_edges([w], k=1, source_scale=[np.array([0.1, 1.0])])
    assert src.tolist() == [1, 1]  # a dead input neuron's big weights matter less
    big = np.arange(1, 13, dtype=float).reshape(4, 3)
    src, dst, _ = select.select_edges([big], k=4, limit=5)
    assert sorted(big[src, dst].tolist()) == [8, 9, 10, 11, 12]


def test_connection_matrices() -> None:
    rng = np.random.default_rng(0)
    k = rng.normal(size=(3, 3, 4, 6)).astype(np.float32)
    m = select.connection_matrix("Conv2D", [k, np.zeros(6)])
    assert m.shape == (4, 6)
    np.testing.assert_allclose(np.abs(m), np.abs(k).sum(axis=(0, 1)), rtol=1e-6)
    np.testing.assert_array_equal(np.sign(m), np.where(k.sum(axis=(0, 1)) < 0, -1, 1))
    dense = rng.normal(size=(5, 2))
    np.testing.assert_allclose(select.connection_matrix("Dense", [dense]), dense, rtol=1e-6)
    dw = select.connection_matrix("DepthwiseConv2D", [np.ones((3, 3, 2, 2))])
    assert dw.shape == (2, 4)
    assert (dw != 0).tolist() == [[True, True, False, False], [False, False, True, True]]
    # a transposed conv stores (kh, kw, outputs, inputs)
    t = rng.normal(size=(3, 3, 8, 4))
    assert select.connection_matrix("Conv2DTranspose", [t]).shape == (4, 8)
    # a diverged epoch's NaN weights are no connections
    bad = dense.copy()
    bad[0, 0] = np.nan
    assert select.connection_matrix("Dense", [bad])[0, 0] == 0
    assert select.connection_matrix("BatchNormalization", [np.ones(4)] * 4) is None
    assert select.connection_matrix("Dense", []) is None


# ---------------------------------------------------------------- receptive fields


def test_receptive_field_grows_like_the_textbook() -> None:
    layers = cnn_layers(16)  # conv3x3 same -> pool2 -> conv3x3 same -> pool2 ...
    by = {layer.name: layer for layer in layers}
    # one pixel of conv2 sees 3x3 of pool1, 6x6 of conv1, 8x8 of the input
    r = field_mod.back((4, 4, 4, 4), by["conv2"], by["pool1"])
    assert r == (3, 5, 3, 5)
    r = field_mod.back(r, by["pool1"], by["conv1"])
    assert r == (6, 11, 6, 11)
    r = field_mod.back(r, by["conv1"], by["input"])
    assert r == (5, 12, 5, 12)
    # at the border, 'same' padding clips the field to the image
    assert field_mod.back((0, 0, 0, 0), by["conv1"], by["input"]) == (0, 1, 0, 1)
    strided = LayerInfo("c", "Conv2D", [7, 7, 8], config={"kernel_size": [7, 7],
                        "strides": [2, 2], "padding": "valid"})
    src = LayerInfo("i", "InputLayer", [19, 19, 3])
    assert field_mod.back((3, 3, 0, 6), strided, src) == (6, 12, 0, 18)
    flat = LayerInfo("f", "Flatten", [64])
    assert field_mod.back((0, 0, 0, 0), flat, by["pool2"]) is None


# ---------------------------------------------------------------- skip arcs


def five_branches() -> list[LayerInfo]:
    """An Inception-like block of 5 branches (lanes -2..2) of different lengths, one of
    them a pooling branch: arcs into the concatenation cross other lanes."""
    layers: list[LayerInfo] = []
    add = _adder(layers)

    x = add("stem", "Conv2D", [32, 32, 64], add("input", "InputLayer", [64, 64, 3]))
    tails = [add("a1", "Conv2D", [32, 32, 8], x)]
    b = add("b1", "Conv2D", [32, 32, 8], x)
    tails.append(add("b2", "Conv2D", [32, 32, 8], b))
    c = add("c2", "Conv2D", [32, 32, 8], add("c1", "Conv2D", [32, 32, 8], x))
    tails.append(add("c3", "Conv2D", [32, 32, 8], c))
    tails.append(add("d2", "Conv2D", [32, 32, 128], add("d1", "MaxPooling2D", [32, 32, 64], x)))
    e = add("e2", "Conv2D", [32, 32, 8], add("e1", "Conv2D", [32, 32, 8], x))
    tails.append(add("e4", "Conv2D", [32, 32, 256], add("e3", "Conv2D", [32, 32, 8], e)))
    m = add("mixed", "Concatenate", [32, 32, 408], *tails)
    add("out", "Dense", [10], add("gap", "GlobalAveragePooling2D", [408], m))
    return layers


@pytest.mark.parametrize("model", ["resnet", "five_branches"])
def test_skip_arcs_run_around_every_block(model: str) -> None:
    layers = resnet_layers() if model == "resnet" else five_branches()
    blocks = arrange(layers, wrap="auto" if model == "resnet" else "none")
    if model == "five_branches":
        assert {b.lane for b in blocks} >= {-2, -1, 0, 1, 2}
    pairs = route.link_pairs(blocks, graph_mod.graph_edges(layers), set())
    assert pairs
    names = {(layers[p].name, layers[c].name) for p, c in pairs}
    if model == "resnet":
        # identity shortcuts skip the block; projection shortcuts leave and rejoin the axis
        assert ("conv2_block1_out", "conv2_block2_add") in names
        assert ("conv2_block1_0_bn", "conv2_block1_add") in names
        assert ("conv2_block2_1_conv", "conv2_block2_1_bn") not in names  # neighbours
    else:
        assert {("stem", "d1"), ("d2", "mixed"), ("a1", "mixed")} <= names
    wall = float(np.median([max(b.extent[1], b.extent[2]) for b in blocks]))
    lo = np.array([b.bounds()[0] for b in blocks])
    hi = np.array([b.bounds()[1] for b in blocks])
    for p, c in pairs:
        curve = route.link_curve(blocks, p, c, 0.25 * wall, 24)
        assert curve.shape == (24, 3)
        # the ends sit on the two blocks' faces
        for end, b in ((curve[0], p), (curve[-1], c)):
            assert np.all(end >= lo[b] - 1e-9) and np.all(end <= hi[b] + 1e-9)
        inner = curve[1:-1]
        hit = boxes_overlap(inner[:, None] - 1e-6, inner[:, None] + 1e-6, lo[None] + 1e-3,
                            hi[None] - 1e-3)
        assert not hit.any(), (layers[p].name, layers[c].name,
                               [blocks[j].name for j in np.nonzero(hit.any(axis=0))[0]])


# ---------------------------------------------------------------- the plan


@pytest.fixture(scope="module")
def weighted(tmp_path_factory) -> Dump:
    path = write_synthetic(tmp_path_factory.mktemp("wdump") / "dump", cnn_layers(), epochs=3,
                           count=2, with_weights=True)
    return Dump(path)


def _plan(dump: Dump, **sections):
    layer = {"render": {"resolution": [320, 180]}, **sections}
    config, _ = load_config(None, layer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_plan(dump, config)


def test_plan_has_one_group_per_weighted_layer_with_fixed_endpoints(weighted: Dump) -> None:
    plan = _plan(weighted, edges={"top_k": 2})
    by = {g.target: g for g in plan.edges}
    assert set(by) == {"conv1", "conv2", "dense1", "output"}
    assert by["conv2"].kind == "channel" and by["dense1"].kind == "dense"
    lp = {layer.name: layer for layer in plan.layers}
    for g in plan.edges:
        assert g.straight.shape == g.bundled.shape == (g.count, 16, 3)
        assert g.weights.shape == (g.count, 3)
        assert np.all(np.abs(g.weights) <= 1) and np.abs(g.weights).max() == 1
        np.testing.assert_array_equal(g.straight[:, 0], g.bundled[:, 0])
        np.testing.assert_array_equal(g.straight[:, -1], g.bundled[:, -1])
        # every epoch keeps top_k inputs per drawn target, or every drawn source where
        # there are fewer (conv1's input has 1 map: min(2, 1) = 1 edge per map)
        per_epoch = (g.weights != 0).sum(axis=0)
        n_sources = int((lp[g.source].sources >= 0).sum())
        n_targets = int((lp[g.target].sources >= 0).sum())
        assert n_targets == lp[g.target].centers.shape[0]  # no ellipsis or summary cells
        assert per_epoch.tolist() == [min(2, n_sources) * n_targets] * 3, g.name
        # starts on the source cells' back faces, ends on the targets' front faces
        src = lp[g.source]
        x_back = src.centers[:, 0] + src.sizes[:, 0] / 2
        assert np.abs(g.straight[:, 0, 0, None] - x_back[None]).min(axis=1).max() < 1e-4
        dst = lp[g.target]
        x_front = dst.centers[:, 0] - dst.sizes[:, 0] / 2
        assert np.abs(g.straight[:, -1, 0, None] - x_front[None]).min(axis=1).max() < 1e-4
    # the output layer's edges go to its 10 neurons from the strongest dense1 neurons
    out = by["output"]
    w = [weighted.weights(e, "output")[0] for e in range(3)]
    for e in range(3):
        on = out.weights[:, e] != 0
        for j in range(10):
            srcs = set(out.src_index[on & (out.dst_index == j)].tolist())
            assert srcs == set(np.argsort(-np.abs(w[e][:, j]), kind="stable")[:2].tolist())
    assert plan.to_json()["edges"][0]["count"] == plan.edges[0].count


def test_edges_follow_the_shown_maps_and_overrides(weighted: Dump) -> None:
    plan = _plan(weighted, layout={"layers": {"conv2": {"show": 5}}},
                 edges={"layers": {"dense1": {"show": False}, "output": {"top_k": 1}}})
    by = {g.target: g for g in plan.edges}
    assert "dense1" not in by
    assert (by["output"].weights != 0).sum(axis=0).tolist() == [10, 10, 10]
    shown = set(np.array([s for s in plan.layers[3].sources if s >= 0]).tolist())
    assert len(shown) == 5 and set(by["conv2"].dst_index.tolist()) <= shown
    with pytest.raises(ConfigError, match="edges.layers.nope"):
        _plan(weighted, edges={"layers": {"nope": {"top_k": 1}}})
    off = _plan(weighted, edges={"show": False})
    assert off.edges == []


def test_layers_with_too_many_targets_get_no_edges(weighted: Dump) -> None:
    plan = _plan(weighted, edges={"max_targets": 20, "layers": {"conv2": {"max_targets": 40}}})
    assert {g.target for g in plan.edges} == {"conv1", "conv2", "output"}
    assert any("1 layers draw more than 20" in w and "dense1" in w for w in plan.warnings)
    # the layout leaves the wide gap only in front of layers that get edges
    lp = {layer.name: layer for layer in plan.layers}
    shown = _plan(weighted, layout={"layers": {"dense1": {"show": 20}}},
                  edges={"max_targets": 20})
    assert "dense1" in {g.target for g in shown.edges}
    gap = {p.name: p.centers[:, 0].min() for p in (lp["flatten"], lp["dense1"])}
    gap2 = {p.name: p.centers[:, 0].min() for p in shown.layers if p.name in gap}
    assert gap2["dense1"] - gap2["flatten"] > gap["dense1"] - gap["flatten"]


def test_receptive_field_plan_sits_on_the_maps(weighted: Dump) -> None:
    plan = _plan(weighted, edges={"field": {"layer": "conv2", "pixel": [1, 2]}})
    f = plan.frustum
    assert f is not None
    assert [p for p in f.layers] == [("conv2", "pool1"), ("pool1", "conv1"), ("conv1", "input")]
    assert f.rects == [(0, 2, 1, 3), (0, 5, 2, 7), (0, 6, 1, 7)]
    assert f.quads.shape == (3, 2, 4, 3)
    lp = {layer.name: layer for layer in plan.layers}
    # the first quad is one pixel (1, 2) of the chosen conv2 map, on its front face
    conv2 = lp["conv2"]
    cell = int(np.nonzero(conv2.sources == f.channel)[0][0])
    c, s = conv2.centers[cell], conv2.sizes[cell]
    quad = f.quads[0, 0]
    assert np.allclose(quad[:, 0], c[0] - s[0] / 2)
    assert np.isclose(quad[:, 1].max() - quad[:, 1].min(), s[1] / 4)  # 1 of 4 columns
    assert np.isclose(quad[:, 2].max(), c[2] + s[2] / 2 - s[2] / 4)  # row 1 of 4
    # the input rect covers rows 0..6 of 8
    inp = lp["input"]
    base = f.quads[2, 1]
    assert np.isclose(base[:, 2].max() - base[:, 2].min(), inp.sizes[0, 2] * 7 / 8)
    with pytest.raises(ConfigError, match="edges.field.layer"):
        _plan(weighted, edges={"field": {"layer": "dense1"}})
    with pytest.raises(ConfigError, match="edges.field.pixel"):
        _plan(weighted, edges={"field": {"layer": "conv2", "pixel": [9, 0]}})


def test_bundle_strength_keys(weighted: Dump) -> None:
    plan = _plan(weighted, edges={"bundle": 0.0, "changes": [{"at": 1.0, "to": 1.0,
                                                              "over": 0.5}]})
    fps = plan.timeline.fps
    first = plan.timeline.first_frame
    assert plan.bundle == 0.0
    assert plan.bundle_keys == [(first, 0.0), (first + fps, 0.0), (first + 1.5 * fps, 1.0)]
    with pytest.raises(ConfigError, match="edges.changes"):
        _plan(weighted, edges={"changes": [{"at": 999.0, "to": 1.0}]})


def test_epochs_without_weights_show_the_nearest_epochs(weighted: Dump) -> None:
    full = _plan(weighted)
    saved = weighted.manifest.epochs[1].weights
    weighted.manifest.epochs[1].weights = None
    try:
        plan = _plan(weighted)
    finally:
        weighted.manifest.epochs[1].weights = saved
    assert any("epochs [1] have no weights" in w for w in plan.warnings)
    a = {g.target: g for g in full.edges}["output"]
    b = {g.target: g for g in plan.edges}["output"]
    # epoch 1 now shows epoch 0's connections (the nearer, earlier one)
    sel = (a.weights[:, 0] != 0)
    pairs0 = set(zip(a.src_index[sel].tolist(), a.dst_index[sel].tolist(), strict=True))
    sel1 = (b.weights[:, 1] != 0)
    assert set(zip(b.src_index[sel1].tolist(), b.dst_index[sel1].tolist(),
                   strict=True)) == pairs0


def test_dump_without_weights_draws_no_weight_edges(dump_path) -> None:
    plan = _plan(Dump(dump_path))
    assert plan.edges == []
    assert any("no weights" in w for w in plan.warnings)


def test_receptive_field_through_a_concatenation() -> None:
    layers = [LayerInfo("input", "InputLayer", [8, 8, 3]),
              LayerInfo("a", "Conv2D", [8, 8, 4], inbound=["input"],
                        config={"kernel_size": [3, 3], "padding": "same"}),
              LayerInfo("b", "Conv2D", [8, 8, 6], inbound=["input"],
                        config={"kernel_size": [1, 1], "padding": "same"}),
              LayerInfo("cat", "Concatenate", [8, 8, 10], inbound=["a", "b"])]
    blocks = arrange(layers, wrap="none")
    # map 7 of the concatenation is map 3 of b (a has 4): a 1x1 conv sees one pixel
    quads, pairs, rects, notes = field_mod.trace(layers, blocks, 3, (2, 5), 7, None,
                                                 lambda *a: 0)
    assert pairs == [("cat", "b"), ("b", "input")]
    assert rects == [(2, 2, 5, 5), (2, 2, 5, 5)]
    assert not notes


def test_image_slab_endpoints_are_its_pixels() -> None:
    layer = LayerInfo("x", "InputLayer", [784])
    block = arrange([layer])[0]
    assert block.role == "image"
    ends = endpoints(block, layer)
    assert ends.center.shape == (784, 3)
    c, s = block.centers[0], block.sizes[0]
    # pixel 0 is the top left as the camera sees it (+Y, +Z), pixel 783 the bottom right
    assert ends.center[0, 1] > c[1] and ends.center[0, 2] > c[2]
    assert ends.center[783, 1] < c[1] and ends.center[783, 2] < c[2]
    assert np.isclose(ends.center[:, 1].max() - ends.center[:, 1].min(), s[1] * 27 / 28)


def test_edges_fade_in_and_out_of_the_selection() -> None:
    from nnrender.edges.groups import EdgeGroup

    pts = np.zeros((3, 4, 3), np.float32)
    w = np.array([[0.5, 0.0], [0.5, -0.5], [0.0, 1.0]], np.float32)
    g = EdgeGroup("a->b", "dense", "a", "b", pts, pts, w, 0.1, 0.03, 1.0, (1, 0, 0), (0, 0, 1))
    np.testing.assert_allclose(g.weight_at(0.25), [0.375, 0.25, 0.25])
    # leaving: fades with the blend; a sign flip passes w = 0 but stays drawn
    np.testing.assert_allclose(g.presence_at(0.25), [0.75, 1.0, 0.25])
    np.testing.assert_allclose(g.presence_at(0.5), [0.5, 1.0, 0.5])
    np.testing.assert_allclose(g.presence_at(1.0), [0.0, 1.0, 1.0])
