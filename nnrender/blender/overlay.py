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
from nnrender.blender.materials import (
    emission_material,
    faded_material,
    flat_material,
    gradient_material,
    rgb,
)
from nnrender.blender.mesh import mesh, new_object, set_attribute
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
    """Epoch captions, each visible only in its frames (keyed hide flags); title cards and
    lower thirds fade in and out."""
    first, last = plan.story.first_frame, plan.story.last_frame
    out = []
    card = None
    for i, (cap, spot) in enumerate(zip(plan.captions, plan.overlay.captions, strict=True)):
        mat = material
        if cap.fade:
            card = card or faded_material("nnrender_card", tuple(material.diffuse_color[:3]),
                                          1.0, 1.0)
            mat = card
        obj = _pinned(f"nnrender_caption_{i:03d}", spot, mat, cam, plan.overlay.depth,
                      collection)
        _visible(obj, cap.frame_start, cap.frame_end, first, last)
        _fade(obj, cap.frame_start, cap.frame_end, cap.fade)
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


def root(plan: ScenePlan, cam: bpy.types.Object,
         collection: bpy.types.Collection) -> bpy.types.Object:
    """What pinned things hang from: the camera, or, for a camera that zooms or clips
    close, an empty under it whose scale keeps them on screen as they were."""
    scale = plan.overlay.root_scale
    if scale is None or plan.camera.track is None:
        return cam
    empty = new_object("nnrender_overlay_root", None, collection)
    empty.parent = cam
    frames = plan.camera.track.frames.astype(np.float64)
    for k, column in ((0, 0), (1, 0), (2, 1)):  # x and y scale together, depth its own
        animate(empty, "scale", list(zip(frames, scale[:, column], strict=True)), "LINEAR",
                index=k)
    return empty


def _polyline(name: str, points: np.ndarray, radius: float, cyclic: bool,
              material: bpy.types.Material, parent: bpy.types.Object, depth: float,
              collection: bpy.types.Collection) -> bpy.types.Object:
    """A thin flat line in camera space (x, y at the overlay depth); ``cyclic`` closes it
    by repeating its first point (Cycles ignores hair curves' ``cyclic`` attribute)."""
    if cyclic:
        points = np.concatenate([points, points[:1]])
    data = bpy.data.hair_curves.new(name)
    data.add_curves([len(points)])
    data.set_types(type="POLY")
    xyz = np.concatenate([points, np.full((len(points), 1), -depth)], axis=1)
    data.position_data.foreach_set("vector", xyz.astype(np.float32).ravel())
    set_attribute(data, "radius", "FLOAT", "POINT", np.full(len(points), radius))
    obj = new_object(name, data, collection, materials=[material])
    obj.parent = parent
    return obj


def inset(plan: ScenePlan, pin: bpy.types.Object, text_material: bpy.types.Material,
          collection: bpy.types.Collection) -> list[bpy.types.Object]:
    """The metrics inset: its frame, one line per metric, each line's marker (keyed on
    every frame), the names and the epoch range."""
    plot = plan.overlay.inset
    if plot is None:
        return []
    depth = plan.overlay.depth
    x0, y0, x1, y1 = plot.box
    out = [_polyline("nnrender_inset_box", np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]),
                     plot.line_width / 4, True, text_material, pin, depth, collection)]
    frames = plot.frames.astype(np.float64)
    half = plot.marker_size / 2
    for i, (line, color) in enumerate(zip(plot.lines, plot.colors, strict=True)):
        mat = emission_material(f"nnrender_inset_{i}", rgb(color), 1.0)
        out.append(_polyline(f"nnrender_inset_line_{i}", line, plot.line_width / 2, False, mat,
                             pin, depth, collection))
        quad = mesh(f"nnrender_inset_marker_{i}", np.array(
            [[-half, -half, 0], [half, -half, 0], [half, half, 0], [-half, half, 0]],
            np.float32), np.array([[0, 1, 2, 3]]))
        marker = new_object(f"nnrender_inset_marker_{i}", quad, collection, materials=[mat])
        marker.parent = pin
        marker.location = (0.0, 0.0, -depth * 0.999)  # just in front of the line
        for k in range(2):
            animate(marker, "location", list(zip(frames, plot.markers[:, i, k], strict=True)),
                    "LINEAR", index=k)
        out.append(marker)
    for j, spot in enumerate(plot.texts):
        out.append(_pinned(f"nnrender_inset_text_{j:02d}", spot, text_material, pin, depth,
                           collection))
    return out


def _visible(obj: bpy.types.Object, start: int, end: int, first: int, last: int) -> None:
    """Keyed hide flags: shown from ``start`` to ``end`` only."""
    frames = [(start, 0.0)]
    if start > first:
        frames.insert(0, (first, 1.0))
    if end < last:
        frames.append((end + 1, 1.0))
    for prop in ("hide_render", "hide_viewport"):
        animate(obj, prop, frames, "CONSTANT")


def _fade(obj: bpy.types.Object, start: int, end: int, frames: int) -> None:
    """Keyed colour alpha (read by ``faded_material``): up from 0 over ``frames`` after
    ``start``, down to 0 over ``frames`` before ``end``."""
    if frames <= 0:
        return
    obj.color = (1.0, 1.0, 1.0, 1.0)
    animate(obj, "color", [(start, 0.0), (start + frames, 1.0), (end - frames, 1.0),
                           (end, 0.0)], "LINEAR", index=3)


def plates(plan: ScenePlan, pin: bpy.types.Object,
           collection: bpy.types.Collection) -> list[bpy.types.Object]:
    """Translucent backdrops in the background colour, just behind their text."""
    out = []
    first, last = plan.story.first_frame, plan.story.last_frame
    depth = plan.overlay.depth * 1.002
    bg = rgb(plan.look.background)
    for i, plate in enumerate(plan.overlay.plates):
        x0, y0, x1, y1 = plate.box
        quad = mesh(f"nnrender_plate_{i}", np.array(
            [[x0, y0, -depth], [x1, y0, -depth], [x1, y1, -depth], [x0, y1, -depth]],
            np.float32), np.array([[0, 1, 2, 3]]))
        maker = faded_material if plate.fade else flat_material
        mat = maker(f"nnrender_plate_{i}", bg, 1.0, plate.opacity)
        obj = new_object(f"nnrender_plate_{i}", quad, collection, materials=[mat])
        obj.parent = pin
        if plate.frame_start > first or plate.frame_end < last:
            _visible(obj, plate.frame_start, plate.frame_end, first, last)
        _fade(obj, plate.frame_start, plate.frame_end, plate.fade)
        out.append(obj)
    return out
