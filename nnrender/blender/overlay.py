"""Text in the scene: layer labels that face the camera, and what is pinned to the screen
(epoch captions, the colour bar), placed where the plan's overlay says.

Pinned things are children of the camera at the overlay depth, in camera-local coordinates
(x right, y up, the view along -z), so they stay put while the camera orbits. With depth of
field, build puts them in a scene of their own (``collection`` here), seen by a camera without
it and composited over the render, so the camera's blur never reaches them.
"""

from __future__ import annotations

import bpy
import numpy as np

from nnrender.blender import images
from nnrender.blender.anim import animate
from nnrender.blender.materials import gradient_material
from nnrender.blender.mesh import mesh, new_object
from nnrender.blender.names import ALIGN_X, ALIGN_Y
from nnrender.plan import ScenePlan, ScreenText


def text(name: str, body: str, size: float, material: bpy.types.Material,
         collection: bpy.types.Collection, align_x: str = "center",
         align_y: str = "bottom") -> bpy.types.Object:
    """A text object (Blender's default font) in ``collection``."""
    curve = bpy.data.curves.new(name, type="FONT")
    curve.body = body
    curve.size = size
    curve.align_x = ALIGN_X[align_x]
    curve.align_y = ALIGN_Y[align_y]
    return new_object(name, curve, collection, materials=[material])


def labels(plan: ScenePlan, cam: bpy.types.Object, material: bpy.types.Material,
           collection: bpy.types.Collection) -> list[bpy.types.Object]:
    """Labels at their plan positions, each turned to face the camera (vertical ones with
    their reading direction up)."""
    out = []
    for i, label in enumerate(plan.labels):
        obj = text(f"nnrender_label_{i:03d}", label.text, label.size, material, collection,
                   label.align_x, label.align_y)
        obj.location = label.position
        obj["nnrender_label"] = label.kind
        con = obj.constraints.new("TRACK_TO")
        con.target = cam
        con.track_axis = "TRACK_Z"
        con.up_axis = "UP_X" if label.vertical else "UP_Y"
        out.append(obj)
    return out


def _pinned(name: str, spot: ScreenText, material: bpy.types.Material,
            cam: bpy.types.Object, depth: float,
            collection: bpy.types.Collection) -> bpy.types.Object:
    obj = text(name, spot.text, spot.size, material, collection, spot.align_x, spot.align_y)
    obj.parent = cam
    obj.location = (spot.x, spot.y, -depth)
    return obj


def captions(plan: ScenePlan, cam: bpy.types.Object, material: bpy.types.Material,
             collection: bpy.types.Collection) -> list[bpy.types.Object]:
    """Epoch captions, each visible only in its frames (keyed hide flags)."""
    first, last = plan.timeline.first_frame, plan.timeline.last_frame
    out = []
    for i, (cap, spot) in enumerate(zip(plan.captions, plan.overlay.captions, strict=True)):
        obj = _pinned(f"nnrender_caption_{i:03d}", spot, material, cam, plan.overlay.depth,
                      collection)
        frames = [(cap.frame_start, 0.0)]
        if cap.frame_start > first:
            frames.insert(0, (first, 1.0))
        if cap.frame_end < last:
            frames.append((cap.frame_end + 1, 1.0))
        for prop in ("hide_render", "hide_viewport"):
            animate(obj, prop, frames, "CONSTANT")
        out.append(obj)
    return out


def legend(plan: ScenePlan, cam: bpy.types.Object, text_material: bpy.types.Material,
           collection: bpy.types.Collection) -> list[bpy.types.Object]:
    """The colour bar (a quad showing the colour map) and its tick labels and title."""
    leg = plan.legend
    if leg is None:
        return []
    colors = np.ascontiguousarray(np.asarray(leg.colors, dtype=np.uint8)[None])  # (1, n, 4)
    x0, y0, x1, y1 = leg.bar
    quad = mesh("nnrender_legend_bar",
                np.array([[x0, y0, 0], [x1, y0, 0], [x1, y1, 0], [x0, y1, 0]], np.float32),
                np.array([[0, 1, 2, 3]]),
                np.array([[0, 0.5], [1, 0.5], [1, 0.5], [0, 0.5]], np.float32))
    material = gradient_material("nnrender_legend", images.image_from("nnrender_legend", colors))
    bar = new_object("nnrender_legend_bar", quad, collection, materials=[material])
    bar.parent = cam
    bar.location = (0.0, 0.0, -plan.overlay.depth)
    out = [bar]
    for i, spot in enumerate(leg.texts):  # the ticks, then the title
        name = f"nnrender_legend_tick_{i:02d}" if i < len(leg.ticks) else "nnrender_legend_title"
        out.append(_pinned(name, spot, text_material, cam, plan.overlay.depth, collection))
    return out
