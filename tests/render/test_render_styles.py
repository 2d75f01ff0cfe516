"""A still of the demo-shaped network in each style, against stored references, plus the
properties each style promises (white paper, glowing talk, blurred cinematic background).

Regenerate after an intended change with ``pytest tests/render --regen-refs`` and look at
``tests/render/refs/style_*.png`` before keeping them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnrender.blender.render import render_to
from nnrender.plan import ScenePlan

pytestmark = pytest.mark.render

STYLES = ("paper", "talk", "cinematic")
SIZE = {"resolution": [192, 108], "samples": 8, "denoise": "off"}


@pytest.fixture(scope="module")
def style_plan(plan_factory):
    make = plan_factory(8)
    cache: dict[tuple, ScenePlan] = {}

    def get(style: str, **sections: dict) -> ScenePlan:
        key = (style, repr(sorted(sections.items())))
        if key not in cache:
            cache[key] = make({"style": style, "render": SIZE, **sections})
        return cache[key]

    return get


def _still(plan: ScenePlan, engine: str, scenes, images, path: Path) -> np.ndarray:
    built = scenes.get(plan, engine)
    return images.load(render_to(built, plan.timeline.last_frame, path))


@pytest.mark.parametrize("style", STYLES)
def test_style_still_matches_reference(style, style_plan, scenes, images, regen_refs,
                                       tmp_path):
    plan = style_plan(style)
    img = _still(plan, "cycles", scenes, images, tmp_path / "f.png")
    assert img.shape == (108, 192, 3)
    images.check_ref(img, f"style_{style}_cycles.png", regen_refs, plan,
                     plan.timeline.last_frame, tmp_path)


def test_paper_is_white_and_talk_dark_with_readable_network(style_plan, scenes, images,
                                                            tmp_path):
    paper = _still(style_plan("paper"), "cycles", scenes, images, tmp_path / "p.png")
    talk = _still(style_plan("talk"), "cycles", scenes, images, tmp_path / "t.png")
    assert paper[:4, :4].min() > 0.97, "paper: white background"
    assert talk[:4, :4].max() < 0.16, "talk: dark background"
    for img, plan in ((paper, style_plan("paper")), (talk, style_plan("talk"))):
        fg = images.foreground(img, plan)
        assert 0.08 < fg.mean() < 0.8, "the network fills a good part of the frame"


def test_talk_glow_lights_up_the_background_around_maps(style_plan, scenes, images, tmp_path):
    glow = _still(style_plan("talk"), "cycles", scenes, images, tmp_path / "g.png")
    flat = _still(style_plan("talk", look={"glow": 0.0}), "cycles", scenes, images,
                  tmp_path / "n.png")
    background = ~images.foreground(flat, style_plan("talk"), tol=0.02)
    assert background.mean() > 0.2
    assert glow[background].mean() > flat[background].mean() + 0.004, "bloom spills light"


def test_cinematic_depth_of_field_blurs_the_network(style_plan, scenes, images, tmp_path):
    plan = style_plan("cinematic")
    dof = _still(plan, "cycles", scenes, images, tmp_path / "d.png")
    sharp = _still(style_plan("cinematic", camera={"fstop": None}), "cycles", scenes, images,
                   tmp_path / "s.png")
    fg = images.foreground(sharp, plan)
    diff = np.abs(dof - sharp).max(axis=-1)
    assert diff[fg].mean() > 4 / 255, "out-of-focus layers change"


def test_legend_adds_a_colour_bar_in_the_lower_right(style_plan, scenes, images, tmp_path):
    plan = style_plan("paper")
    assert plan.legend is not None
    with_bar = _still(plan, "cycles", scenes, images, tmp_path / "l.png")
    without = _still(style_plan("paper", look={"legend": False}), "cycles", scenes, images,
                     tmp_path / "n.png")
    changed = np.abs(with_bar - without).max(axis=-1) > 0.1
    h, w = changed.shape
    assert changed[h // 2:, w // 2:].sum() > 20, "the bar is drawn in the lower right"
    assert changed[h // 2:, w // 2:].sum() > 4 * changed[:h // 2, :w // 2].sum()
    # the bar shows the colour map: its brightest and darkest entries both appear
    region = with_bar[h // 2:, w // 2:][changed[h // 2:, w // 2:]]
    assert region.max(axis=-1).max() - region.max(axis=-1).min() > 0.4


@pytest.mark.parametrize("style", STYLES)
def test_every_style_renders_in_workbench(style, style_plan, scenes, images, tmp_path):
    plan = style_plan(style)
    img = _still(plan, "workbench", scenes, images, tmp_path / "w.png")
    fg = images.foreground(img, plan)
    assert 0.05 < fg.mean() < 0.9


def test_talk_renders_in_eevee(style_plan, scenes, images, tmp_path):
    """Eevee runs on software GL here (slow): one tiny still, checked for content."""
    plan = style_plan("talk", render={**SIZE, "resolution": [96, 54], "samples": 2})
    img = _still(plan, "eevee", scenes, images, tmp_path / "e.png")
    fg = images.foreground(img, plan)
    assert 0.05 < fg.mean() < 0.9
    assert img.max() > 0.5, "maps glow"


def test_reference_check_fails_without_the_legend(style_plan, images) -> None:
    """The paper reference's colour bar is small; a still without it must fail the check."""
    plan = style_plan("paper")
    ref = images.load(Path(__file__).parent / "refs" / "style_paper_cycles.png")
    regions = images.regions(plan, plan.timeline.last_frame, ref.shape[1], ref.shape[0])
    background = images.srgb(plan.look.background)
    assert images.compare(ref, ref, regions, background) == []
    legend = next(r for r in regions if r.name == "legend")
    r0, r1, c0, c1 = legend.box
    erased = ref.copy()
    erased[r0:r1, c0:c1] = background
    problems = images.compare(erased, ref, regions, background)
    assert any("legend" in p for p in problems), problems
