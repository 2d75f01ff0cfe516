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

REFS = Path(__file__).parent / "refs"

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
    frame = _frame(ref_plan, which)
    img = images.load(render_to(built, frame, tmp_path / "frame.png"))
    assert img.shape == (54, 96, 3)
    images.check_ref(img, f"{engine}_{which}.png", regen_refs, ref_plan, frame, tmp_path)


def _erase(img, region, background):
    out = img.copy()
    r0, r1, c0, c1 = region.box
    out[r0:r1, c0:c1] = background
    return out


@pytest.mark.parametrize("which", ["first", "last"])
def test_reference_check_fails_on_small_losses(which: str, ref_plan: ScenePlan,
                                               images) -> None:
    """The check that guards every reference: a frame missing its caption, any one label,
    the 10-neuron output column or the input map must fail it; noise must not."""
    ref = images.load(REFS / f"cycles_{which}.png")
    frame = _frame(ref_plan, which)
    regions = images.regions(ref_plan, frame, ref.shape[1], ref.shape[0])
    background = images.srgb(ref_plan.look.background)
    assert images.compare(ref, ref, regions, background) == []
    rng = np.random.default_rng(0)
    noisy = np.clip(ref + rng.normal(0, 1.5 / 255, ref.shape), 0, 1)
    flips = rng.choice(ref.shape[0] * ref.shape[1], 8, replace=False)
    noisy.reshape(-1, 3)[flips] = 1 - noisy.reshape(-1, 3)[flips]
    assert images.compare(noisy, ref, regions, background) == []
    by_name = {r.name: r for r in regions}
    caption = [r for r in regions if r.name.startswith("caption")]
    labels = [r for r in regions if r.name.startswith("label")]
    assert len(caption) == 1 and len(labels) == len(ref_plan.labels) >= 5
    for region in [*caption, *labels, by_name["layer output"], by_name["layer input"]]:
        problems = images.compare(_erase(ref, region, background), ref, regions, background)
        assert problems, f"erasing {region.name} passed the reference check"
        assert any(region.name in p for p in problems), problems
