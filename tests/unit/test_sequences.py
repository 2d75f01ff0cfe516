"""Sequences, attention and repeated blocks in the plan: token strips, volumes, attention
maps and edges, folded repeats with badges, group labels, grouped-conv edges. Pure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_layout import resnet_layers

from nnrender import colormaps
from nnrender.config.load import load_config
from nnrender.edges import select
from nnrender.errors import ConfigError, DumpError
from nnrender.layout.network import ELLIPSIS, LayerStyle, arrange, layer_block
from nnrender.layout.repeats import CollapsedDump, find_repeats
from nnrender.model.ir import Dump, DumpWriter, LayerInfo
from nnrender.model.synthetic import activation, attention, vit_layers, write_synthetic
from nnrender.plan import make_plan
from nnrender.plan.groups import choose_groups


def _overlap(centers: np.ndarray, sizes: np.ndarray) -> bool:
    """Whether any two boxes overlap in the wall's plane (Y, Z)."""
    lo, hi = centers - sizes / 2, centers + sizes / 2
    n = len(centers)
    for i in range(n):
        for j in range(i + 1, n):
            if np.all(lo[i, 1:] < hi[j, 1:] - 1e-9) and np.all(lo[j, 1:] < hi[i, 1:] - 1e-9):
                return True
    return False


@pytest.fixture(scope="module")
def vit_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("vit") / "d", vit_layers(), epochs=3,
                           with_weights=True)


def _plan(dump: Path, **sections: dict):  # noqa: ANN202
    layer = {"render": {"resolution": [320, 180]}, **sections}
    config, _ = load_config(None, layer)
    return make_plan(Dump(dump), config)


# ------------------------------------------------------------------ token strips


def test_text_tokens_are_a_row_of_feature_columns() -> None:
    layer = LayerInfo("embed", "Embedding", [12, 24])
    b = layer_block(layer, LayerStyle(["line"]))
    assert b.role == "tokens" and b.count == 12 and b.tile_hw == (24, 1)
    assert b.sources.tolist() == list(range(12))
    assert np.allclose(b.centers[:, 2], 0) and np.all(np.diff(b.centers[:, 1]) < 0)
    assert np.all(b.sizes[:, 2] > 5 * b.sizes[:, 1]), "a column per token"
    assert not _overlap(b.centers, b.sizes)
    slab = layer_block(layer, LayerStyle(["slab"]))
    gaps = -np.diff(slab.centers[:, 1]) - slab.sizes[0, 1]
    np.testing.assert_allclose(gaps, 0, atol=1e-12)  # one T x D slab


def test_patch_tokens_sit_on_their_grid_with_the_class_token_aside() -> None:
    layers = vit_layers()
    blocks = arrange(layers)
    enc = blocks[2]
    assert enc.role == "tokens" and enc.count == 17
    assert enc.tile_hw == (6, 6), "32 features as a 6x6 tile"
    grid = enc.centers[1:]
    ys, zs = np.unique(grid[:, 1].round(6)), np.unique(grid[:, 2].round(6))
    assert len(ys) == 4 and len(zs) == 4, "16 patches on a 4x4 grid"
    # row-major: patch 1 (index 2) is right of patch 0 (index 1) on screen (-Y), same row
    assert enc.centers[2, 1] < enc.centers[1, 1] and enc.centers[2, 2] == enc.centers[1, 2]
    assert enc.centers[0, 1] > grid[:, 1].max(), "the class token left of the grid"
    assert not _overlap(enc.centers, enc.sizes)
    # a sequence that does not come from an image is not put on a grid
    text = layer_block(LayerInfo("t", "Embedding", [16, 32]), LayerStyle(["grid"]))
    assert text.tile_hw == (32, 1)


def test_show_caps_a_long_sequence_with_an_ellipsis() -> None:
    b = layer_block(LayerInfo("seq", "LSTM", [1000, 8]), LayerStyle(["line"], show=10))
    assert (b.sources >= 0).sum() == 10 and (b.sources == ELLIPSIS).sum() == 3
    assert b.sources[:10].tolist()[0] == 0 and b.sources[9] == 999
    assert b.shown == 10 and b.total == 1000
    assert not _overlap(b.centers, b.sizes)


