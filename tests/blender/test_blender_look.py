"""Styles in the built scene: background, transparency, bloom, camera projection, depth of
field, lights, label colours, the colour bar, and big atlas pages loaded without a float copy.

The plan decides every value; these check that the scene carries the plan's values, on plans
of the three shipped styles (each of which turns some of the options on).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from nnrender.blender import images
from nnrender.blender.build import build
from nnrender.blender.render import save_blend
from nnrender.plan import Light, ScenePlan
from nnrender.plan.dressing import bloom

pytestmark = pytest.mark.blender


@pytest.fixture(scope="module")
def styled(tiny_plan):
    cache: dict[str, ScenePlan] = {}
    configs = {
        # paper as a flat figure: orthographic, transparent, a colour bar, no bloom
        "paper": {"style": "paper", "camera": {"projection": "orthographic"},
                  "look": {"transparent": True}},
        "talk": {"style": "talk"},  # dark, glowing, a colour bar, perspective
        "cinematic": {"style": "cinematic"},  # depth of field, bloom, orbit
    }

    def get(name: str) -> ScenePlan:
        if name not in cache:
            cache[name] = tiny_plan(configs[name])
        return cache[name]

    return get


def _camera(scene) -> bpy.types.Object:
    return scene.camera


def _emission(mat: bpy.types.Material) -> tuple[float, float, float]:
    node = next(n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeEmission")
    return tuple(node.inputs["Color"].default_value)[:3]


# ---------------------------------------------------------------- world and film


@pytest.mark.parametrize("name", ["paper", "talk"])
def test_background_and_transparency(name: str, styled, scenes) -> None:
    plan = styled(name)
    scene = scenes.get(plan, "cycles").scene
    transparent = plan.look.transparent
    assert transparent == (name == "paper")
    assert scene.render.film_transparent == transparent
    assert scene.render.image_settings.color_mode == ("RGBA" if transparent else "RGB")
    bg = scene.world.node_tree.nodes["Background"].inputs["Color"].default_value
    np.testing.assert_allclose(tuple(bg)[:3], plan.look.background, atol=1e-6)


# ---------------------------------------------------------------- bloom


def _glare(scene) -> bpy.types.Node | None:
    group = scene.compositing_node_group
    if group is None:
        return None
    glares = [n for n in group.nodes if n.bl_idname == "CompositorNodeGlare"]
    assert len(glares) == 1
    return glares[0]


@pytest.mark.parametrize("name", ["paper", "talk", "cinematic"])
def test_glow_is_a_bloom_in_the_compositor(name: str, styled, scenes) -> None:
    plan = styled(name)
    scene = scenes.get(plan, "cycles").scene
    glow = plan.look.glow
    glare = _glare(scene)
    if glow == 0:
        assert name == "paper"
        assert glare is None
        return
    assert glare is not None
    group = scene.compositing_node_group
    assert group.bl_idname == "CompositorNodeTree"
    assert glare.inputs["Type"].default_value == "Bloom"
    assert glare.inputs["Strength"].default_value == pytest.approx(glow)
    layers = [n for n in group.nodes if n.bl_idname == "CompositorNodeRLayers"]
    main = [n for n in layers if n.scene in (None, scene)]
    assert len(main) == 1
    source = glare.inputs["Image"].links[0].from_node
    if plan.camera.fstop is None:
        assert len(layers) == 1 and source == main[0]
    else:  # the sharp overlay scene goes over the render first, then everything blooms
        assert source.bl_idname == "CompositorNodeAlphaOver"
        assert source.inputs["Background"].links[0].from_node == main[0]
    out = next(n for n in group.nodes if n.bl_idname == "NodeGroupOutput")
    assert out.inputs[0].links[0].from_node == glare
    assert scene.render.use_compositing


def test_glow_above_one_adds_the_rest_of_the_glare(styled, scenes) -> None:
    plan = styled("talk")
    look = plan.look.model_copy(update={"glow": 2.5})
    strong = dataclasses.replace(plan, look=look, bloom=bloom(look))  # as make_plan would
    scenes.forget()
    scene = build(strong, "cycles").scene
    glare = _glare(scene)
    assert glare.inputs["Strength"].default_value == pytest.approx(1.0)
    add = glare.outputs["Glare"].links[0].to_node
    assert add.bl_idname == "ShaderNodeMix" and add.blend_type == "ADD"
    assert add.inputs[0].default_value == pytest.approx(1.5)


# ---------------------------------------------------------------- camera


def test_orthographic_camera(styled, scenes) -> None:
    plan = styled("paper")
    assert plan.camera.projection == "orthographic"
    cam = _camera(scenes.get(plan, "cycles").scene)
    assert cam.data.type == "ORTHO"
    assert cam.data.ortho_scale == pytest.approx(plan.camera.ortho_scale)
    assert not cam.data.dof.use_dof
    persp = _camera(scenes.get(styled("talk"), "cycles").scene)
    assert persp.data.type == "PERSP"


@pytest.mark.parametrize("engine", ["cycles", "eevee", "workbench"])
def test_depth_of_field_focuses_on_the_target(engine: str, styled, scenes) -> None:
    plan = styled("cinematic")
    assert plan.camera.fstop is not None
    scene = scenes.get(plan, engine).scene
    cam = _camera(scene)
    dof = cam.data.dof
    assert dof.use_dof
    assert dof.aperture_fstop == pytest.approx(plan.camera.fstop)
    assert dof.focus_object == cam.parent  # the rig at the camera target
    assert tuple(cam.parent.location) == pytest.approx(plan.camera.target)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    cam_pos = cam.evaluated_get(depsgraph).matrix_world.translation
    assert (cam_pos - Vector(plan.camera.target)).length == pytest.approx(plan.camera.distance,
                                                                           rel=1e-4)
    if engine == "workbench":
        assert scene.display.shading.use_dof


def test_no_depth_of_field_without_fstop(styled, scenes) -> None:
    plan = styled("talk")
    assert plan.camera.fstop is None
    assert not _camera(scenes.get(plan, "cycles").scene).data.dof.use_dof


# ---------------------------------------------------------------- lights and text


def test_lights_follow_the_plan_sun_included(styled, scenes) -> None:
    plan = styled("talk")
    sun = Light("sun", "sun", (10.0, -10.0, 20.0), 3.5, 0.05, (1.0, 0.9, 0.8))
    lit = dataclasses.replace(plan, lights=[*plan.lights, sun])
    scenes.forget()
    scene = build(lit, "cycles").scene
    for light in lit.lights:
        obj = scene.objects[f"nnrender_{light.name}"]
        assert obj.data.type == light.kind.upper()  # Blender spells the kinds in capitals
        assert obj.data.energy == pytest.approx(light.energy)
        np.testing.assert_allclose(tuple(obj.data.color), light.color, atol=1e-6)
        # aimed at the camera target
        forward = obj.matrix_world.to_quaternion() @ Vector((0, 0, -1))
        to_target = (Vector(plan.camera.target) - obj.location).normalized()
        assert forward.dot(to_target) == pytest.approx(1.0, abs=1e-5)
    data = scene.objects["nnrender_sun"].data
    assert data.angle == pytest.approx(0.05)
    assert scene.objects[f"nnrender_{plan.lights[0].name}"].data.size == pytest.approx(
        plan.lights[0].size)


@pytest.mark.parametrize("name", ["paper", "talk"])
def test_labels_and_captions_use_the_label_colour(name: str, styled, scenes) -> None:
    plan = styled(name)
    scenes.get(plan, "cycles")
    color = plan.look.label_color
    for prefix in ("nnrender_label_", "nnrender_caption_", "nnrender_legend_t"):
        objs = [o for o in bpy.data.objects if o.name.startswith(prefix)]
        assert objs, prefix
        for obj in objs:
            np.testing.assert_allclose(_emission(obj.data.materials[0]), color, atol=1e-6)
    if name == "paper":
        assert max(color) < 0.2, "dark text on white paper"


# ---------------------------------------------------------------- colour bar


def _legend_objects() -> list[bpy.types.Object]:
    return [o for o in bpy.data.objects if o.name.startswith("nnrender_legend_")]


def test_no_legend_when_the_plan_has_none(styled, scenes) -> None:
    plan = styled("cinematic")
    assert plan.legend is None
    assert scenes.get(plan, "cycles").legend == []
    assert not _legend_objects()
    assert "nnrender_legend" not in bpy.data.images


@pytest.mark.parametrize("name", ["paper", "talk"])
def test_legend_objects_and_gradient(name: str, styled, scenes) -> None:
    plan = styled(name)
    built = scenes.get(plan, "cycles")
    leg = plan.legend
    assert leg is not None
    cam = _camera(built.scene)
    objs = _legend_objects()
    assert sorted(o.name for o in built.legend) == sorted(o.name for o in objs)
    assert all(o.parent == cam for o in objs)
    ticks = sorted((o for o in objs if o.name.startswith("nnrender_legend_tick_")),
                   key=lambda o: o.name)
    assert [o.data.body for o in ticks] == [t for _, t in leg.ticks]
    assert bpy.data.objects["nnrender_legend_title"].data.body == leg.title
    image = bpy.data.images["nnrender_legend"]
    assert tuple(image.size) == (len(leg.colors), 1)
    px = np.empty(len(leg.colors) * 4, dtype=np.float32)
    image.pixels.foreach_get(px)
    np.testing.assert_array_equal(np.rint(px * 255).astype(np.uint8).reshape(-1, 4),
                                  leg.colors)
    bar = bpy.data.objects["nnrender_legend_bar"]
    mat = bar.data.materials[0]
    nodes = {n.bl_idname for n in mat.node_tree.nodes}
    assert "ShaderNodeEmission" in nodes and "ShaderNodeBsdfPrincipled" not in nodes
    assert any(n.bl_idname == "ShaderNodeTexImage" and n.image == image
               for n in mat.node_tree.nodes)
    # ticks spread along the bar from low (left) to high (right)
    xs = [o.location.x for o in ticks]
    assert xs == sorted(xs)


def _screen(scene, obj: bpy.types.Object) -> np.ndarray:
    """Screen (0..1, y up) and depth of an object's bounding box corners."""
    bpy.context.view_layer.update()
    corners = [obj.matrix_world @ Vector(c) for c in obj.bound_box]
    return np.array([tuple(world_to_camera_view(scene, scene.camera, c)) for c in corners])


