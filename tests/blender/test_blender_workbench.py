"""The Workbench build: one realised mesh with real UVs, one image refilled per frame."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from nnrender.blender.scene import BuiltScene
from nnrender.plan import ScenePlan

pytestmark = pytest.mark.blender


def _pixels(image: bpy.types.Image) -> np.ndarray:
    w, h = image.size
    px = np.empty(w * h * image.channels, dtype=np.float32)
    image.pixels.foreach_get(px)
    return px.reshape(h, w, image.channels)[::-1].copy()


def _linear(enc: np.ndarray) -> np.ndarray:
    return np.where(enc <= 0.04045, enc / 12.92, ((enc + 0.055) / 1.055) ** 2.4)


def _srgb(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0, 1)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def _hold_frame(plan: ScenePlan, epoch: int) -> int:
    return plan.timeline.frame_of_epoch(epoch)


def test_one_realised_mesh(workbench_scene: BuiltScene, plan: ScenePlan) -> None:
    assert workbench_scene.scene.render.engine == "BLENDER_WORKBENCH"
    assert workbench_scene.atlas is None
    assert not [o for o in bpy.data.objects if o.name.startswith("layer_")]
    assert len(workbench_scene.layer_objects) == 1
    obj = workbench_scene.layer_objects[0]
    assert obj.type == "MESH" and obj.name in workbench_scene.scene.objects
    assert not obj.modifiers
    mesh = obj.data
    n = plan.cell_count
    assert len(mesh.vertices) == 8 * n
    assert len(mesh.polygons) == 6 * n
    assert len(mesh.loops) == 24 * n
    assert len(mesh.uv_layers) >= 1
    uv = np.empty(2 * len(mesh.loops), dtype=np.float32)
    mesh.uv_layers[0].data.foreach_get("uv", uv)
    assert np.all((uv >= -1e-6) & (uv <= 1 + 1e-6))
    # every box sits where the plan puts its cell
    co = np.empty(3 * len(mesh.vertices), dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    centers = co.reshape(n, 8, 3).mean(axis=1)
    np.testing.assert_allclose(centers, np.concatenate([lp.centers for lp in plan.layers]),
                               atol=1e-4)


def test_frame_image_is_one_epoch_block(workbench_scene: BuiltScene, plan: ScenePlan) -> None:
    image = workbench_scene.frame_image
    assert image is not None
    lay = plan.atlas.layout
    assert tuple(image.size) == (lay.block_w, lay.block_h)
    mat = workbench_scene.layer_objects[0].data.materials[0]
    assert any(n.bl_idname == "ShaderNodeTexImage" and n.image == image
               for n in mat.node_tree.nodes)
    shading = workbench_scene.scene.display.shading
    assert shading.color_type == "TEXTURE"


def test_update_frame_changes_pixels(workbench_scene: BuiltScene, plan: ScenePlan) -> None:
    image = workbench_scene.frame_image
    first, last = _hold_frame(plan, 0), plan.timeline.last_frame
    try:
        workbench_scene.update_frame(first)
        at_first = _pixels(image)
        workbench_scene.update_frame(last)
        at_last = _pixels(image)
        np.testing.assert_allclose(at_first, plan.atlas.blocks[0][0] / 255.0, atol=1 / 255)
        np.testing.assert_allclose(at_last, plan.atlas.blocks[0][-1] / 255.0, atol=1 / 255)
        assert np.abs(at_first - at_last).mean() > 0.01
        # half-way through the first blend: the plan's blend of the two epochs
        mid = (_hold_frame(plan, 0) + plan.timeline.hold_frames - 1 + _hold_frame(plan, 1)) // 2
        workbench_scene.update_frame(mid)
        value = float(plan.timeline.value(mid))
        assert 0 < value < 1
        np.testing.assert_allclose(_pixels(image), plan.atlas.blend(value) / 255.0,
                                   atol=1 / 255)
        # and the same against sRGB maths done here, not the atlas' lookup tables
        lo, hi = (plan.atlas.blocks[0][k].astype(np.float64) / 255.0 for k in (0, 1))
        lin = (1 - value) * _linear(lo[..., :3]) + value * _linear(hi[..., :3])
        np.testing.assert_allclose(_pixels(image)[..., :3], np.rint(255 * _srgb(lin)) / 255.0,
                                   atol=1.01 / 255)
    finally:
        workbench_scene.update_frame(plan.timeline.first_frame)