def test_volume_is_a_row_of_map_stacks() -> None:
    layer = LayerInfo("convlstm", "ConvLSTM2D", [6, 10, 10, 8])
    b = layer_block(layer, LayerStyle(["grid"]))
    assert b.role == "volume" and b.count == 48 and b.tile_hw == (10, 10)
    assert b.sources.tolist() == [s * 8 + c for s in range(6) for c in range(8)]
    steps = b.centers.reshape(6, 8, 3)[:, :, 1].mean(axis=1)
    assert np.all(np.diff(steps) < 0), "steps left to right"
    assert not _overlap(b.centers, b.sizes)
    capped = layer_block(layer, LayerStyle(["grid"], show=2, steps=3))
    direct = capped.sources[capped.sources >= 0]
    assert sorted({int(s) // 8 for s in direct}) == [0, 3, 5]  # evenly spaced, ends kept
    assert sorted({int(s) % 8 for s in direct}) == [0, 7]
    assert (capped.sources == ELLIPSIS).sum() == 3 * 3


def test_plan_paints_token_columns_from_the_activations(tmp_path: Path) -> None:
    layers = [LayerInfo("ids", "InputLayer", [5]),
              LayerInfo("embed", "Embedding", [5, 6], inbound=["ids"])]
    dump = write_synthetic(tmp_path / "d", layers, epochs=1, count=1)
    plan = _plan(dump, look={"percentiles": [0, 100]})
    lp = plan.layers[1]
    assert lp.role == "tokens" and len(lp.centers) == 5
    act = Dump(dump).activations(0, 1)[0]  # (5, 6)
    block = plan.atlas.blocks[lp.page][0]
    lo, hi = lp.norm
    for t, (x, y, w, h) in enumerate(lp.tiles):
        assert (w, h) == (1, 6)
        column = block[y:y + h, x, :3].astype(int)
        want = colormaps.apply_rgba("viridis", (act[t] - lo) / (hi - lo))[:, :3].astype(int)
        np.testing.assert_array_equal(column, want)  # feature f in row f, top down


# ------------------------------------------------------------------ attention


def test_attention_maps_sit_above_the_layer(vit_dump: Path) -> None:
    plan = _plan(vit_dump)
    by = {lp.name: lp for lp in plan.layers}
    maps, mha = by["t0_mha/attention"], by["t0_mha"]
    assert maps.role == "attention" and len(maps.centers) == 4 and maps.shape == [4, 17, 17]
    assert maps.centers[:, 2].min() - maps.sizes[0, 2] / 2 > (mha.centers[:, 2]
                                                               + mha.sizes[:, 2] / 2).max()
    assert not _overlap(maps.centers, maps.sizes)
    # the tiles hold the recorded scores of each head
    scores = Dump(vit_dump).attention(2, "t0_mha")[0]
    x, y, w, h = maps.tiles[1]
    assert (w, h) == (17, 17)
    tile = plan.atlas.blocks[maps.page][-1][y:y + h, x:x + w, :3].astype(float).sum(-1)
    assert np.corrcoef(tile.ravel(), scores[1].ravel())[0, 1] > 0.5
    off = _plan(vit_dump, layout={"attention": False})
    assert not any(lp.role == "attention" for lp in off.layers)


def test_attention_edges_are_the_top_keys_of_each_query(vit_dump: Path) -> None:
    plan = _plan(vit_dump, edges={"attention": {"top_k": 2}})
    groups = {g.name: g for g in plan.edges if g.kind == "attention"}
    assert set(groups) == {f"t{b}_ln->t{b}_mha" for b in range(3)}
    g = groups["t1_ln->t1_mha"]
    dump = Dump(vit_dump)
    for slot in range(3):
        mean = dump.attention(slot, "t1_mha")[0].mean(axis=0)  # (queries, keys)
        want = {(int(k), q) for q in range(17) for k in np.argsort(-mean[q], kind="stable")[:2]}
        got = {(int(a), int(b)) for a, b, w in zip(g.src_index, g.dst_index, g.weights[:, slot],
                                                   strict=True) if w != 0}
        assert got == want, slot
    assert np.all(g.weights >= 0) and g.weights.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(g.straight[:, 0], g.bundled[:, 0])
    each = _plan(vit_dump, edges={"attention": {"heads": "each", "top_k": 1}})
    heads = [g for g in each.edges if g.kind == "attention" and g.target == "t0_mha"]
    assert len(heads) == 4 and len({g.positive for g in heads}) == 4
    assert all(np.all((g.weights != 0).sum(axis=0) == 17) for g in heads)
    none = _plan(vit_dump, edges={"attention": {"show": False}})
    assert not any(g.kind == "attention" for g in none.edges)


def test_weights_draw_no_edges_into_tokens(vit_dump: Path) -> None:
    """A Dense layer on tokens has a (D, D') kernel: features, not tokens. Only the head
    (vector to vector) gets weight edges."""
    plan = _plan(vit_dump)
    weighted = {g.target for g in plan.edges if g.kind in ("dense", "channel")}
    assert weighted == {"head"}


# ------------------------------------------------------------------ repeated blocks


def test_repeats_are_found_from_the_graph_not_the_names() -> None:
    layers = vit_layers(blocks=5)
    runs = find_repeats(layers)
    assert [(r.start, r.period, r.count) for r in runs] == [(3, 5, 5)]
    # renaming every layer changes nothing: names are never read
    renamed = [LayerInfo(f"x{i}", la.type, la.output_shape,
                         inbound=[f"x{[m.name for m in layers].index(p)}" for p in la.inbound])
               for i, la in enumerate(layers)]
    assert find_repeats(renamed) == runs
    # ResNet stages: the identity blocks after each stage's projection block repeat
    res = resnet_layers()
    found = [(res[r.start].name, r.period, r.count) for r in find_repeats(res)]
    assert found == [("conv2_block2_1_conv", 10, 2), ("conv3_block2_1_conv", 10, 3),
                     ("conv4_block2_1_conv", 10, 2)]


def test_collapse_draws_one_block_with_a_badge(vit_dump: Path) -> None:
    full = _plan(vit_dump)
    folded = _plan(vit_dump, layout={"collapse": "repeats"})
    names = [lp.name for lp in folded.layers if lp.role != "attention"]
    assert "t0_mha" in names and "t1_mha" not in names and "t2_add2" not in names
    assert len(names) == len([lp for lp in full.layers if lp.role != "attention"]) - 10
    badges = [lab for lab in folded.labels if lab.kind == "badge"]
    assert [b.text for b in badges] == ["×3"]
    # the layer after the run reads the drawn block's output: its arc / edges still land
    view = CollapsedDump(Dump(vit_dump), find_repeats(vit_layers()))
    assert next(la for la in view.layers if la.name == "pool").inbound == ["t0_add2"]
    np.testing.assert_array_equal(view.activations(1, names.index("pool")),
                                  Dump(vit_dump).activations(1, "pool"))
    # per layer: only runs whose layers all say so fold
    some = _plan(vit_dump, layout={"layers": {"t*": {"collapse": "repeats"}}})
    assert not any(lp.name == "t1_mha" for lp in some.layers)
    assert any(lp.name == "t1_mha" for lp in _plan(
        vit_dump, layout={"collapse": "repeats", "layers": {"t1*": {"collapse": "none"}}}
    ).layers)


# ------------------------------------------------------------------ labels


def test_group_labels_when_most_layer_labels_would_hide(tmp_path: Path) -> None:
    layers = resnet_layers()
    groups = choose_groups(layers, 20)
    keys = [g.key for g in groups]
    assert "conv2_block1" in keys and "conv3_block4" in keys
    sizes = {g.key: len(g.members) for g in groups}
    assert sizes["conv2_block1"] == 12 and sizes["conv2_block2"] == 10  # projection: +2
    assert sizes["conv1"] == 3 and "input" in sizes
    dump = write_synthetic(tmp_path / "r", layers, epochs=1, count=1)
    auto = _plan(dump)
    kinds = {lab.kind for lab in auto.labels}
    assert "group" in kinds, [lab.text for lab in auto.labels]
    assert any(lab.text.startswith("conv3_block2") for lab in auto.labels)
    flat = _plan(dump, labels={"level": "layer"})
    assert {lab.kind for lab in flat.labels} == {"layer"}


def test_a_placeholder_keeps_its_label(tmp_path: Path) -> None:
    layers = resnet_layers()
    layers.insert(6, LayerInfo("odd", "Odd", [2, 2, 2, 2, 2], inbound=["pool1"]))
    dump = write_synthetic(tmp_path / "p", layers, epochs=1, count=1)
    for level in ("layer", "group"):
        plan = _plan(dump, labels={"level": level})
        assert any(lab.layer == "odd" and lab.text.startswith("odd") for lab in plan.labels)


def _text_dump(tmp_path: Path, vocab: list[str] | None) -> Path:
    layers = [LayerInfo("ids", "InputLayer", [6]),
              LayerInfo("embed", "Embedding", [6, 8], inbound=["ids"]),
              LayerInfo("pool", "GlobalAveragePooling1D", [8], inbound=["embed"])]
    ids = np.array([[2, 3, 4, 1, 0, 0]], dtype=np.int32)
    writer = DumpWriter(tmp_path / "text")
    writer.add_epoch(0, [ids.astype(np.float32), activation([6, 8], 1, 0, 1),
                         activation([8], 1, 0, 2)])
    inputs = {"count": 1} | ({"vocab": vocab} if vocab else {})
    return writer.finish({"name": "t"}, layers, inputs, input_arrays={"inputs": ids})


def test_tokens_are_labelled_by_their_text(tmp_path: Path) -> None:
    dump = _text_dump(tmp_path, ["<pad>", "<unk>", "a", "good", "film"])
    tokens = [lab for lab in _plan(dump).labels if lab.kind == "token"]
    assert [t.text for t in tokens] == ["a", "good", "film", "<unk>", "<pad>", "<pad>"]
    assert all(t.vertical and t.layer == "embed" for t in tokens)
    other = tmp_path / "words.txt"
    other.write_text("<pad>\nX\nthe\nbest\nmovie\n")
    assert [t.text for t in _plan(dump, labels={"vocab": str(other)}).labels
            if t.kind == "token"][:3] == ["the", "best", "movie"]
    short = tmp_path / "short.txt"
    short.write_text("<pad>\nX\n")
    with pytest.raises(ConfigError, match="short.txt.*2 entries.*token id 4"):
        _plan(dump, labels={"vocab": str(short)})
    bad = _text_dump(tmp_path / "b", ["<pad>", "x"])
    with pytest.raises(DumpError, match="token id 4"):
        _plan(bad)
    positions = _text_dump(tmp_path / "p", None)
    assert [t.text for t in _plan(positions).labels if t.kind == "token"] == [
        "0", "1", "2", "3", "4", "5"]
    assert not [t for t in _plan(positions, labels={"tokens": "none"}).labels
                if t.kind == "token"]


# ------------------------------------------------------------------ grouped convolutions


def test_grouped_conv_connects_each_group_to_its_own_maps(tmp_path: Path) -> None:
    kernel = np.random.default_rng(0).normal(size=(3, 3, 2, 8)).astype(np.float32)
    m = select.connection_matrix("Conv2D", [kernel], inputs=8)  # 4 groups of 2 -> 2
    assert m.shape == (8, 8)
    blocks = (m != 0).reshape(4, 2, 4, 2).any(axis=(1, 3))
    np.testing.assert_array_equal(blocks, np.eye(4, dtype=bool))
    assert select.connection_matrix("Conv2D", [kernel]).shape == (2, 8)  # unknown inputs
    layers = [LayerInfo("input", "InputLayer", [8, 8, 8]),
              LayerInfo("gconv", "Conv2D", [8, 8, 8], inbound=["input"])]
    writer = DumpWriter(tmp_path / "g")
    writer.add_epoch(0, [activation([8, 8, 8], 1, 0, 0), activation([8, 8, 8], 1, 0, 1)],
                     [[], [kernel, np.zeros(8, np.float32)]])
    dump = writer.finish({"name": "g"}, layers, {"count": 1})
    plan = _plan(dump, edges={"top_k": 1})
    (group,) = [g for g in plan.edges if g.kind == "channel"]
    assert group.count == 8
    assert np.all(group.src_index // 2 == group.dst_index // 2), "within its group"


def test_attention_synthetic_rows_sum_to_one() -> None:
    layer = LayerInfo("m", "MultiHeadAttention", [5, 4],
                      attention={"heads": 2, "queries": 5, "keys": 3})
    scores = attention(layer, 2, 1, 0)
    assert scores.shape == (2, 2, 5, 3)
    np.testing.assert_allclose(scores.sum(axis=-1), 1, rtol=1e-5)


def test_a_block_repeating_its_last_nested_layer_is_drawn_once(tmp_path: Path) -> None:
    """The reader records a custom block after its nested layers; when the block's output
    is its last nested layer's (``same_as``), only the nested layer is drawn."""
    layers = [LayerInfo("ids", "InputLayer", [6]),
              LayerInfo("emb", "Embedding", [6, 8], inbound=["ids"]),
              LayerInfo("block/ln", "LayerNormalization", [6, 8], inbound=["emb"],
                        config={"parent": "block"}),
              LayerInfo("block", "TransformerBlock", [6, 8], inbound=["block/ln"],
                        config={"nested": 1, "same_as": "block/ln"}),
              LayerInfo("pool", "GlobalAveragePooling1D", [8], inbound=["block"])]
    dump = write_synthetic(tmp_path / "d", layers, epochs=1, count=1)
    plan = _plan(dump)
    assert [lp.name for lp in plan.layers] == ["ids", "emb", "block/ln", "pool"]
    links = [g for g in plan.edges if g.kind == "link"]
    assert not links or all("block" != lp for g in links for lp in (g.source, g.target))
