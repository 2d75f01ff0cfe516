"""A storyboard in bpy.data: the camera, the (epoch, input) state, the forward-pass wave and
the titles keyed as the plan says, frame for frame."""

from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
import pytest
from mathutils import Vector

from nnrender.blender.materials import EPOCH_PROP, WAVE_ON_PROP, WAVE_PROP
from nnrender.config.load import load_config
from nnrender.layout.camera import offset_direction
from nnrender.model.ir import Dump
from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.plan import ScenePlan, make_plan

pytestmark = pytest.mark.blender


@pytest.fixture(scope="module")
def story_plan(tmp_path_factory: pytest.TempPathFactory) -> ScenePlan:
    dump = write_synthetic(tmp_path_factory.mktemp("storyb") / "d", cnn_layers(), epochs=3,
                           count=2, with_weights=True)
    config, _ = load_config(None, {
        "render": {"resolution": [96, 54], "samples": 1},
        "shots": [{"duration": 0.5, "epochs": "first", "title": "hello"},
                  {"move": "orbit", "duration": 1.0, "epochs": "play",
                   "transition": {"blend": 0.3}},
                  {"move": "push", "layer": "conv2", "duration": 0.5},
                  {"move": "fly", "duration": 0.75}],
        "forward": [{"at": 0.1, "duration": 0.3}],
        "inputs": [{"at": 1.7, "sample": 1, "blend": 0.2}],
        "metrics": {"show": ["accuracy"]}})
    return make_plan(Dump(dump), config)


def _value(id_data: bpy.types.ID, path: str) -> float:
    return float(id_data.path_resolve(path))


