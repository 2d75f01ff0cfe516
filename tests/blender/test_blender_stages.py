"""Animated arrangements (stages) and atlas pages in the built scene.

A layer whose arrangement changes carries every stage's positions and sizes as point
attributes, mixed in a Geometry Nodes chain by one keyed modifier input; the evaluated
instances must sit where the plan says at every frame (checked against an independent
smoothstep-chain here and against ``LayerPlan.at``). Layers on different atlas pages use
their page's image and material, with that page's epoch grid.
"""

from __future__ import annotations

import dataclasses

import bpy
import numpy as np
import pytest
from bpy_extras import anim_utils

from nnrender.blender.cells import STAGE_SOCKET, TEMPLATE_SOCKET
from nnrender.blender.nodes import socket_id
from nnrender.blender.scene import BuiltScene
from nnrender.layout.atlas import AtlasPage, AtlasPlan
from nnrender.plan import ScenePlan

pytestmark = pytest.mark.blender

CHANGES = {"layout": {"layers": {
    "conv2": {"arrange": "grid", "changes": [{"at": 0.5, "arrange": "circle", "over": 0.5},
                                             {"at": 1.2, "arrange": "fold", "over": 0.25}]},
    "dense1": {"arrange": "line", "changes": [{"at": 1.0, "arrange": "grid", "over": 1.0}]},
}}}


@pytest.fixture(scope="module")
def staged(tiny_plan) -> ScenePlan:
    plan = tiny_plan(CHANGES)
    animated = [lp.name for lp in plan.layers if lp.stage_centers is not None]
    assert sorted(animated) == ["conv2", "dense1"]
    return plan


def _animated(plan: ScenePlan):
    return [lp for lp in plan.layers if lp.stage_centers is not None]


def _smoothstep_value(keys: list[tuple[float, float]], frame: float) -> float:
    if frame <= keys[0][0]:
        return keys[0][1]
    for (f0, v0), (f1, v1) in zip(keys, keys[1:], strict=False):
        if f0 <= frame <= f1:
            t = (frame - f0) / (f1 - f0)
            return v0 + (v1 - v0) * t * t * (3 - 2 * t)
    return keys[-1][1]


def _mixed(lp, frame: float) -> tuple[np.ndarray, np.ndarray]:
    """p = pos_0; p = mix(p, pos_i, clamp(stage - (i - 1), 0, 1)) for i >= 1."""
    value = _smoothstep_value(lp.stage_keys, frame)
    c, s = lp.stage_centers[0].astype(np.float64), lp.stage_sizes[0].astype(np.float64)
    for i in range(1, len(lp.stage_centers)):
        t = min(max(value - (i - 1), 0.0), 1.0)
        c, s = c + (lp.stage_centers[i] - c) * t, s + (lp.stage_sizes[i] - s) * t
    return c, s


def _check_frames(lp, last: int) -> list[int]:
    """Each key, the middle of each change, a frame a quarter in, and the last frame."""
    frames = {int(f) for f, _ in lp.stage_keys} | {last}
    for (f0, v0), (f1, v1) in zip(lp.stage_keys, lp.stage_keys[1:], strict=False):
        if v0 != v1:
            frames |= {int(round((f0 + f1) / 2)), int(round(f0 + (f1 - f0) / 4))}
    return sorted(frames)


