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


def test_workbench_mid_blend_is_the_linear_mix_of_its_epochs(wb_plan: ScenePlan, scenes,
                                                              images, tmp_path: Path) -> None:
    """Workbench gets its blend from numpy (``update_frame``), not from the shader: the
    rendered mid-blend frame must be the linear-light mix of the two epoch frames, computed
    here from the renders and the sRGB formula, as for Cycles. Without anti-aliasing and
    dithering flat shading shows the texture colours themselves, so it holds to rounding."""
    built = scenes.get(wb_plan, "workbench")
    scene = built.scene
    saved = scene.display.render_aa, scene.render.dither_intensity
    scene.display.render_aa, scene.render.dither_intensity = "OFF", 0.0
    tl = wb_plan.timeline
    hold_end0 = tl.frame_of_epoch(0) + tl.hold_frames - 1
    start1 = tl.frame_of_epoch(1)
    mid = (hold_end0 + start1) // 2
    frac = float(tl.value(mid))
    assert 0.3 < frac < 0.7
    try:
        a, m, b = (images.load(render_to(built, f, tmp_path / f"{k}.png"))
                   for k, f in (("a", hold_end0), ("m", mid), ("b", start1)))
    finally:
        scene.display.render_aa, scene.render.dither_intensity = saved
        built.update_frame(tl.first_frame)
    region = np.abs(a - b).max(axis=-1) > 8 / 255
    assert region.sum() > 200
    predicted = images.srgb((1 - frac) * images.linear(a) + frac * images.linear(b))
    err = np.abs(predicted - m).max(axis=-1)[region]
    assert err.max() < 1.5 / 255
    # a mix of the sRGB values instead would be visibly off
    assert np.abs((1 - frac) * a + frac * b - m).max(axis=-1)[region].mean() > 2 / 255