def test_keys_follow_the_plan_frame_for_frame(story_plan: ScenePlan, scenes) -> None:
    built = scenes.get(story_plan, "cycles")
    scene = built.scene
    track, story = story_plan.camera.track, story_plan.story
    rig = bpy.data.objects["nnrender_camera_rig"]
    cam = bpy.data.objects["nnrender_camera"]
    assert (scene.frame_start, scene.frame_end) == (story.first_frame, story.last_frame)
    frames = np.arange(story.first_frame, story.last_frame + 1)
    front, on = story.wave_values(frames)
    values = story.value(frames)
    title = next(o for o in bpy.data.objects if o.name.startswith("nnrender_caption")
                 and o.data.body == "hello")
    (t_cap,) = [c for c in story_plan.captions if c.kind == "title"]
    assert t_cap.fade == 12 // 3  # 0.3 s at 24 fps, at most a third of its 12 frames
    assert title.active_material.name == "nnrender_card"
    try:
        for i, f in enumerate(frames):
            scene.frame_set(int(f))
            target, az, el, dist, _ = track.at(int(f))
            np.testing.assert_allclose(tuple(rig.location), target, atol=1e-4)
            assert rig.rotation_euler.z == pytest.approx(math.radians(az), abs=1e-5)
            np.testing.assert_allclose(tuple(cam.location), offset_direction(0.0, el) * dist,
                                       atol=1e-4 * max(dist, 1))
            assert scene[EPOCH_PROP] == pytest.approx(values[i], abs=1e-5)
            assert scene[WAVE_ON_PROP] == pytest.approx(on[i])
            if on[i]:
                assert scene[WAVE_PROP] == pytest.approx(front[i], abs=1e-4)
            assert title.hide_render == (not t_cap.frame_start <= f <= t_cap.frame_end)
            # the title card fades in and out over its first and last t_cap.fade frames
            shown = min(f - t_cap.frame_start, t_cap.frame_end - f, t_cap.fade) / t_cap.fade
            if not title.hide_render:
                assert title.color[3] == pytest.approx(max(shown, 0.0), abs=1e-5)
        # the camera looks at its target: the rig is at the centre of the view
        scene.frame_set(int(frames[len(frames) // 2]))
        view = cam.matrix_world.inverted() @ rig.matrix_world.translation
        assert abs(view.x) < 1e-3 * view.length and abs(view.y) < 1e-3 * view.length
    finally:
        scene.frame_set(story.first_frame)


def test_the_atlas_holds_a_block_per_state_and_the_wave_reaches_the_shader(
        story_plan: ScenePlan, scenes) -> None:
    built = scenes.get(story_plan, "cycles")
    assert story_plan.story.states == [(0, 0), (1, 0), (2, 0), (2, 1)]
    assert story_plan.atlas.layout.epochs == 4
    mat = bpy.data.materials["nnrender_maps_0"]
    names = {n.attribute_name for n in mat.node_tree.nodes if n.bl_idname ==
             "ShaderNodeAttribute"}
    assert {EPOCH_PROP, WAVE_PROP, WAVE_ON_PROP, "arrive"} <= names
    for obj, lp in zip(built.layer_objects, story_plan.layers, strict=True):
        arrive = obj.data.attributes["arrive"]
        vec = np.empty(3 * len(arrive.data), np.float32)
        arrive.data.foreach_get("vector", vec)
        np.testing.assert_allclose(vec.reshape(-1, 3)[:, 0], lp.depth)
    edges = [o for o in built.edge_objects if o.type == "CURVES"]
    assert edges and all({"u", "arrive0", "arrive1"} <= set(o.data.attributes.keys())
                         for o in edges)


def test_the_inset_markers_ride_the_epochs(story_plan: ScenePlan, scenes) -> None:
    built = scenes.get(story_plan, "cycles")
    inset = story_plan.overlay.inset
    marker = bpy.data.objects["nnrender_inset_marker_0"]
    scene = built.scene
    try:
        for f in (inset.frames[0], inset.frames[len(inset.frames) // 2], inset.frames[-1]):
            scene.frame_set(int(f))
            k = int(f - inset.frames[0])
            np.testing.assert_allclose(tuple(marker.location)[:2], inset.markers[k, 0],
                                       atol=1e-5)
    finally:
        scene.frame_set(story_plan.story.first_frame)


def test_a_push_clips_the_layers_in_front(story_plan: ScenePlan, scenes) -> None:
    built = scenes.get(story_plan, "cycles")
    scene = built.scene
    push = story_plan.story.shots[2]
    cam = bpy.data.objects["nnrender_camera"]
    root = bpy.data.objects.get("nnrender_overlay_root")
    assert root is not None
    try:
        scene.frame_set(push.end)
        dist = (cam.matrix_world.translation - Vector(story_plan.camera.track.at(push.end)[0]))
        assert cam.data.clip_start > 0.9 * dist.length
        # the overlays hang beyond the clip (a caption shown then: hidden objects are not
        # evaluated in the viewport's depsgraph)
        shown = [i for i, c in enumerate(story_plan.captions)
                 if c.frame_start <= push.end <= c.frame_end]
        caption = bpy.data.objects[f"nnrender_caption_{shown[0]:03d}"]
        local = cam.matrix_world.inverted() @ caption.matrix_world.translation
        assert -local.z > cam.data.clip_start
    finally:
        scene.frame_set(story_plan.story.first_frame)


def test_workbench_darkens_the_layers_ahead_of_the_wave(story_plan: ScenePlan, scenes,
                                                        tmp_path: Path) -> None:
    built = scenes.get(story_plan, "workbench")
    (wave,) = story_plan.story.waves
    mid = (wave.start + wave.end) // 2
    try:
        built.update_frame(mid)
        w, h = built.frame_image.size
        px = np.empty(w * h * 4, np.float32)
        built.frame_image.pixels.foreach_get(px)
        during = px.reshape(h, w, 4)[::-1].copy()
        built.update_frame(wave.end + 2)
        built.frame_image.pixels.foreach_get(px)
        after = px.reshape(h, w, 4)[::-1]
    finally:
        built.update_frame(story_plan.story.first_frame)
    deep = max(story_plan.layers, key=lambda lp: lp.depth)
    x, y, tw, th = deep.tiles[0]
    assert during[y:y + th, x:x + tw, :3].mean() < 0.5 * after[y:y + th, x:x + tw, :3].mean()
