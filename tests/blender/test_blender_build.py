"""The Cycles/Eevee build: instanced layers, one atlas, one epoch fcurve."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from bpy_extras import anim_utils
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from nnrender.blender.scene import BuiltScene
from nnrender.plan import ScenePlan

pytestmark = pytest.mark.blender


def _layer_objects(plan: ScenePlan) -> dict[str, bpy.types.Object]:
    return {lp.name: bpy.data.objects[f"layer_{lp.name}"] for lp in plan.layers}


def _all_fcurves() -> list[tuple[str, bpy.types.FCurve]]:
    """(action name, fcurve) for every fcurve of every slot of every layered action."""
    out = []
    for action in bpy.data.actions:
        for slot in action.slots:
            bag = anim_utils.action_get_channelbag_for_slot(action, slot)
            if bag is not None:
                out += [(action.name, fc) for fc in bag.fcurves]
    return out


def _atlas_pixels(image: bpy.types.Image) -> np.ndarray:
    w, h = image.size
    px = np.empty(w * h * image.channels, dtype=np.float32)
    image.pixels.foreach_get(px)
    return px.reshape(h, w, image.channels)[::-1]  # Blender rows run bottom-up


# ---------------------------------------------------------------- layers and instances


def test_one_object_per_layer_with_geometry_nodes(cycles_scene: BuiltScene,
                                                  plan: ScenePlan) -> None:
    layer_objs = [o for o in bpy.data.objects if o.name.startswith("layer_")]
    assert sorted(o.name for o in layer_objs) == sorted(f"layer_{lp.name}" for lp in plan.layers)
    assert [o.name for o in cycles_scene.layer_objects] == [f"layer_{lp.name}"
                                                            for lp in plan.layers]
    for obj in layer_objs:
        assert obj.name in cycles_scene.scene.objects
        mods = [m for m in obj.modifiers if m.type == "NODES"]
        assert len(mods) == 1, obj.name
        assert mods[0].node_group is not None
        assert any(n.bl_idname == "GeometryNodeInstanceOnPoints"
                   for n in mods[0].node_group.nodes)


def test_evaluated_instance_counts_match_plan(cycles_scene: BuiltScene, plan: ScenePlan,
                                               instance_counts) -> None:
    depsgraph = bpy.context.evaluated_depsgraph_get()
    objs = _layer_objects(plan)
    # the evaluated geometry of each layer object: instances only, one per cell
    for lp in plan.layers:
        geo = objs[lp.name].evaluated_get(depsgraph).evaluated_geometry()
        cloud = geo.instances_pointcloud()
        assert cloud is not None, lp.name
        assert len(cloud.points) == lp.centers.shape[0], lp.name
    # the same through the depsgraph's instance iterator
    counts = instance_counts()
    assert counts == {f"layer_{lp.name}": lp.centers.shape[0] for lp in plan.layers}
    assert sum(counts.values()) == plan.cell_count


def test_point_attributes_per_layer(cycles_scene: BuiltScene, plan: ScenePlan) -> None:
    objs = _layer_objects(plan)
    for lp in plan.layers:
        mesh = objs[lp.name].data
        n = lp.centers.shape[0]
        assert len(mesh.vertices) == n
        assert len(mesh.polygons) == 0
        for key in ("tile_uv", "tile_duv", "scale"):
            attr = mesh.attributes.get(key)
            assert attr is not None, f"{lp.name}: no {key}"
            assert attr.domain == "POINT"
            assert attr.data_type == "FLOAT_VECTOR"
            assert len(attr.data) == n
        co = np.empty(3 * n, dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
        np.testing.assert_allclose(co.reshape(n, 3), lp.centers, atol=1e-5)
        scale = np.empty(3 * n, dtype=np.float32)
        mesh.attributes["scale"].data.foreach_get("vector", scale)
        np.testing.assert_allclose(scale.reshape(n, 3), lp.sizes, rtol=1e-5, atol=1e-6)


def test_tile_uvs_point_at_each_cells_pixels(cycles_scene: BuiltScene, plan: ScenePlan) -> None:
    """Sampling the atlas inside each cell's UV rect gives a pixel of that cell's tile."""
    objs = _layer_objects(plan)
    for lp in plan.layers:
        lay = plan.atlas.layout.pages[lp.page]
        atlas = plan.atlas.image(lp.page)
        block0 = plan.atlas.blocks[lp.page][0]
        mesh = objs[lp.name].data
        n = lp.centers.shape[0]
        uv = np.empty(3 * n, dtype=np.float32)
        duv = np.empty(3 * n, dtype=np.float32)
        mesh.attributes["tile_uv"].data.foreach_get("vector", uv)
        mesh.attributes["tile_duv"].data.foreach_get("vector", duv)
        uv, duv = uv.reshape(n, 3)[:, :2], duv.reshape(n, 3)[:, :2]
        assert np.all(duv > 0) and np.all(uv >= 0) and np.all(uv + duv <= 1 + 1e-6)
        x, y, w, h = (lp.tiles[:, i] for i in range(4))
        np.testing.assert_allclose(duv[:, 0] * lay.width, w, atol=1e-3)
        np.testing.assert_allclose(duv[:, 1] * lay.height, h, atol=1e-3)
        # a point inside the rect, off the pixel boundaries that float32 UVs blur
        fu, fv = 0.4142, 0.5858
        p = uv + duv * [fu, fv]
        px = np.floor(p[:, 0] * lay.width).astype(int)
        py = np.floor((1 - p[:, 1]) * lay.height).astype(int)  # back to rows top-down
        expected = block0[np.floor(y + h * (1 - fv)).astype(int),
                          np.floor(x + w * fu).astype(int)]
        np.testing.assert_array_equal(atlas[py, px], expected, err_msg=lp.name)


# ---------------------------------------------------------------- atlas


def test_atlas_image_matches_plan(cycles_scene: BuiltScene, plan: ScenePlan) -> None:
    lay = plan.atlas.layout
    image = cycles_scene.atlas
    assert image is not None
    assert image.name in bpy.data.images
    assert tuple(image.size) == (lay.width, lay.height)
    assert image.channels == 4
    pixels = _atlas_pixels(image)
    expected = plan.atlas.image().astype(np.float32) / 255.0
    # a few tiles: first and last cell of every layer, in every epoch block
    for lp in plan.layers:
        for cell in (0, lp.tiles.shape[0] - 1):
            x, y, w, h = (int(v) for v in lp.tiles[cell])
            for e in range(lay.epochs):
                bx, by = lay.block_origin(e)
                sl = np.s_[by + y:by + y + h, bx + x:bx + x + w]
                np.testing.assert_allclose(pixels[sl], expected[sl], atol=1 / 255,
                                           err_msg=f"{lp.name} cell {cell} epoch {e}")
    # and the whole image, which is tiny here
    assert np.abs(pixels - expected).max() <= 1 / 255


def test_maps_material_samples_the_atlas(cycles_scene: BuiltScene) -> None:
    template = bpy.data.objects["nnrender_cell_template_0"]
    mat = template.data.materials[0]
    textures = [n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeTexImage"]
    assert len(textures) == 2  # epoch floor and epoch ceil, mixed by the fraction
    for tex in textures:
        assert tex.image == cycles_scene.atlas
        assert tex.interpolation == "Closest"
    attrs = {(n.attribute_type, n.attribute_name) for n in mat.node_tree.nodes
             if n.bl_idname == "ShaderNodeAttribute"}
    assert {("INSTANCER", "tile_uv"), ("INSTANCER", "tile_duv"),
            ("VIEW_LAYER", "epoch")} <= attrs


# ---------------------------------------------------------------- animation


def _epoch_fcurve(scene: bpy.types.Scene) -> bpy.types.FCurve:
    anim = scene.animation_data
    assert anim is not None and anim.action is not None and anim.action_slot is not None
    action = anim.action
    bag = action.layers[0].strips[0].channelbag(anim.action_slot)
    assert bag is not None
    same = anim_utils.action_get_channelbag_for_slot(action, anim.action_slot)
    assert same == bag
    curves = [fc for fc in bag.fcurves if fc.data_path == '["epoch"]']
    assert len(curves) == 1
    return curves[0]


def test_epoch_fcurve_keys(cycles_scene: BuiltScene, plan: ScenePlan) -> None:
    fc = _epoch_fcurve(cycles_scene.scene)
    keys = [(kp.co[0], kp.co[1]) for kp in fc.keyframe_points]
    expected = plan.timeline.keys()
    assert len(keys) == len(expected)
    np.testing.assert_allclose(keys, expected, atol=1e-6)
    scene_curves = [fc for name, fc in _all_fcurves()
                    if name == cycles_scene.scene.animation_data.action.name]
    assert len(scene_curves) == 1


def test_epoch_value_every_frame(cycles_scene: BuiltScene, plan: ScenePlan) -> None:
    scene = cycles_scene.scene
    tl = plan.timeline
    assert (scene.frame_start, scene.frame_end) == (tl.first_frame, tl.last_frame)
    frames = range(tl.first_frame, tl.last_frame + 1)
    got = []
    try:
        for f in frames:
            scene.frame_set(f)
            got.append(float(scene["epoch"]))
    finally:
        scene.frame_set(tl.first_frame)
    np.testing.assert_allclose(got, tl.value(np.array(list(frames))), atol=1e-4)
    assert got[0] == pytest.approx(0.0, abs=1e-6)
    assert got[-1] == pytest.approx(tl.count - 1, abs=1e-6)


def test_no_per_cell_fcurves(cycles_scene: BuiltScene, plan: ScenePlan) -> None:
    curves = _all_fcurves()
    paths = sorted((name, fc.data_path, fc.array_index) for name, fc in curves)
    expected = 1 + 1 + 2 * len(plan.captions)  # epoch, camera orbit, caption visibility
    assert len(curves) == expected, paths
    by_path: dict[str, int] = {}
    for _, fc in curves:
        by_path[fc.data_path] = by_path.get(fc.data_path, 0) + 1
    assert by_path == {'["epoch"]': 1, "rotation_euler": 1,
                       "hide_render": len(plan.captions), "hide_viewport": len(plan.captions)}
    # no drivers either
    for coll in (bpy.data.objects, bpy.data.scenes, bpy.data.materials, bpy.data.meshes):
        for idb in coll:
            anim = idb.animation_data
            assert anim is None or len(anim.drivers) == 0, idb.name


def test_one_caption_visible_per_frame(cycles_scene: BuiltScene, plan: ScenePlan) -> None:
    scene = cycles_scene.scene
    caps = sorted((o for o in bpy.data.objects if o.name.startswith("nnrender_caption_")),
                  key=lambda o: o.name)
    assert len(caps) == len(plan.captions) == len(plan.epochs)
    assert [o.data.body for o in caps] == [c.text for c in plan.captions]
    try:
        for f in range(plan.timeline.first_frame, plan.timeline.last_frame + 1):
            scene.frame_set(f)
            shown = [i for i, o in enumerate(caps) if not o.hide_render]
            want = [i for i, c in enumerate(plan.captions) if c.frame_start <= f <= c.frame_end]
            assert shown == want and len(shown) == 1, f"frame {f}"
    finally:
        scene.frame_set(plan.timeline.first_frame)


# ---------------------------------------------------------------- labels, camera, render


def test_one_label_per_planned_label(cycles_scene: BuiltScene, plan: ScenePlan) -> None:
    labels = [o for o in bpy.data.objects if o.name.startswith("nnrender_label_")]
    assert 0 < len(labels) == len(plan.labels) <= len(plan.layers)  # the plan hides overlaps
    assert all(o.type == "FONT" for o in labels)
    bodies = [o.data.body for o in labels]
    for label in plan.labels:
        hits = [b for b in bodies if b.split("\n")[0] == label.layer]
        assert len(hits) == 1, f"{label.layer}: {bodies}"
    for obj, label in zip(sorted(labels, key=lambda o: o.name), plan.labels, strict=True):
        assert obj.data.body == label.text
        np.testing.assert_allclose(tuple(obj.location), label.position, atol=1e-5)


def test_camera_is_scene_camera(cycles_scene: BuiltScene, plan: ScenePlan) -> None:
    scene = cycles_scene.scene
    cams = [o for o in bpy.data.objects if o.type == "CAMERA"]
    assert len(cams) == 1
    assert scene.camera is not None and scene.camera == cams[0]
    assert scene.camera.data.lens == pytest.approx(plan.camera.lens)
    rig = scene.camera.parent
    assert rig is not None
    np.testing.assert_allclose(tuple(rig.location), plan.camera.target, atol=1e-5)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    cam_pos = np.array(scene.camera.evaluated_get(depsgraph).matrix_world.translation)
    dist = np.linalg.norm(cam_pos - np.array(plan.camera.target))
    assert dist == pytest.approx(plan.camera.distance, rel=1e-4)


def test_lights_and_world(cycles_scene: BuiltScene, plan: ScenePlan) -> None:
    lights = [o for o in cycles_scene.scene.objects if o.type == "LIGHT"]
    assert sorted(o.name for o in lights) == sorted(f"nnrender_{lt.name}" for lt in plan.lights)
    assert cycles_scene.scene.world is not None


def test_render_settings(cycles_scene: BuiltScene, plan: ScenePlan) -> None:
    scene = cycles_scene.scene
    r = scene.render
    assert r.engine == "CYCLES"
    assert (r.resolution_x, r.resolution_y, r.resolution_percentage) == (96, 54, 100)
    assert r.fps == plan.render.fps
    assert scene.cycles.samples == 2
    assert scene.cycles.seed == plan.seed
    assert not scene.cycles.use_animated_seed
    assert not scene.cycles.use_denoising
    assert scene.view_settings.view_transform == "Standard"
    assert r.image_settings.file_format == "PNG"


def test_camera_frames_every_cell_over_the_orbit(cycles_scene: BuiltScene,
                                                 plan: ScenePlan) -> None:
    scene = cycles_scene.scene
    corners = np.concatenate([
        lp.centers[:, None] + lp.sizes[:, None] * (np.array(
            [[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)]))[None]
        for lp in plan.layers]).reshape(-1, 3)
    tl = plan.timeline
    try:
        for frame in (tl.first_frame, (tl.first_frame + tl.last_frame) // 2, tl.last_frame):
            scene.frame_set(frame)
            bpy.context.view_layer.update()
            views = np.array([tuple(world_to_camera_view(scene, scene.camera, Vector(c)))
                              for c in corners.tolist()])
            assert np.all(views[:, 2] > 0), f"frame {frame}: cells behind the camera"
            assert views[:, 0].min() >= 0 and views[:, 0].max() <= 1, f"frame {frame}: x"
            assert views[:, 1].min() >= 0 and views[:, 1].max() <= 1, f"frame {frame}: y"
            # and the network is not a speck in the middle
            assert np.ptp(views[:, 0]) > 0.5 or np.ptp(views[:, 1]) > 0.5
    finally:
        scene.frame_set(tl.first_frame)