@pytest.mark.parametrize("name", ["paper", "talk"])
def test_legend_and_captions_stay_put_while_the_camera_orbits(name: str, styled,
                                                              scenes) -> None:
    plan = styled(name)
    scene = scenes.get(plan, "cycles").scene
    tl = plan.timeline
    bar = bpy.data.objects["nnrender_legend_bar"]
    captions = [o for o in bpy.data.objects if o.name.startswith("nnrender_caption_")]
    seen = []
    try:
        for frame in (tl.first_frame, (tl.first_frame + tl.last_frame) // 2, tl.last_frame):
            scene.frame_set(frame)
            caption = next(o for o in captions if not o.hide_render)  # the one shown
            seen.append((_screen(scene, bar), _screen(scene, caption)[:1]))
    finally:
        scene.frame_set(tl.first_frame)
    for bar_view, cap_view in seen[1:]:
        np.testing.assert_allclose(bar_view, seen[0][0], atol=1e-5)
        np.testing.assert_allclose(cap_view, seen[0][1], atol=1e-5)
    bar_view, cap_view = seen[0]
    # the bar: lower right, wider than tall, inside the frame, in front of the network
    assert bar_view[:, 0].min() > 0.5 and bar_view[:, 0].max() < 0.99
    assert bar_view[:, 1].min() > 0.01 and bar_view[:, 1].max() < 0.3
    assert np.ptp(bar_view[:, 0]) > 2 * np.ptp(bar_view[:, 1])
    assert cap_view[:, 0].max() < 0.5 and cap_view[:, 1].max() < 0.3
    near = min(float(np.min(_screen(scene, o)[:, 2])) for o in scene.objects
               if o.name.startswith("layer_"))
    cam = scene.camera.data
    assert cam.clip_start < bar_view[:, 2].min() and bar_view[:, 2].max() < near


def test_legend_is_sharp_and_unhidden_with_depth_of_field(styled, scenes) -> None:
    """With depth of field the overlays live in a scene of their own, seen by a camera
    without it and laid over the render: the main camera's blur never reaches them, and no
    cell can hide them."""
    plan = dataclasses.replace(styled("cinematic"), legend=styled("talk").legend)
    scenes.forget()
    built = build(plan, "cycles")
    scene, over = built.scene, built.overlay_scene
    assert scene.camera.data.dof.use_dof
    assert over is not None and not over.camera.data.dof.use_dof
    bar = bpy.data.objects["nnrender_legend_bar"]
    assert bar.name in over.objects and bar.name not in scene.objects
    assert not any(o.name.startswith("layer_") for o in over.objects)


# ---------------------------------------------------------------- engines


def test_eevee_settings(styled, scenes) -> None:
    plan = styled("talk")
    scene = scenes.get(plan, "eevee").scene
    assert scene.render.engine == "BLENDER_EEVEE"
    assert scene.eevee.taa_render_samples == plan.render.samples
    assert not scene.eevee.use_shadows and not scene.eevee.use_raytracing  # see build.py
    assert _glare(scene) is not None, "bloom is a compositor effect in EEVEE too"


def test_workbench_keeps_the_look(styled, scenes) -> None:
    plan = styled("paper")
    built = scenes.get(plan, "workbench")
    scene = built.scene
    assert scene.render.film_transparent
    assert len(built.legend) >= 2
    label = next(o for o in bpy.data.objects if o.name.startswith("nnrender_label_"))
    np.testing.assert_allclose(tuple(label.data.materials[0].diffuse_color)[:3],
                               plan.look.label_color, atol=1e-6)
    bar_mat = bpy.data.objects["nnrender_legend_bar"].data.materials[0]
    assert bar_mat.node_tree.nodes.active.bl_idname == "ShaderNodeTexImage"


# ---------------------------------------------------------------- big atlas pages


def _pixels(image: bpy.types.Image) -> np.ndarray:
    w, h = image.size
    px = np.empty(w * h * 4, dtype=np.float32)
    image.pixels.foreach_get(px)
    return np.rint(px.reshape(h, w, 4)[::-1] * 255).astype(np.uint8)


def test_big_pages_load_from_a_file_without_a_float_copy(plan: ScenePlan, scenes, tmp_path,
                                                         monkeypatch) -> None:
    monkeypatch.setattr(images, "SMALL_PX", 0)  # every image takes the big-image path
    scenes.forget()
    calls = []
    monkeypatch.setattr(images, "_set_pixels", lambda *a: calls.append(a))
    built = build(plan, "cycles")
    assert calls == [], "no float pixels for big images"
    atlas = built.atlas
    assert atlas.source == "FILE" and atlas.packed_file is None
    path = Path(bpy.path.abspath(atlas.filepath))
    assert path.is_file() and path.suffix == ".rgb"
    np.testing.assert_array_equal(_pixels(atlas), plan.atlas.image(0))
    # a new build drops the files of the old one
    built2 = build(plan, "cycles")
    assert not path.exists()
    path2 = Path(bpy.path.abspath(built2.atlas.filepath))
    assert path2.is_file()
    # --save-blend packs it: the .blend opens without the temporary file
    blend = save_blend(tmp_path / "big.blend")
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    try:
        path2.rename(path2.with_suffix(".gone"))
        reopened = bpy.data.images["nnrender_atlas_0"]
        assert reopened.packed_file is not None
        np.testing.assert_array_equal(_pixels(reopened), plan.atlas.image(0))
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)


def test_iris_writer_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)  # odd sizes, random alpha
    path = tmp_path / "x.rgb"
    images.write_iris(path, 53, 37, images.rows_of(rgba))
    img = bpy.data.images.load(str(path))
    try:
        img.colorspace_settings.name = "sRGB"
        assert tuple(img.size) == (53, 37) and not img.is_float
        np.testing.assert_array_equal(_pixels(img), rgba)
    finally:
        bpy.data.images.remove(img)


def test_workbench_refills_big_frame_images_from_a_file(plan: ScenePlan, scenes,
                                                        monkeypatch) -> None:
    monkeypatch.setattr(images, "SMALL_PX", 0)
    scenes.forget()
    built = build(plan, "workbench")
    image = built.frame_image
    assert image.source == "FILE"
    tl = plan.timeline
    for frame in (tl.last_frame, tl.first_frame):
        built.update_frame(frame)
        want = plan.atlas.blend(float(tl.value(frame)), 0)
        np.testing.assert_array_equal(_pixels(image), want)
    assert math.isclose(float(tl.value(tl.first_frame)), 0.0)
