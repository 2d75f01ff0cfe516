import json
import math
import warnings

import numpy as np
import pytest

from nnrender import colormaps
from nnrender.config.load import load_config
from nnrender.errors import ConfigError
from nnrender.layout.camera import basis, half_tangents, offset_direction
from nnrender.model.ir import Dump, LayerInfo
from nnrender.model.synthetic import write_synthetic
from nnrender.plan import make_plan


def test_one_cell_per_map_and_neuron(dump, config):
    plan = make_plan(dump, config)
    counts = {lp.name: len(lp.centers) for lp in plan.layers}
    assert counts == {"input": 1, "conv1": 16, "pool1": 16, "conv2": 32, "pool2": 32,
                      "flatten": 128, "dense1": 64, "output": 10}
    assert plan.cell_count == sum(counts.values())
    for lp in plan.layers:
        assert lp.sizes.shape == lp.centers.shape == (len(lp.centers), 3)
        assert lp.tiles.shape == (len(lp.centers), 4)


def test_no_two_cells_of_a_layer_overlap_and_layers_do_not_overlap(dump, config):
    plan = make_plan(dump, config)
    for lp in plan.layers:
        c, s = lp.centers, lp.sizes
        for i in range(len(c)):
            others = np.abs(c[i] - c) < (s[i] + s) / 2 - 1e-9
            hits = np.flatnonzero(np.all(others, axis=1))
            assert list(hits) == [i], f"{lp.name} cell {i} overlaps {hits}"
    spans = [((lp.centers - lp.sizes / 2)[:, 0].min(), (lp.centers + lp.sizes / 2)[:, 0].max())
             for lp in plan.layers]
    for (_, a1), (b0, _) in zip(spans, spans[1:], strict=False):
        assert a1 < b0, "layers must follow each other along +X without overlap"


def test_slab_size_follows_spatial_shape(dump, config):
    plan = make_plan(dump, config)
    by = {lp.name: lp for lp in plan.layers}
    assert by["conv1"].sizes[0, 2] > by["pool1"].sizes[0, 2] > by["pool2"].sizes[0, 2]
    assert by["conv1"].sizes[0, 0] < by["conv1"].sizes[0, 2] / 5, "slabs are thin"
    assert np.allclose(by["dense1"].sizes, by["dense1"].sizes[0]), "neurons are equal cubes"


def test_labels_name_every_layer(dump, config):
    plan = make_plan(dump, config)
    assert [lab.layer for lab in plan.labels] == [lp.name for lp in plan.layers]
    conv1 = next(lab for lab in plan.labels if lab.layer == "conv1")
    assert conv1.text.splitlines() == ["conv1", "8×8×16"]
    top = max((lp.centers + lp.sizes / 2)[:, 2].max() for lp in plan.layers if lp.name == "conv1")
    assert conv1.position[2] > top


def test_normalisation_fixed_across_epochs(dump, config):
    """A pixel's colour is the layer's activation through ONE (low, high) at every epoch."""
    plan = make_plan(dump, config)
    i = [lp.name for lp in plan.layers].index("conv2")
    lp = plan.layers[i]
    lo, hi = lp.norm
    values = np.concatenate([dump.activations(e, i).ravel() for e in range(4)])
    assert lo == pytest.approx(np.percentile(values, 0.5))
    assert hi == pytest.approx(np.percentile(values, 99.5))
    x, y, w, h = lp.tiles[5]
    for e in range(4):
        act = dump.activations(e, i)[config.sample][..., 5]
        expected = colormaps.apply("viridis", (act - lo) / (hi - lo))
        tile = plan.atlas.blocks[lp.page][e][y:y + h, x:x + w, :3]
        np.testing.assert_array_equal(tile, expected)
    assert not np.array_equal(plan.atlas.blocks[0][0], plan.atlas.blocks[0][3])


def test_plan_is_json_serialisable(dump, config, tmp_path):
    plan = make_plan(dump, config)
    path = plan.save(tmp_path)
    data = json.loads(path.read_text())
    assert data["format"] == "nnrender-plan"
    assert len(data["layers"]) == 8 and len(data["labels"]) == 8
    assert data["atlas"]["pages"][0]["width"] == plan.atlas.layout.pages[0].width
    assert data["timeline"]["keys"][0] == [1, 0.0]


