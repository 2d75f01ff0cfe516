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

REFS = Path(__file__).parent / "refs"


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
    def check_ref(img: np.ndarray, name: str, regen: bool) -> None:
        """Compare with ``refs/<name>`` (or rewrite it): the mean of the largest channel
        difference under 3/255, its 99th percentile under 40/255 (a few noisy or edge pixels
        may flip, not whole areas)."""
        path = REFS / name
        if regen:
            Images.save(img, path)
            return
        if not path.is_file():
            pytest.fail(f"no reference {path}; create it with: pytest tests/render --regen-refs")
        ref = Images.load(path)
        assert img.shape == ref.shape, f"{name}: size {img.shape} vs reference {ref.shape}"
        diff = np.abs(img - ref).max(axis=-1)
        mean, p99 = float(diff.mean()), float(np.percentile(diff, 99))
        assert mean < 3 / 255 and p99 < 40 / 255, (
            f"{name}: mean diff {mean * 255:.2f}/255, 99th percentile {p99 * 255:.1f}/255 "
            "(limits 3 and 40); if the change is intended, rerun with --regen-refs")

    @staticmethod
    def curve_mask(plan: ScenePlan, curves: np.ndarray, width: int, height: int, grow: int,
                   azimuth: float | None = None) -> np.ndarray:
        """Pixels within ``grow`` of where polylines ``curves`` ((S, 3) or (N, S, 3)) project,
        each segment densified so the mask has no gaps."""
        cam = plan.camera
        view = cam.view(cam.azimuth_start if azimuth is None else azimuth, width, height)
        pts = np.asarray(curves, dtype=np.float64).reshape(-1, np.shape(curves)[-2], 3)
        t = np.linspace(0.0, 1.0, 64)[None, None, :, None]
        dense = (pts[:, :-1, None] * (1 - t) + pts[:, 1:, None] * t).reshape(-1, 3)
        x, y, _ = view.project(dense)
        col = np.floor(width / 2 + x).astype(int)
        row = np.floor(height / 2 - y).astype(int)
        ok = (col >= 0) & (col < width) & (row >= 0) & (row < height)
        mask = np.zeros((height, width), dtype=bool)
        mask[row[ok], col[ok]] = True
        for _ in range(grow):
            m = mask.copy()
            m[1:] |= mask[:-1]
            m[:-1] |= mask[1:]
            m[:, 1:] |= mask[:, :-1]
            m[:, :-1] |= mask[:, 1:]
            mask = m
        return mask

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
