"""Depth of field blurs the network, never the captions: with an f-stop the captions and the
legend are rendered in a scene of their own (a camera without depth of field) and laid over
the render by the compositor, at the main scene's frame."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest

from nnrender.blender.build import build
from nnrender.blender.render import render_to, save_blend
from nnrender.blender.stage import OVERLAY_SCENE

pytestmark = pytest.mark.render

SIZE = {"resolution": [192, 108], "samples": 8, "denoise": "off"}


@pytest.fixture(scope="module")
def plans(plan_factory):
    make = plan_factory(8)
    return (make({"style": "cinematic", "render": SIZE}),
            make({"style": "cinematic", "render": SIZE, "camera": {"fstop": None}}))


def _frames(plan) -> list[int]:
    """The last frame and the first frame of the second caption (the caption changes)."""
    return [plan.timeline.last_frame, plan.captions[1].frame_start]


def _renders(plan, tmp: Path, name: str, images) -> list[np.ndarray]:
    built = build(plan, "cycles")
    return [images.load(render_to(built, f, tmp / f"{name}_{f}.png")) for f in _frames(plan)]


def test_captions_stay_sharp_while_the_network_blurs(plans, scenes, images, tmp_path):
    dof, flat = plans
    assert dof.camera.fstop is not None and flat.camera.fstop is None
    scenes.forget()
    with_dof = _renders(dof, tmp_path, "dof", images)
    over = bpy.data.scenes.get(OVERLAY_SCENE)
    assert over is not None and not over.camera.data.dof.use_dof
    assert bpy.data.scenes["nnrender"].camera.data.dof.use_dof
    assert all(o.name in over.objects for o in bpy.data.objects
               if o.name.startswith("nnrender_caption_"))
    without = _renders(flat, tmp_path, "flat", images)
    assert bpy.data.scenes.get(OVERLAY_SCENE) is None  # no depth of field: one scene
    scenes.forget()
    for f, a, b in zip(_frames(dof), with_dof, without, strict=True):
        cap_a, cap_b = a[92:, :80], b[92:, :80]  # lower left: the caption
        assert cap_b.max() > 0.6, f"frame {f}: a caption is shown"
        diff = np.abs(cap_a - cap_b)
        assert diff.mean() < 1 / 255 and np.percentile(diff, 99) < 8 / 255, (
            f"frame {f}: caption differs by {diff.mean() * 255:.2f}/255 on average")
        net = np.abs(a[:80] - b[:80]).mean()
        assert net > 1 / 255, f"frame {f}: the network is not blurred ({net * 255:.2f}/255)"


def test_overlay_scene_survives_save_and_reopen(plans, scenes, tmp_path):
    scenes.forget()
    build(plans[0], "cycles")
    path = save_blend(tmp_path / "dof.blend")
    bpy.ops.wm.open_mainfile(filepath=str(path))
    try:
        main, over = bpy.data.scenes["nnrender"], bpy.data.scenes[OVERLAY_SCENE]
        layers = [n for n in main.compositing_node_group.nodes
                  if n.bl_idname == "CompositorNodeRLayers"]
        assert {n.scene for n in layers} == {main, over}
        assert over.camera is not None and over.render.film_transparent
    finally:
        scenes.forget()
