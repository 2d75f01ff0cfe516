"""Tiny renders against stored references (tests/render/refs/*.png).

Regenerate after an intended change of the look with ``pytest tests/render --regen-refs``
(or ``NNRENDER_REGEN_REFS=1 pytest ...``), then look at the new images before keeping them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nnrender.blender.render import render_to
from nnrender.plan import ScenePlan

pytestmark = pytest.mark.render



@pytest.fixture(scope="module")
def ref_plan(tiny_plan) -> ScenePlan:
    """The full look: orbiting camera, labels and epoch captions."""
    return tiny_plan()


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
    images.check_ref(img, f"{engine}_{which}.png", regen_refs)
