"""Fixtures for the bpy.data checks: one synthetic dump and plan per session, scenes cached.

``isolate_home`` runs before bpy is imported, so Blender never touches the real $HOME.
``build`` resets Blender (read_factory_settings), so every built scene goes through
``scenes.get``, which rebuilds whenever another test replaced the Blender state.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from nnrender.runtime import isolate_home

isolate_home()

import bpy  # noqa: E402
import pytest  # noqa: E402

from nnrender.blender.build import BuiltScene, build  # noqa: E402
from nnrender.config.load import load_config  # noqa: E402
from nnrender.model.ir import Dump  # noqa: E402
from nnrender.model.synthetic import cnn_layers, write_synthetic  # noqa: E402
from nnrender.plan import ScenePlan, make_plan  # noqa: E402

TINY = {"render": {"resolution": [96, 54], "samples": 2}}


def make_tiny_plan(dump: Path, overrides: dict | None = None) -> ScenePlan:
    layer = {key: dict(value) for key, value in TINY.items()}
    for key, value in (overrides or {}).items():
        layer[key] = {**layer[key], **value} if isinstance(value, dict) and key in layer else value
    config, _ = load_config(None, layer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_plan(Dump(dump), config)


class SceneCache:
    """The BuiltScene last built per (plan, engine), valid while Blender still holds it."""

    def __init__(self) -> None:
        self._key: tuple[int, str] | None = None
        self._built: BuiltScene | None = None

    def _alive(self) -> bool:
        if self._built is None:
            return False
        try:
            self._built.scene.name  # noqa: B018 - raises once Blender freed the scene
            return self._built.scene == bpy.context.scene
        except ReferenceError:
            return False

    def get(self, plan: ScenePlan, engine: str) -> BuiltScene:
        key = (id(plan), engine)
        if self._key != key or not self._alive():
            self._built = build(plan, engine)
            self._key = key
        return self._built

    def forget(self) -> None:
        self._key = self._built = None


_CACHE = SceneCache()


@pytest.fixture(scope="session")
def synthetic_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNN-shaped dump with 3 recorded epochs (0, 1, 2), made with numpy only."""
    return write_synthetic(tmp_path_factory.mktemp("dump") / "dump", cnn_layers(), epochs=3)


@pytest.fixture(scope="session")
def plan(synthetic_dump: Path) -> ScenePlan:
    """3 epochs, default timings and camera, labels and captions on."""
    return make_tiny_plan(synthetic_dump)


@pytest.fixture(scope="session")
def tiny_plan(synthetic_dump: Path):
    """Factory: a plan of the synthetic dump at 96x54, 2 samples, with config overrides."""
    return lambda overrides=None: make_tiny_plan(synthetic_dump, overrides)


@pytest.fixture(scope="session")
def scenes() -> SceneCache:
    return _CACHE


@pytest.fixture
def cycles_scene(plan: ScenePlan, scenes: SceneCache) -> BuiltScene:
    return scenes.get(plan, "cycles")


@pytest.fixture
def workbench_scene(plan: ScenePlan, scenes: SceneCache) -> BuiltScene:
    return scenes.get(plan, "workbench")
