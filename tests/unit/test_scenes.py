"""The bundled scenes (scenes/*.yaml) load by name and plan what their comments promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnrender.config.bundled import names, resolve, scene_file
from nnrender.config.load import load_config
from nnrender.errors import ConfigError
from nnrender.model.ir import Dump, LayerInfo
from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.plan import make_plan

MLP = (784, 81, 49, 10)


def test_every_bundled_scene_is_found_by_name_and_validates(tmp_path: Path) -> None:
    assert {"demo", "mlp_bundled", "resnet50_paper"} <= set(names("scene"))
    for name in names("scene"):
        path = scene_file(name)
        assert path == resolve("scene", name) and path.is_file()
        config, base = load_config(path, {"dump": str(tmp_path)})
        assert config.output.name and base == path.parent
    # a path is a path, even where a bundled scene has its name
    assert scene_file("demo.yaml") == Path("demo.yaml")
    assert scene_file(tmp_path / "demo") == tmp_path / "demo"
    with pytest.raises(ConfigError, match="unknown scene 'nope'.*demo"):
        resolve("scene", "nope")


@pytest.fixture(scope="module")
def mlp_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layers = [LayerInfo("input", "InputLayer", [MLP[0]])]
    for n, name in zip(MLP[1:], ("dense81", "dense49", "output"), strict=True):
        layers.append(LayerInfo(name, "Dense", [n], inbound=[layers[-1].name]))
    return write_synthetic(tmp_path_factory.mktemp("mlp") / "d", layers, epochs=2,
                           with_weights=True)


def test_mlp_scene_draws_every_edge_bundled(mlp_dump: Path) -> None:
    config, _ = load_config(resolve("scene", "mlp_bundled"), {"dump": str(mlp_dump)}, "draft")
    assert config.edges.refine
    plan = make_plan(Dump(mlp_dump), config)
    counts = {g.name: g.count for g in plan.edges if g.kind == "dense"}
    assert counts == {"input->dense81": 784 * 81, "dense81->dense49": 81 * 49,
                      "dense49->output": 49 * 10}
    assert plan.legend is not None and plan.bloom is not None  # the talk style


def test_resnet50_paper_scene_is_a_flat_white_figure(tmp_path: Path) -> None:
    dump = write_synthetic(tmp_path / "cnn", cnn_layers(channels=(16, 32)), epochs=2,
                           with_weights=True)
    config, _ = load_config(resolve("scene", "resnet50_paper"), {"dump": str(dump)}, "draft")
    plan = make_plan(Dump(dump), config)
    assert plan.camera.projection == "orthographic"
    assert plan.look.background == (1.0, 1.0, 1.0) and plan.legend is not None
    assert plan.captions == []
    shown = {lp.name: int((lp.sources >= 0).sum()) for lp in plan.layers}
    assert shown["conv1"] == 8 and shown["conv2"] == 8  # 8 of 16 and 8 of 32 maps
    assert any(g.kind == "channel" for g in plan.edges)
