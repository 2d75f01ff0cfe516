"""Workbench: the fast preview engine renders the realised mesh with its refilled image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnrender.blender.render import render_to
from nnrender.plan import ScenePlan

pytestmark = pytest.mark.render


@pytest.fixture(scope="module")
def wb_plan(tiny_plan) -> ScenePlan:
    return tiny_plan(camera={"orbit": 0}, labels={"epoch_caption": False})


def test_workbench_frames_not_blank_and_follow_the_epoch(wb_plan: ScenePlan, scenes, images,
                                                         tmp_path: Path) -> None:
    built = scenes.get(wb_plan, "workbench")
    assert built.scene.render.engine == "BLENDER_WORKBENCH"
    first = images.load(render_to(built, wb_plan.timeline.first_frame, tmp_path / "a.png"))
    last = images.load(render_to(built, wb_plan.timeline.last_frame, tmp_path / "b.png"))
    for img in (first, last):
        assert img.shape == (54, 96, 3)
        assert img.std() > 0.05
        assert images.foreground(img, wb_plan).mean() > 0.15
    region = images.foreground(first, wb_plan) | images.foreground(last, wb_plan)
    diff = np.abs(first - last).max(axis=-1)
    assert diff[region].mean() > 6 / 255
    assert diff[~region].mean() < 1 / 255
    again = images.load(render_to(built, wb_plan.timeline.first_frame, tmp_path / "c.png"))
    np.testing.assert_array_equal(first, again)  # update_frame put epoch 0 back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]
