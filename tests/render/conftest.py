"""Fixtures for tiny renders of a synthetic network.

``--regen-refs`` (declared in tests/conftest.py) or ``NNRENDER_REGEN_REFS=1`` rewrites the
reference images instead of comparing against them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnrender.plan import ScenePlan


@pytest.fixture(scope="session")
def regen_refs(request: pytest.FixtureRequest) -> bool:
    flag = bool(request.config.getoption("--regen-refs", default=False))
    return flag or os.environ.get("NNRENDER_REGEN_REFS", "") not in ("", "0")


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
def tiny_plan(plan_factory):
    """Factory: a plan of the synthetic dump at 96x54, 4 samples, with config overrides."""
    return plan_factory(4)
