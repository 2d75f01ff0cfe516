"""Fixtures for tiny renders of a synthetic network.

``--regen-refs`` (declared in tests/conftest.py) or ``NNRENDER_REGEN_REFS=1`` rewrites the
reference images instead of comparing against them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from nnrender.runtime import isolate_home

isolate_home()

import bpy  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from nnrender.blender.build import BuiltScene, build  # noqa: E402
from nnrender.config.load import load_config  # noqa: E402
from nnrender.model.ir import Dump  # noqa: E402
from nnrender.model.synthetic import cnn_layers, write_synthetic  # noqa: E402
from nnrender.plan import ScenePlan, make_plan  # noqa: E402


@pytest.fixture(scope="session")
def regen_refs(request: pytest.FixtureRequest) -> bool:
    flag = bool(request.config.getoption("--regen-refs", default=False))
    return flag or os.environ.get("NNRENDER_REGEN_REFS", "") not in ("", "0")


def _tiny_plan(dump: Path, **overrides: dict) -> ScenePlan:
    layer: dict = {"render": {"resolution": [96, 54], "samples": 4, "denoise": "off"}}
    for key, value in overrides.items():
        layer[key] = {**layer.get(key, {}), **value}
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
            return self._built.scene == bpy.context.scene
        except ReferenceError:
            return False

    def get(self, plan: ScenePlan, engine: str) -> BuiltScene:
        key = (id(plan), engine)
        if self._key != key or not self._alive():
            self._built = build(plan, engine)
            self._key = key
        return self._built


_CACHE = SceneCache()


@pytest.fixture(scope="session")
def scenes() -> SceneCache:
    return _CACHE


@pytest.fixture(scope="session")
def synthetic_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNN-shaped dump with 3 recorded epochs (0, 1, 2), made with numpy only."""
    return write_synthetic(tmp_path_factory.mktemp("dump") / "dump", cnn_layers(), epochs=3)


class Images:
    """Pixel helpers for the render tests (a fixture, so no test imports conftest)."""

    @staticmethod
    def load(path: Path) -> np.ndarray:
        """(h, w, 3) float in 0..1."""
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0

    @staticmethod
    def save(img: np.ndarray, path: Path) -> None:
        """8-bit RGB PNG without Blender's metadata, so a reference's bytes stay stable."""
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rint(img * 255).astype(np.uint8), "RGB").save(path, optimize=True)

    @staticmethod
    def srgb(lin: np.ndarray) -> np.ndarray:
        lin = np.clip(np.asarray(lin, dtype=np.float64), 0, 1)
        return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)

    @staticmethod
    def linear(s: np.ndarray) -> np.ndarray:
        return np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)

    @staticmethod
    def foreground(img: np.ndarray, plan: ScenePlan, tol: float = 10 / 255) -> np.ndarray:
        """Pixels that differ from the world colour (the network, its labels, captions)."""
        bg = Images.srgb(plan.look["background"])
        return np.abs(img - bg).max(axis=-1) > tol


@pytest.fixture(scope="session")
def images() -> type[Images]:
    return Images


@pytest.fixture(scope="session")
def tiny_plan(synthetic_dump: Path):
    """Factory: a plan of the synthetic dump at 96x54, 4 samples, with config overrides."""
    return lambda **overrides: _tiny_plan(synthetic_dump, **overrides)
