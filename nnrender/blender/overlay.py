"""Things pinned to the screen: epoch captions (lower left) and the colour bar (lower right).

They are children of the camera at a fixed depth in front of it, laid out in camera-local
coordinates (x right, y up, the view along -z), so they stay put while the camera orbits, in
perspective and orthographic views alike. The depth is well inside the near side of the
network.

With depth of field, build puts them in a scene of their own (``collection`` here), seen by a
camera without it and composited over the render, so the camera's blur never reaches them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import bpy
import numpy as np

from nnrender.blender import images
from nnrender.layout.camera import SENSOR
from nnrender.plan import ScenePlan


@dataclass
class Screen:
    """The visible rectangle at ``depth`` in front of the camera: half width and height."""

    depth: float
    half_w: float
    half_h: float


def is_ortho(plan: ScenePlan) -> bool:
    return plan.camera.projection == "ORTHO"


def screen(plan: ScenePlan) -> Screen:
    cam = plan.camera
    depth = 0.05 * cam.distance  # 5x the clip start the camera gets
    w, h = plan.render["resolution"]
    if is_ortho(plan):
        half_big = float(cam.ortho_scale) / 2
    else:
        half_big = SENSOR / 2 / cam.lens * depth
    if w >= h:
        return Screen(depth, half_big, half_big * h / w)
    return Screen(depth, half_big * w / h, half_big)


def text(name: str, body: str, size: float, material: bpy.types.Material,
         align_x: str = "CENTER", align_y: str = "BOTTOM",
         collection: bpy.types.Collection | None = None) -> bpy.types.Object:
    curve = bpy.data.curves.new(name, type="FONT")
    curve.body = body
    curve.size = size
    curve.align_x = align_x
    curve.align_y = align_y
    curve.materials.append(material)
    obj = bpy.data.objects.new(name, curve)
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj


def _pin(obj: bpy.types.Object, cam: bpy.types.Object, xyz: tuple[float, float, float]):
    obj.parent = cam
    obj.location = xyz
    return obj


def captions(plan: ScenePlan, cam: bpy.types.Object, material: bpy.types.Material,
             keys: Callable[[bpy.types.Object, str, list], None],
             collection: bpy.types.Collection | None = None) -> list[bpy.types.Object]:
    """Epoch captions in the lower left, each visible in its frames (``keys`` animates),
    linked to ``collection`` (default: the current scene's)."""
    sc = screen(plan)
    out = []
    for i, cap in enumerate(plan.captions):
        obj = text(f"nnrender_caption_{i:03d}", cap.text, 0.07 * sc.half_h, material,
                   "LEFT", "BOTTOM", collection)
        _pin(obj, cam, (-sc.half_w * 0.94, -sc.half_h * 0.92, -sc.depth))
        frames = [(cap.frame_start, 0.0)]
        if cap.frame_start > plan.timeline.first_frame:
            frames.insert(0, (plan.timeline.first_frame, 1.0))
        if cap.frame_end < plan.timeline.last_frame:
            frames.append((cap.frame_end + 1, 1.0))
        for prop in ("hide_render", "hide_viewport"):
            keys(obj, prop, frames)
        out.append(obj)
    return out


def _gradient_material(image: bpy.types.Image) -> bpy.types.Material:
    """Emission only: the bar keeps its colours under any light (view transform Standard)."""
    mat = bpy.data.materials.new("nnrender_legend")
    mat.diffuse_color = (1.0, 1.0, 1.0, 1.0)
    nt = mat.node_tree
    nt.nodes.clear()
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.interpolation = "Linear"
    tex.extension = "EXTEND"
    nt.nodes.active = tex  # what Workbench's texture colour shows
    em = nt.nodes.new("ShaderNodeEmission")
    em.inputs["Strength"].default_value = 1.0
    nt.links.new(tex.outputs["Color"], em.inputs["Color"])
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(em.outputs[0], out.inputs["Surface"])
    mat.cycles.emission_sampling = "NONE"
    return mat


def _bar_mesh(name: str, x0: float, y0: float, x1: float, y1: float, z: float):
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(4)
    mesh.vertices.foreach_set("co", np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z],
                                              [x0, y1, z]], dtype=np.float32).ravel())
    mesh.loops.add(4)
    mesh.loops.foreach_set("vertex_index", np.arange(4, dtype=np.int32))
    mesh.polygons.add(1)
    mesh.polygons.foreach_set("loop_start", np.zeros(1, dtype=np.int32))
    uv = mesh.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", np.array([0, 0.5, 1, 0.5, 1, 0.5, 0, 0.5], dtype=np.float32))
    mesh.update(calc_edges=True)
    return mesh


def legend(plan: ScenePlan, cam: bpy.types.Object, text_material: bpy.types.Material,
           collection: bpy.types.Collection | None = None) -> list[bpy.types.Object]:
    """A horizontal colour bar in the lower right, tick labels under it, the title above."""
    leg = plan.legend
    if leg is None:
        return []
    sc = screen(plan)
    colors = np.ascontiguousarray(np.asarray(leg.colors, dtype=np.uint8)[None])  # (1, n, 4)
    image = images.image_from("nnrender_legend", colors)
    size = 0.06 * sc.half_h  # tick text, a little smaller than the captions
    thick = 0.045 * sc.half_h
    length = 0.5 * sc.half_w
    # the last tick label is centred on the bar's end: leave room for its right half
    last = len(leg.ticks[-1][1]) if leg.ticks else 0
    right = sc.half_w * 0.94 - 0.3 * size * last
    left = right - length
    bottom = -sc.half_h * 0.92 + 1.35 * size  # room for the tick labels under the bar
    z = -sc.depth
    bar = bpy.data.objects.new("nnrender_legend_bar",
                               _bar_mesh("nnrender_legend_bar", left, bottom, right,
                                         bottom + thick, 0.0))
    bar.data.materials.append(_gradient_material(image))
    collection = collection or bpy.context.scene.collection
    collection.objects.link(bar)
    out = [_pin(bar, cam, (0.0, 0.0, z))]
    for i, (pos, label) in enumerate(leg.ticks):
        obj = text(f"nnrender_legend_tick_{i:02d}", label, size, text_material, "CENTER", "TOP",
                   collection)
        out.append(_pin(obj, cam, (left + float(pos) * length, bottom - 0.35 * size, z)))
    if leg.title:
        obj = text("nnrender_legend_title", leg.title, 1.1 * size, text_material, "CENTER",
                   "BOTTOM", collection)
        out.append(_pin(obj, cam, ((left + right) / 2, bottom + thick + 0.4 * size, z)))
    return out
