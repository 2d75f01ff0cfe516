"""The stage around the network: camera rig, lights, world, the compositor (bloom, the
overlay scene laid on top) and the overlay scene itself."""

from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Vector

from nnrender.blender.anim import animate
from nnrender.blender.engine import overlay_settings
from nnrender.blender.mesh import new_object
from nnrender.blender.names import LIGHTS, PROJECTIONS, blender_name
from nnrender.blender.nodes import node, sock
from nnrender.layout.camera import offset_direction
from nnrender.plan import ScenePlan
from nnrender.plan.dressing import clip_starts
from nnrender.plan.types import CameraTrack

OVERLAY_SCENE = "nnrender_overlay"  # captions and legend, when the camera has depth of field


def camera(plan: ScenePlan, scene: bpy.types.Scene) -> bpy.types.Object:
    """A camera on a rig at the target: the rig turns (one linear key pair) for the orbit."""
    cp = plan.camera
    rig = new_object("nnrender_camera_rig", None, scene.collection)
    rig.location = cp.target
    data = bpy.data.cameras.new("nnrender_camera")
    data.lens = cp.lens
    data.sensor_width = cp.sensor
    data.sensor_fit = "AUTO"
    data.type = PROJECTIONS[cp.projection]
    if cp.orthographic:
        data.ortho_scale = float(cp.ortho_scale)
    data.clip_start = cp.clip_start
    data.clip_end = cp.clip_end
    data.dof.use_dof = cp.fstop is not None
    if cp.fstop is not None:
        data.dof.aperture_fstop = float(cp.fstop)
        data.dof.focus_object = rig  # the camera target, at plan.camera.distance
        data.dof.focus_distance = float(cp.distance)
    cam = new_object("nnrender_camera", data, scene.collection)
    cam.parent = rig
    cam.location = Vector(offset_direction(0.0, cp.elevation) * cp.distance)
    track = cam.constraints.new("TRACK_TO")
    track.target = rig
    track.track_axis = "TRACK_NEGATIVE_Z"
    track.up_axis = "UP_Y"
    story = plan.story
    if cp.track is None:  # one orbit over the whole video
        animate(rig, "rotation_euler", [(story.first_frame, math.radians(cp.azimuth_start)),
                                        (story.last_frame, math.radians(cp.azimuth_end))],
                "LINEAR", index=2)
    else:
        follow(rig, cam, cp.track)
        clips = clip_starts(cp)
        if clips is not None:
            animate(data, "clip_start", list(zip(cp.track.frames.astype(np.float64), clips,
                                                 strict=True)), "LINEAR")
    scene.camera = cam
    return cam


def follow(rig: bpy.types.Object, cam: bpy.types.Object, track: CameraTrack) -> None:
    """A story's camera, keyed on every frame: the rig at the target, turned to the
    azimuth; the camera at the elevation and distance; the orthographic scale."""
    frames = track.frames.astype(np.float64)
    for k in range(3):
        animate(rig, "location", list(zip(frames, track.target[:, k], strict=True)), "LINEAR",
                index=k)
    animate(rig, "rotation_euler", list(zip(frames, np.radians(track.azimuth), strict=True)),
            "LINEAR", index=2)
    el = np.radians(track.elevation)
    local = np.stack([-np.cos(el), np.zeros_like(el), np.sin(el)], axis=1) * \
        track.distance[:, None]  # offset_direction(0, el) * distance
    for k in (0, 2):
        animate(cam, "location", list(zip(frames, local[:, k], strict=True)), "LINEAR",
                index=k)
    if cam.data.type == "ORTHO":
        animate(cam.data, "ortho_scale", list(zip(frames, track.ortho_scale, strict=True)),
                "LINEAR")


def lights(plan: ScenePlan, scene: bpy.types.Scene) -> None:
    """AREA (size = side), POINT/SPOT (size = diameter), SUN (energy = strength in W/m²,
    size = angular diameter in radians); all aimed at the camera target."""
    target = Vector(plan.camera.target)
    for light in plan.lights:
        kind = blender_name(LIGHTS, light.kind, "light kind")
        data = bpy.data.lights.new(f"nnrender_{light.name}", kind)
        data.energy = light.energy
        data.color = light.color
        if kind == "AREA":
            data.size = light.size
        elif kind in ("POINT", "SPOT"):
            data.shadow_soft_size = light.size / 2
        elif kind == "SUN":
            data.angle = min(max(float(light.size), 0.0), math.pi)
        obj = new_object(f"nnrender_{light.name}", data)
        obj.location = light.position
        direction = target - Vector(light.position)
        obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
        scene.collection.objects.link(obj)


