"""Tiny renders of hand-made edge groups across empty background: a drawn curve changes the
pixels it projects to and nothing else; a curve whose weight is 0 at the frame draws
nothing; the sign picks the colour (Cycles: the shader reads the weight; Eevee and
Workbench: tubes with a material index by sign)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from nnrender.blender.render import render_to
from nnrender.edges.groups import EdgeGroup
from nnrender.plan import ScenePlan

pytestmark = pytest.mark.render

W, H = 96, 54
SAMPLES = 12
RED, BLUE = (1.0, 0.02, 0.02), (0.02, 0.1, 1.0)


def _line(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    t = np.linspace(0.0, 1.0, SAMPLES)[:, None]
    return (a[None] + t * (b - a)[None]).astype(np.float32)


def _crossing(plan: ScenePlan) -> EdgeGroup:
    """Three thick straight curves from the first layer to the last, clear of the maps:
    above the network (w = +1, red), below it (w = -1, blue) and higher above it (w = 0 at
    epoch 0: not drawn there)."""
    lo = np.concatenate([lp.centers - lp.sizes / 2 for lp in plan.layers]).min(axis=0)
    hi = np.concatenate([lp.centers + lp.sizes / 2 for lp in plan.layers]).max(axis=0)
    span = float(hi[2] - lo[2])
    x0, x1, y = float(lo[0]), float(hi[0]), float((lo[1] + hi[1]) / 2)
    curves = []
    for z in (hi[2] + 0.25 * span, lo[2] - 0.25 * span, hi[2] + 0.6 * span):
        curves.append(_line(np.array([x0, y, z]), np.array([x1, y, z])))
    straight = np.stack(curves)
    weights = np.array([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [0.0, 1.0, 1.0]], np.float32)
    radius = 0.03 * span
    return EdgeGroup("input->output", "link", "input", "output", straight, straight.copy(),
                     weights[:, :plan.timeline.count], radius, radius, 1.0, RED, BLUE)


@pytest.fixture(scope="module")
def crossing_plans(tiny_plan) -> tuple[ScenePlan, ScenePlan]:
    """(without, with) the edges: same camera, nothing that moves or glows around."""
    base = tiny_plan(render={"resolution": [W, H], "samples": 4, "denoise": "off"},
                     camera={"orbit": 0, "margin": 1.6},
                     labels={"show": False, "epoch_caption": False},
                     look={"legend": False, "glow": 0.0})
    return base, dataclasses.replace(base, edges=[_crossing(base)])


@pytest.mark.parametrize("engine", ["cycles", "workbench"])
def test_curves_draw_where_they_project_in_their_sign_colour(engine, crossing_plans, scenes,
                                                             images, tmp_path: Path) -> None:
    off, on = crossing_plans
    frame = on.timeline.frame_of_epoch(0)
    plain = images.load(render_to(scenes.get(off, engine), frame, tmp_path / "off.png"))
    drawn = images.load(render_to(scenes.get(on, engine), frame, tmp_path / "on.png"))
    group = on.edges[0]
    background = ~images.foreground(plain, off)
    diff = np.abs(drawn - plain).max(axis=-1)
    lines = [images.curve_mask(on, group.straight[i], W, H, 0) & background for i in range(3)]
    near = images.curve_mask(on, group.straight[:2], W, H, 2)
    for i in (0, 1):
        assert lines[i].sum() > 20, "the curve crosses empty background in the frame"
        assert np.median(diff[lines[i]]) > 0.25, f"curve {i} is drawn"
    red, blue = (drawn[lines[k]].mean(axis=0) for k in (0, 1))
    assert red[0] > red[2] + 0.2, f"w > 0: the positive colour (red), got {red}"
    assert blue[2] > blue[0] + 0.2, f"w < 0: the negative colour (blue), got {blue}"
    # the w = 0 curve and everything away from the drawn ones stay as they were
    hidden = lines[2] & ~near
    assert hidden.sum() > 20, "the w = 0 curve crosses empty background in the frame"
    assert diff[hidden].max() < 0.05, "a curve with w = 0 draws nothing"
    assert diff[~near].mean() < 1 / 255
    assert np.percentile(diff[~near], 99.5) < 0.1


def test_eevee_draws_the_tubes_in_their_sign_colour(crossing_plans, scenes, images,
                                                    tmp_path: Path) -> None:
    """One Eevee frame (its shader compilation makes a frame cost ~13 s here): the curves
    lie over empty background, so the world colour stands in for the render without them."""
    _, on = crossing_plans
    frame = on.timeline.frame_of_epoch(0)
    drawn = images.load(render_to(scenes.get(on, "eevee"), frame, tmp_path / "on.png"))
    group = on.edges[0]
    diff = np.abs(drawn - images.srgb(on.look.background)).max(axis=-1)
    lines = [images.curve_mask(on, group.straight[i], W, H, 0) for i in range(3)]
    near = images.curve_mask(on, group.straight[:2], W, H, 2)
    for i in (0, 1):
        assert np.median(diff[lines[i]]) > 0.25, f"curve {i} is drawn"
    red, blue = (drawn[lines[k]].mean(axis=0) for k in (0, 1))
    assert red[0] > red[2] + 0.2 and blue[2] > blue[0] + 0.2, (red, blue)
    assert np.median(diff[lines[2] & ~near]) < 0.03, "a curve with w = 0 draws nothing"