def _instances(obj: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    """(centers, scales) of an object's evaluated instances, in point order."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    found = {}
    for inst in depsgraph.object_instances:
        if inst.is_instance and inst.parent is not None and inst.parent.original == obj:
            m = inst.matrix_world
            # (0, i, ...): the object's geometry instances, i the point index
            found[inst.persistent_id[1]] = (tuple(m.translation), tuple(m.to_scale()))
    order = sorted(found)
    assert order == list(range(len(order)))
    return (np.array([found[i][0] for i in order]), np.array([found[i][1] for i in order]))


# ---------------------------------------------------------------- Cycles/Eevee build


def test_stage_attributes_and_groups(staged: ScenePlan, scenes) -> None:
    scenes.get(staged, "cycles")
    shared = None
    for lp in staged.layers:
        obj = bpy.data.objects[f"layer_{lp.name}"]
        mod = obj.modifiers["cells"]
        group = mod.node_group
        assert mod[socket_id(group, TEMPLATE_SOCKET)].name == f"nnrender_cell_template_{lp.page}"
        if lp.stage_centers is None:
            shared = shared or group
            assert group == shared, "static layers share one group"
            assert "scale" in obj.data.attributes
            continue
        stages = len(lp.stage_centers)
        assert group.name == f"nnrender_cells_stages{stages}"
        assert any(n.bl_idname == "GeometryNodeSetPosition" for n in group.nodes)
        n = len(lp.centers)
        for k in range(stages):
            for key, want in ((f"pos_{k}", lp.stage_centers[k]), (f"scale_{k}", lp.stage_sizes[k])):
                got = np.empty(3 * n, dtype=np.float32)
                obj.data.attributes[key].data.foreach_get("vector", got)
                np.testing.assert_allclose(got.reshape(n, 3), want, atol=1e-5, err_msg=key)
        assert f"pos_{stages}" not in obj.data.attributes


def test_one_stage_fcurve_per_animated_layer(staged: ScenePlan, scenes) -> None:
    scenes.get(staged, "cycles")
    for lp in staged.layers:
        obj = bpy.data.objects[f"layer_{lp.name}"]
        anim = obj.animation_data
        if lp.stage_centers is None:
            assert anim is None or anim.action is None
            continue
        key = socket_id(obj.modifiers["cells"].node_group, STAGE_SOCKET)
        bag = anim_utils.action_get_channelbag_for_slot(anim.action, anim.action_slot)
        assert [fc.data_path for fc in bag.fcurves] == [f'modifiers["cells"]["{key}"]']
        keys = [tuple(kp.co) for kp in bag.fcurves[0].keyframe_points]
        np.testing.assert_allclose(keys, lp.stage_keys, atol=1e-6)


def test_instances_follow_the_plan_frame_by_frame(staged: ScenePlan, scenes) -> None:
    built = scenes.get(staged, "cycles")
    scene = built.scene
    blended = 0
    try:
        for lp in _animated(staged):
            obj = bpy.data.objects[f"layer_{lp.name}"]
            for frame in _check_frames(lp, staged.timeline.last_frame):
                scene.frame_set(frame)
                centers, scales = _instances(obj)
                want_c, want_s = _mixed(lp, frame)
                msg = f"{lp.name} frame {frame}"
                np.testing.assert_allclose(centers, want_c, atol=2e-4, err_msg=msg)
                np.testing.assert_allclose(scales, want_s, atol=2e-4, err_msg=msg)
                plan_c, plan_s = lp.at(frame)  # the plan's own mix agrees
                np.testing.assert_allclose(centers, plan_c, atol=2e-4, err_msg=msg)
                np.testing.assert_allclose(scales, plan_s, atol=2e-4, err_msg=msg)
                # hidden cells (size 0 in the plan) are instances of zero scale
                hidden = np.all(want_s == 0, axis=1)
                assert np.all(scales[hidden] == 0), msg
                value = _smoothstep_value(lp.stage_keys, frame)
                if abs(value - round(value)) > 0.1:
                    blended += 1
                    # mid-change: away from both neighbouring stages
                    lo, hi = int(np.floor(value)), int(np.ceil(value))
                    assert np.abs(centers - lp.stage_centers[lo]).max() > 1e-3, msg
                    assert np.abs(centers - lp.stage_centers[hi]).max() > 1e-3, msg
    finally:
        scene.frame_set(staged.timeline.first_frame)
    assert blended >= 3


def test_fold_hides_all_but_the_summary(staged: ScenePlan, scenes) -> None:
    built = scenes.get(staged, "cycles")
    lp = next(lp for lp in staged.layers if lp.name == "conv2")
    assert lp.stages[-1] == "fold"
    try:
        built.scene.frame_set(staged.timeline.last_frame)
        _, scales = _instances(bpy.data.objects["layer_conv2"])
    finally:
        built.scene.frame_set(staged.timeline.first_frame)
    shown = np.any(scales > 0, axis=1)
    assert shown.sum() == np.any(lp.stage_sizes[-1] > 0, axis=1).sum() == 1


def test_static_layers_do_not_move(staged: ScenePlan, scenes) -> None:
    built = scenes.get(staged, "cycles")
    lp = next(lp for lp in staged.layers if lp.stage_centers is None and len(lp.centers) > 1)
    obj = bpy.data.objects[f"layer_{lp.name}"]
    try:
        for frame in (staged.timeline.first_frame, staged.timeline.last_frame):
            built.scene.frame_set(frame)
            centers, scales = _instances(obj)
            np.testing.assert_allclose(centers, lp.centers, atol=1e-4)
            np.testing.assert_allclose(scales, lp.sizes, atol=1e-4)
    finally:
        built.scene.frame_set(staged.timeline.first_frame)


# ---------------------------------------------------------------- Workbench


def test_workbench_moves_animated_boxes(staged: ScenePlan, scenes) -> None:
    built: BuiltScene = scenes.get(staged, "workbench")
    mesh = built.layer_objects[0].data
    counts = [len(lp.centers) for lp in staged.layers]
    starts = np.concatenate([[0], np.cumsum(counts)])
    moved = 0
    try:
        for frame in (1, 20, 30, 40, staged.timeline.last_frame):
            built.update_frame(frame)
            co = np.empty(3 * len(mesh.vertices), dtype=np.float32)
            mesh.vertices.foreach_get("co", co)
            boxes = co.reshape(-1, 8, 3)
            for i, lp in enumerate(staged.layers):
                mine = boxes[starts[i]:starts[i + 1]]
                if lp.stage_centers is None:
                    want_c, want_s = lp.centers, lp.sizes
                else:
                    want_c, want_s = _mixed(lp, frame)
                    moved += int(np.abs(mine.mean(axis=1) - lp.centers).max() > 1e-3)
                np.testing.assert_allclose(mine.mean(axis=1), want_c, atol=2e-4)
                np.testing.assert_allclose(mine.max(axis=1) - mine.min(axis=1), want_s,
                                           atol=2e-4)
    finally:
        built.update_frame(staged.timeline.first_frame)
    assert moved >= 3


# ---------------------------------------------------------------- atlas pages


@pytest.fixture(scope="module")
def two_pages(plan: ScenePlan) -> ScenePlan:
    """The session plan with its odd layers moved to a second page: same block packing, the
    epoch blocks in a transposed grid (other shader offsets), inverted colours."""
    lay = plan.atlas.layout
    assert len(lay.pages) == 1
    pg = lay.pages[0]
    assert pg.grid_cols != pg.grid_rows
    second = AtlasPage(pg.block_w, pg.block_h, pg.grid_rows, pg.grid_cols)
    inverted = plan.atlas.blocks[0].copy()
    inverted[..., :3] = 255 - inverted[..., :3]
    layer_page = [i % 2 for i in range(len(plan.layers))]
    layout = dataclasses.replace(lay, pages=[pg, second], layer_page=layer_page)
    return dataclasses.replace(
        plan, atlas=AtlasPlan(layout, [plan.atlas.blocks[0], inverted]),
        layers=[dataclasses.replace(lp, page=p) for lp, p in zip(plan.layers, layer_page,
                                                                 strict=True)])


def _pixels(image: bpy.types.Image) -> np.ndarray:
    w, h = image.size
    px = np.empty(w * h * 4, dtype=np.float32)
    image.pixels.foreach_get(px)
    return np.rint(px.reshape(h, w, 4)[::-1] * 255).astype(np.uint8)


def _page_material(obj: bpy.types.Object) -> bpy.types.Material:
    mod = obj.modifiers["cells"]
    template = mod[socket_id(mod.node_group, TEMPLATE_SOCKET)]
    return template.data.materials[0]


def test_two_pages_two_images_and_materials(two_pages: ScenePlan, scenes) -> None:
    built = scenes.get(two_pages, "cycles")
    assert [img.name for img in built.atlases] == ["nnrender_atlas_0", "nnrender_atlas_1"]
    for p, (img, page) in enumerate(zip(built.atlases, two_pages.atlas.layout.pages,
                                        strict=True)):
        assert tuple(img.size) == (page.width, page.height)
        np.testing.assert_array_equal(_pixels(img), two_pages.atlas.image(p))
    mats = {}
    for lp in two_pages.layers:
        mat = _page_material(bpy.data.objects[f"layer_{lp.name}"])
        assert mat.name == f"nnrender_maps_{lp.page}"
        textures = [n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeTexImage"]
        assert {t.image.name for t in textures} == {f"nnrender_atlas_{lp.page}"}
        mats[lp.page] = mat
    assert len(mats) == 2


def test_each_page_material_uses_its_page_grid(two_pages: ScenePlan, scenes) -> None:
    scenes.get(two_pages, "cycles")
    for p, page in enumerate(two_pages.atlas.layout.pages):
        nt = bpy.data.materials[f"nnrender_maps_{p}"].node_tree
        modulo = [n for n in nt.nodes if n.bl_idname == "ShaderNodeMath"
                  and n.operation == "FLOORED_MODULO"]
        assert len(modulo) == 2
        assert {n.inputs[1].default_value for n in modulo} == {float(page.grid_cols)}
        products = {round(n.inputs[1].default_value, 6) for n in nt.nodes
                    if n.bl_idname == "ShaderNodeMath" and n.operation == "MULTIPLY"}
        assert round(page.block_w / page.width, 6) in products
        assert round(-page.block_h / page.height, 6) in products


def test_tile_uvs_are_in_their_page(two_pages: ScenePlan, scenes) -> None:
    scenes.get(two_pages, "cycles")
    for lp in two_pages.layers:
        page = two_pages.atlas.layout.pages[lp.page]
        mesh = bpy.data.objects[f"layer_{lp.name}"].data
        n = len(lp.centers)
        duv = np.empty(3 * n, dtype=np.float32)
        mesh.attributes["tile_duv"].data.foreach_get("vector", duv)
        np.testing.assert_allclose(duv.reshape(n, 3)[:, 0] * page.width, lp.tiles[:, 2],
                                   atol=1e-3)
        np.testing.assert_allclose(duv.reshape(n, 3)[:, 1] * page.height, lp.tiles[:, 3],
                                   atol=1e-3)


def test_workbench_one_frame_image_per_page(two_pages: ScenePlan, scenes) -> None:
    built: BuiltScene = scenes.get(two_pages, "workbench")
    assert len(built.frame_images) == 2
    mesh = built.layer_objects[0].data
    assert [m.name for m in mesh.materials] == ["nnrender_maps_workbench_0",
                                                "nnrender_maps_workbench_1"]
    index = np.empty(len(mesh.polygons), dtype=np.int32)
    mesh.polygons.foreach_get("material_index", index)
    want = np.concatenate([np.full(6 * len(lp.centers), lp.page) for lp in two_pages.layers])
    np.testing.assert_array_equal(index, want)
    tl = two_pages.timeline
    try:
        for frame in (tl.first_frame, tl.last_frame):
            built.update_frame(frame)
            value = float(tl.value(frame))
            for p, img in enumerate(built.frame_images):
                got = _pixels(img)
                want = two_pages.atlas.blend(value, p)
                assert np.abs(got.astype(int) - want).max() <= 1, (frame, p)
    finally:
        built.update_frame(tl.first_frame)
