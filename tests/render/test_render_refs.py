"""Tiny renders against stored references (tests/render/refs/*.png).

Regenerate after an intended change of the look with ``pytest tests/render --regen-refs``
(or ``NNRENDER_REGEN_REFS=1 pytest ...``), then look at the new images before keeping them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnrender.blender.render import render_to
from nnrender.plan import ScenePlan

pytestmark = pytest.mark.render

REFS = Path(__file__).parent / "refs"
MEAN_TOL = 3 / 255  # mean over all pixels of the largest channel difference
P99_TOL = 40 / 255  # 99th percentile: a few noisy or edge pixels may flip, not whole areas


@pytest.fixture(scope="module")
def ref_plan(tiny_plan) -> ScenePlan:
    """The full look: orbiting camera, labels and epoch captions."""
    return tiny_plan()


def _check(img: np.ndarray, name: str, regen: bool, images) -> None:
    path = REFS / name
    if regen:
        images.save(img, path)
        return
    if not path.is_file():
        pytest.fail(f"no reference {path}; create it with: pytest tests/render --regen-refs")
    ref = images.load(path)
    assert img.shape == ref.shape, f"{name}: size {img.shape} vs reference {ref.shape}"
    diff = np.abs(img - ref).max(axis=-1)
    mean, p99 = float(diff.mean()), float(np.percentile(diff, 99))
    assert mean < MEAN_TOL and p99 < P99_TOL, (
        f"{name}: mean diff {mean * 255:.2f}/255, 99th percentile {p99 * 255:.1f}/255 "
        f"(limits {MEAN_TOL * 255:.0f} and {P99_TOL * 255:.0f}); if the change is intended, "
        "rerun with --regen-refs")


def _frame(plan: ScenePlan, which: str) -> int:
    tl = plan.timeline
    if which == "first":
        return tl.first_frame
    if which == "last":
        return tl.last_frame
    hold_end0 = tl.frame_of_epoch(0) + tl.hold_frames - 1
    return (hold_end0 + tl.frame_of_epoch(1)) // 2  # half-way through the first blend


@pytest.mark.parametrize(("engine", "which"), [
    ("cycles", "first"),
    ("cycles", "blend"),
    ("cycles", "last"),
    ("workbench", "first"),
    ("workbench", "last"),
])
def test_matches_reference(engine: str, which: str, ref_plan: ScenePlan, scenes, images,
                           regen_refs: bool, tmp_path: Path) -> None:
    built = scenes.get(ref_plan, engine)
    img = images.load(render_to(built, _frame(ref_plan, which), tmp_path / "frame.png"))
    assert img.shape == (54, 96, 3)
    _check(img, f"{engine}_{which}.png", regen_refs, images)
