"""Saving the built scene, and rebuilding: these replace Blender's state, so they run last."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest

from nnrender.blender.build import build
from nnrender.blender.render import save_blend
from nnrender.plan import ScenePlan

pytestmark = pytest.mark.blender


def test_rebuild_leaves_no_duplicates(plan: ScenePlan, scenes) -> None:
    scenes.forget()
    build(plan, "cycles")
    build(plan, "cycles")
    assert len(bpy.data.scenes) == 1
    names = [o.name for o in bpy.data.objects]
    assert not [n for n in names if n.endswith(".001")], names
    assert len([n for n in names if n.startswith("layer_")]) == len(plan.layers)
    assert len(bpy.data.images) == 1


@pytest.mark.parametrize("engine", ["cycles", "workbench"])
def test_save_blend_reopens_with_packed_image(plan: ScenePlan, scenes, tmp_path: Path,
                                              engine: str) -> None:
    scenes.forget()
    built = build(plan, engine)
    image = built.atlas if engine == "cycles" else built.frame_image
    image_name, size = image.name, tuple(image.size)
    path = tmp_path / "sub" / "scene.blend"
    assert save_blend(path) == path
    assert path.is_file() and path.stat().st_size > 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["scene.blend"]  # no temp left

    bpy.ops.wm.open_mainfile(filepath=str(path))
    try:
        reopened = bpy.data.images[image_name]
        assert reopened.packed_file is not None
        assert tuple(reopened.size) == size
        w, h = size
        px = np.empty(w * h * 4, dtype=np.float32)
        reopened.pixels.foreach_get(px)
        px = px.reshape(h, w, 4)[::-1]
        expected = plan.atlas.image() if engine == "cycles" else plan.atlas.blocks[0][0]
        np.testing.assert_allclose(px, expected / 255.0, atol=1 / 255)
        scene = bpy.context.scene
        assert scene.camera is not None
        assert scene.render.engine == {"cycles": "CYCLES",
                                       "workbench": "BLENDER_WORKBENCH"}[engine]
        if engine == "cycles":
            assert len([o for o in scene.objects if o.name.startswith("layer_")]) == len(
                plan.layers)
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)
