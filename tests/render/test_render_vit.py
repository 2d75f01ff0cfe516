"""The ViT example (tests/data/vit_digits: ``nnrender demo vit`` trained, cut to 3 epochs
and one input) rendered tiny, against a stored reference: patch tokens on their grid,
attention maps above the attention layers, attention edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnrender.blender.render import render_to
from nnrender.config.bundled import resolve
from nnrender.config.load import load_config
from nnrender.model.ir import Dump
from nnrender.plan import ScenePlan, make_plan

pytestmark = pytest.mark.render

DUMP = Path(__file__).resolve().parents[1] / "data" / "vit_digits"


@pytest.fixture(scope="module")
def vit_plan() -> ScenePlan:
    config, _ = load_config(resolve("scene", "vit_digits"), {
        "dump": str(DUMP), "render": {"resolution": [192, 108], "samples": 8,
                                      "denoise": "off"}})
    return make_plan(Dump(DUMP), config, resolve("scene", "vit_digits"))


def test_vit_example_matches_its_reference(vit_plan: ScenePlan, scenes, images,
                                           regen_refs: bool, tmp_path: Path) -> None:
    roles = [lp.role for lp in vit_plan.layers]
    assert roles.count("attention") == 2 and roles.count("tokens") >= 10
    assert {g.kind for g in vit_plan.edges} >= {"attention", "link"}
    built = scenes.get(vit_plan, "cycles")
    frame = vit_plan.timeline.last_frame
    img = images.load(render_to(built, frame, tmp_path / "vit.png"))
    assert img.shape == (108, 192, 3)
    assert images.foreground(img, vit_plan).mean() > 0.1
    images.check_ref(img, "vit_digits_cycles.png", regen_refs, vit_plan, frame, tmp_path)


def test_vit_epochs_change_the_picture(vit_plan: ScenePlan, scenes, images,
                                       tmp_path: Path) -> None:
    built = scenes.get(vit_plan, "cycles")
    tl = vit_plan.timeline
    first = images.load(render_to(built, tl.frame_of_epoch(0), tmp_path / "a.png"))
    last = images.load(render_to(built, tl.last_frame, tmp_path / "b.png"))
    fg = images.foreground(first, vit_plan) & images.foreground(last, vit_plan)
    assert np.abs(first - last).max(axis=-1)[fg].mean() > 4 / 255, "training shows"
