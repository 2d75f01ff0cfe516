"""Keys on Blender 5.0 layered actions: one fcurve per animated value, keys set in bulk."""

from __future__ import annotations

import bpy
import numpy as np
from bpy_extras import anim_utils

Keys = list[tuple[float, float]]


def fcurve(id_data: bpy.types.ID, data_path: str, index: int = 0) -> bpy.types.FCurve:
    """An fcurve on the ID's layered action (5.0: an action needs a slot before a channelbag)."""
    anim = id_data.animation_data or id_data.animation_data_create()
    if anim.action is None:
        anim.action = bpy.data.actions.new(f"{id_data.name}_action")
    if anim.action_slot is None:
        anim.action_slot = anim.action.slots.new(id_type=id_data.id_type, name=id_data.name)
    bag = anim_utils.action_ensure_channelbag_for_slot(anim.action, anim.action_slot)
    return bag.fcurves.new(data_path, index=index)


def set_keys(fc: bpy.types.FCurve, keys: Keys, interpolation: str) -> bpy.types.FCurve:
    """(frame, value) keys; BEZIER keys get flat handles a third of the way to each
    neighbour, which traces smoothstep between keys (``timeline.epochs``)."""
    fc.keyframe_points.add(len(keys))
    fc.keyframe_points.foreach_set("co", np.asarray(keys, dtype=np.float32).ravel())
    for i, kp in enumerate(fc.keyframe_points):
        kp.interpolation = interpolation
        if interpolation == "BEZIER":
            f, v = keys[i]
            left = (f - keys[i - 1][0]) / 3 if i > 0 else 1.0
            right = (keys[i + 1][0] - f) / 3 if i + 1 < len(keys) else 1.0
            kp.handle_left_type = "FREE"
            kp.handle_right_type = "FREE"
            kp.handle_left = (f - left, v)
            kp.handle_right = (f + right, v)
    fc.update()
    return fc


def animate(id_data: bpy.types.ID, data_path: str, keys: Keys, interpolation: str,
            index: int = 0) -> bpy.types.FCurve:
    """Keys on a new fcurve of ``id_data`` for ``data_path``."""
    return set_keys(fcurve(id_data, data_path, index), keys, interpolation)
