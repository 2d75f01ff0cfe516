"""Per-layer layout styles, animated arrangements, labels and looks in the plan."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nnrender import colormaps
from nnrender.config.load import load_config
from nnrender.errors import ConfigError
from nnrender.layout import network
from nnrender.model.ir import Dump, LayerInfo
from nnrender.model.synthetic import write_synthetic
from nnrender.plan import make_plan


def _plan(dump, **layer):
    cfg, _ = load_config(None, {"render": {"resolution": [320, 180]}, **layer})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_plan(dump, cfg, "scene.yaml")


def _by(plan):
    return {lp.name: lp for lp in plan.layers}


def _tile(plan, lp, cell, slot=0):
    x, y, w, h = (int(v) for v in lp.tiles[cell])
    return plan.atlas.blocks[lp.page][slot][y:y + h, x:x + w]


def test_show_k_draws_k_maps_and_an_ellipsis(dump):
    plan = _plan(dump, layout={"layers": {"conv*": {"show": 4}}})
    conv2 = _by(plan)["conv2"]
    real = conv2.sources[conv2.sources >= 0]
    assert len(real) == 4 and real[0] == 0 and real[-1] == 31
    assert np.count_nonzero(conv2.sources == network.ELLIPSIS) >= 1
    assert len(_by(plan)["pool2"].centers) == 32, "pool2 does not match conv*"
    label = next(lab for lab in plan.labels if lab.layer == "conv2")
    assert "(4 of 32)" in label.text
    # the shown maps carry the right channel's pixels
    i = [lp.name for lp in plan.layers].index("conv2")
    act = dump.activations(0, i)[0][..., real[-1]]
    lo, hi = conv2.norm
    cell = int(np.flatnonzero(conv2.sources == real[-1])[0])
    np.testing.assert_array_equal(_tile(plan, conv2, cell)[..., :3],
                                  colormaps.apply("viridis", (act - lo) / (hi - lo)))


def test_fold_shows_the_mean_map_with_its_own_range(dump):
    plan = _plan(dump, layout={"layers": {"conv1": {"arrange": "fold"}}})
    conv1 = _by(plan)["conv1"]
    assert list(conv1.sources) == [network.SUMMARY_MEAN]
    i = [lp.name for lp in plan.layers].index("conv1")
    means = np.concatenate([dump.activations(e, i).mean(axis=-1).ravel() for e in range(4)])
    lo, hi = np.percentile(means, [0.5, 99.5])
    mean0 = dump.activations(0, i)[0].mean(axis=-1)
    expected = colormaps.apply("viridis", (mean0 - lo) / (hi - lo))
    diff = np.abs(_tile(plan, conv1, 0)[..., :3].astype(int) - expected.astype(int))
    assert diff.max() <= 1


def test_fold_max(dump):
    plan = _plan(dump, layout={"layers": {"pool1": {"arrange": "fold", "summary": "max"}}})
    assert list(_by(plan)["pool1"].sources) == [network.SUMMARY_MAX]


def test_animated_arrangement_keys_and_positions(dump):
    plan = _plan(dump, layout={"layers": {"conv2": {
        "arrange": "grid", "changes": [{"at": 0.5, "arrange": "circle", "over": 0.5},
                                       {"at": 1.2, "arrange": "fold", "over": 0.25}]}}})
    lp = _by(plan)["conv2"]
    fps = plan.timeline.fps
    assert lp.stages == ["grid", "circle", "fold"]
    assert lp.stage_centers.shape[0] == 3 and lp.stage_centers.shape[1] == len(lp.centers)
    def f(seconds: float) -> float:
        return 1.0 + round(seconds * fps)

    assert lp.stage_keys == [(1.0, 0.0), (f(0.5), 0.0), (f(1.0), 1.0), (f(1.2), 1.0),
                             (f(1.45), 2.0)]
    c0, _ = lp.at(1)
    np.testing.assert_allclose(c0, lp.stage_centers[0])
    c1, _ = lp.at(1 + 1.1 * fps)
    np.testing.assert_allclose(c1, lp.stage_centers[1], atol=1e-12)
    mid, _ = lp.at((f(0.5) + f(1.0)) / 2)  # half-way through a smoothstep: the mean of the two
    np.testing.assert_allclose(mid, (lp.stage_centers[0] + lp.stage_centers[1]) / 2, atol=1e-9)
    _, s2 = lp.at(plan.timeline.last_frame)
    visible = np.any(s2 > 0, axis=1)
    assert visible.sum() == 1 and lp.sources[visible][0] == network.SUMMARY_MEAN
    assert _by(plan)["conv1"].stage_centers is None, "other layers stay static"


def test_change_after_the_end_is_an_error(dump):
    with pytest.raises(ConfigError, match=r"layout.layers: conv2: changes\[0\]: ends at"):
        _plan(dump, layout={"layers": {"conv2": {"changes": [{"at": 60, "arrange": "line"}]}}})


def test_pattern_matching_no_layer_is_an_error(dump):
    with pytest.raises(ConfigError) as exc:
        _plan(dump, layout={"layers": {"cnov1": {"show": 2}}})
    line = exc.value.line()
    assert "scene.yaml" in line and "layout.layers.cnov1: matches no layer" in line


def test_label_fields_and_per_layer_switch(dump):
    plan = _plan(dump, labels={"fields": ["name", "type", "shape", "params"]},
                 layout={"layers": {"pool*": {"label": False}}})
    by_layer = {lab.layer: lab for lab in plan.labels}
    assert "pool1" not in by_layer and "pool2" not in by_layer
    assert by_layer["conv1"].text.splitlines() == ["conv1", "Conv2D", "8×8×16", "160 params"]


def test_labels_scale_with_the_camera_distance(tmp_path):
    small = write_synthetic(tmp_path / "s", [LayerInfo("input", "InputLayer", [8, 8, 1]),
                                             LayerInfo("c", "Conv2D", [8, 8, 4],
                                                       inbound=["input"])], epochs=1)
    big = write_synthetic(tmp_path / "b", [LayerInfo("input", "InputLayer", [64, 64, 1]),
                                           LayerInfo("c", "Conv2D", [64, 64, 64],
                                                     inbound=["input"])], epochs=1)
    ps, pb = _plan(Dump(small)), _plan(Dump(big))
    ratio_s = ps.labels[0].size / ps.camera.distance
    ratio_b = pb.labels[0].size / pb.camera.distance
    assert pb.labels[0].size > 2 * ps.labels[0].size
    assert ratio_b == pytest.approx(ratio_s, rel=0.25), "same size on screen"


def test_paper_style_plan(dump):
    plan = _plan(dump, style="paper")
    assert plan.look.background == (1.0, 1.0, 1.0)
    assert max(plan.look.label_color) < 0.2, "dark text on white"
    assert plan.legend is not None and plan.legend.colors.shape == (256, 4)
    np.testing.assert_array_equal(plan.legend.colors[:, :3], colormaps.lut("viridis"))
    talk = _plan(dump, style="talk")
    assert min(talk.look.label_color) > 0.8 and talk.look.glow > 0
    cine = _plan(dump, style="cinematic")
    assert cine.camera.fstop is not None
    assert {light.name for light in cine.lights} != {light.name for light in plan.lights}


def test_orthographic_camera(dump):
    plan = _plan(dump, camera={"projection": "orthographic"})
    assert plan.camera.projection == "orthographic" and plan.camera.ortho_scale > 0
    pts = np.concatenate([np.concatenate([lp.centers - lp.sizes / 2, lp.centers + lp.sizes / 2])
                          for lp in plan.layers])
    for az in (plan.camera.azimuth_start, plan.camera.azimuth_end):
        px, py, depth = plan.camera.view(az, 320, 180).project(pts)
        assert np.all(depth > 0)
        assert np.abs(px).max() <= 160 * 1.001 and np.abs(py).max() <= 90 * 1.001


def test_diverging_map_gets_a_symmetric_range(dump):
    plan = _plan(dump, look={"colormap": "coolwarm"})
    for lp in plan.layers:
        if not lp.placeholder:
            assert lp.norm[0] == pytest.approx(-lp.norm[1])
    plan = _plan(dump, look={"colormap": "coolwarm", "norm": "percentile"})
    assert _by(plan)["conv1"].norm[0] >= 0  # ReLU outputs: percentile range starts near 0


def test_long_vectors_are_drawn_as_one_image(tmp_path):
    layers = [LayerInfo("input", "InputLayer", [4, 4, 1]),
              LayerInfo("flat", "Flatten", [1000], inbound=["input"]),
              LayerInfo("out", "Dense", [10], inbound=["flat"])]
    dump = Dump(write_synthetic(tmp_path / "v", layers, epochs=1))
    plan = _plan(dump)
    flat = _by(plan)["flat"]
    assert flat.role == "image" and len(flat.centers) == 1
    rows, cols = int(flat.tiles[0, 3]), int(flat.tiles[0, 2])
    assert rows * cols >= 1000 and cols == 32
    act = dump.activations(0, 1)[0]
    lo, hi = flat.norm
    expected = colormaps.apply("viridis", (act - lo) / (hi - lo))
    tile = _tile(plan, flat, 0)[..., :3].reshape(-1, 3)
    np.testing.assert_array_equal(tile[:1000], expected)


def test_depth_of_field_is_scaled_to_the_network(tmp_path, dump):
    """Blender blurs in metres: the same f-stop must blur a big network as much as a small
    one, so the plan scales it by the camera distance."""
    small = _plan(dump, camera={"fstop": 2.8})
    big_dump = Dump(write_synthetic(tmp_path / "b", [
        LayerInfo("input", "InputLayer", [64, 64, 1]),
        LayerInfo("c", "Conv2D", [64, 64, 64], inbound=["input"])], epochs=1))
    big = _plan(big_dump, camera={"fstop": 2.8})
    assert big.camera.distance > 2 * small.camera.distance
    assert small.camera.fstop * small.camera.distance == pytest.approx(
        big.camera.fstop * big.camera.distance)
    assert _plan(dump).camera.fstop is None