def world(plan: ScenePlan, scene: bpy.types.Scene) -> None:
    data = bpy.data.worlds.new("nnrender_world")
    bg = tuple(plan.look.background)
    data.color = bg
    nt = data.node_tree
    background = nt.nodes.get("Background") or nt.nodes.new("ShaderNodeBackground")
    background.inputs["Color"].default_value = (*bg, 1.0)
    background.inputs["Strength"].default_value = 1.0
    scene.world = data


def overlay_scene(plan: ScenePlan, engine: str, scene: bpy.types.Scene,
                  cam: bpy.types.Object) -> bpy.types.Scene:
    """A scene for the captions and legend when the camera has depth of field: same engine,
    size and colour settings, film transparent, seen by a copy of the camera without depth of
    field. The overlays are pinned in camera-local coordinates, so this camera never moves.
    The main scene's compositor renders it (at the main scene's frame) and lays it on top."""
    over = bpy.data.scenes.new(OVERLAY_SCENE)
    over.frame_start = plan.story.first_frame
    over.frame_end = plan.story.last_frame
    overlay_settings(over, scene, plan, engine)
    data = cam.data.copy()
    data.name = "nnrender_overlay_camera"
    data.animation_data_clear()  # a zooming main camera's keys are not the overlay's
    data.dof.use_dof = False
    data.dof.focus_object = None
    ocam = new_object("nnrender_overlay_camera", data, over.collection)
    over.camera = ocam
    return over


def compositor(plan: ScenePlan, scene: bpy.types.Scene,
               overlay: bpy.types.Scene | None = None) -> bpy.types.NodeTree | None:
    """Bloom: Render Layers -> Glare (Bloom) -> Group Output, a 5.0 compositor node group.
    The Glare node's strength stops at 1; beyond, the rest of the glare is added on top.
    With an overlay scene, its Render Layers go over the render (Alpha Over) before the bloom,
    so the overlays glow as they do when they are in the main scene."""
    bloom = plan.bloom
    if bloom is None and overlay is None:
        scene.compositing_node_group = None
        return None
    ng = bpy.data.node_groups.new("nnrender_compositor", "CompositorNodeTree")
    ng.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    layers = node(ng, "CompositorNodeRLayers", (-400, 0))
    result = layers.outputs["Image"]
    if overlay is not None:
        top = node(ng, "CompositorNodeRLayers", (-700, -300), scene=overlay)
        top.layer = overlay.view_layers[0].name
        over = node(ng, "CompositorNodeAlphaOver", (-250, -150), name="nnrender_overlay")
        over.inputs["Fac"].default_value = 1.0
        ng.links.new(result, over.inputs["Background"])
        ng.links.new(top.outputs["Image"], over.inputs["Foreground"])
        result = over.outputs["Image"]
    if bloom is not None:
        glare = node(ng, "CompositorNodeGlare", (-100, 0))
        glare.inputs["Type"].default_value = "Bloom"
        glare.inputs["Quality"].default_value = "Medium"
        glare.inputs["Threshold"].default_value = bloom.threshold
        glare.inputs["Size"].default_value = bloom.size
        glare.inputs["Strength"].default_value = min(bloom.strength, 1.0)
        ng.links.new(result, glare.inputs["Image"])
        result = glare.outputs["Image"]
        if bloom.strength > 1.0:
            add = node(ng, "ShaderNodeMix", (200, 0), data_type="RGBA", blend_type="ADD",
                       clamp_factor=False)
            sock(add.inputs, "Factor_Float").default_value = bloom.strength - 1.0
            ng.links.new(result, sock(add.inputs, "A_Color"))
            ng.links.new(glare.outputs["Glare"], sock(add.inputs, "B_Color"))
            result = sock(add.outputs, "Result_Color")
    out = node(ng, "NodeGroupOutput", (450, 0))
    ng.links.new(result, out.inputs[0])
    scene.compositing_node_group = ng
    scene.render.use_compositing = True
    return ng