def test_epoch_subset_and_bad_epoch(dump_path):
    cfg, _ = load_config(None, {"epochs": [0, 3]})
    plan = make_plan(Dump(dump_path), cfg)
    assert plan.epochs == [0, 3] and plan.atlas.blocks[0].shape[0] == 2
    cfg, _ = load_config(None, {"epochs": [0, 7]})
    with pytest.raises(ConfigError, match=r"epochs: \[7\] not in the dump"):
        make_plan(Dump(dump_path), cfg, "s.yaml")
    cfg, _ = load_config(None, {"sample": 9})
    with pytest.raises(ConfigError, match="sample: 9"):
        make_plan(Dump(dump_path), cfg, "s.yaml")


def test_camera_keeps_everything_in_frame(dump, config):
    plan = make_plan(dump, config)
    pts = np.concatenate([np.concatenate([lp.centers - lp.sizes / 2, lp.centers + lp.sizes / 2])
                          for lp in plan.layers])
    cam = plan.camera
    tx, ty = half_tangents(cam.lens, *config.render.resolution)
    for az in np.linspace(cam.azimuth_start, cam.azimuth_end, 7):
        d = offset_direction(az, cam.elevation)
        pos = np.array(cam.target) + d * cam.distance
        right, up, fwd = basis(d)
        rel = pts - pos
        depth = rel @ fwd
        assert np.all(depth > 0)
        assert np.all(np.abs(rel @ right) / depth <= tx * 1.0001)
        assert np.all(np.abs(rel @ up) / depth <= ty * 1.0001)
        # and it is not framed loosely: something reaches near an edge
        assert max(np.max(np.abs(rel @ right) / depth) / tx,
                   np.max(np.abs(rel @ up) / depth) / ty) > 0.8


def test_unsupported_rank_is_a_labelled_placeholder(tmp_path, config):
    layers = [LayerInfo("input", "InputLayer", [8, 8, 1]),
              LayerInfo("lstm", "Odd", [2, 2, 2, 2, 2], inbound=["input"]),
              LayerInfo("out", "Dense", [3], inbound=["lstm"])]
    path = write_synthetic(tmp_path / "p", layers, epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one channel: the plan's warnings, not Python's
        plan = make_plan(Dump(path), config)
    lp = plan.layers[1]
    assert lp.placeholder and len(lp.centers) == 1
    assert any(lab.layer == "lstm" for lab in plan.labels)
    assert plan.warnings and "placeholder" in plan.warnings[0] and "lstm" in plan.warnings[0]


def test_large_maps_are_downsampled_to_the_tile_cap(tmp_path):
    layers = [LayerInfo("input", "InputLayer", [100, 60, 3]),
              LayerInfo("c", "Conv2D", [100, 60, 8], inbound=["input"])]
    path = write_synthetic(tmp_path / "big", layers, epochs=1, count=1)
    cfg, _ = load_config(None, {"look": {"max_tile": 32}})
    plan = make_plan(Dump(path), cfg)
    assert plan.atlas.layout.factor[1] == math.ceil(100 / 32)
    assert tuple(plan.layers[1].tiles[0, 2:]) == (15, 25)


def test_reduced_layers_draw_the_kept_maps_at_the_true_size(tmp_path, config):
    """A dump that kept 4 of 32 maps, block-averaged to 4x4, shows 4 slabs of 8x8 size."""
    layers = [LayerInfo("input", "InputLayer", [8, 8, 1]),
              LayerInfo("conv", "Conv2D", [8, 8, 32], inbound=["input"], stored_shape=[4, 4, 4],
                        channels=[0, 10, 20, 31])]
    plan = make_plan(Dump(write_synthetic(tmp_path / "r", layers, epochs=2)), config)
    conv = plan.layers[1]
    assert len(conv.centers) == 4
    assert tuple(conv.tiles[0, 2:]) == (4, 4)  # tile pixels: the stored maps
    full = make_plan(Dump(write_synthetic(tmp_path / "f", [layers[0], LayerInfo(
        "conv", "Conv2D", [8, 8, 32], inbound=["input"])], epochs=2)), config)
    np.testing.assert_allclose(conv.sizes[0], full.layers[1].sizes[0])  # world size: 8x8
    label = next(lab for lab in plan.labels if lab.layer == "conv")
    assert label.text.splitlines()[1] == "8×8×32 (4 of 32)"
