"""Meshes, point clouds and objects from numpy arrays: the one place geometry data-blocks
are filled (``foreach_set`` in bulk, never a Python loop per element)."""

from __future__ import annotations

from typing import Any

import bpy
import numpy as np

# unit box: 8 corners, 6 quads; the -X face is the one the camera sees, its u runs along -Y
BOX_VERTS = np.array(
    [[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)], dtype=np.float32
)
BOX_FACES = np.array(
    [
        [2, 0, 1, 3],  # -X: (y+, z-) (y-, z-) (y-, z+) (y+, z+)
        [4, 6, 7, 5],  # +X
        [0, 4, 5, 1],  # -Y
        [6, 2, 3, 7],  # +Y
        [0, 2, 6, 4],  # -Z
        [1, 5, 7, 3],  # +Z
    ],
    dtype=np.int32,
)
FACE_UV = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
BOX_UV = np.tile(FACE_UV, (6, 1))  # (24, 2), one 0..1 square per face
UV_NAME = "UVMap"


def box_verts(centers: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(n, 8, 3) corners of boxes with these centres and sizes."""
    return (BOX_VERTS[None] * sizes[:, None] + centers[:, None]).astype(np.float32)


def set_attribute(data: bpy.types.ID, name: str, kind: str, domain: str,
                  values: np.ndarray) -> bpy.types.Attribute:
    """A new generic attribute (``FLOAT``, ``FLOAT_VECTOR``, ``BOOLEAN``) on a mesh or
    curves data-block, filled from ``values``."""
    attr = data.attributes.new(name, kind, domain)
    key = "vector" if kind == "FLOAT_VECTOR" else "value"
    dtype = np.bool_ if kind == "BOOLEAN" else np.float32
    attr.data.foreach_set(key, np.ascontiguousarray(values, dtype=dtype).ravel())
    return attr


def mesh(name: str, verts: np.ndarray, quads: np.ndarray | None = None,
         uv: np.ndarray | None = None, material_index: np.ndarray | None = None,
         point_attributes: dict[str, np.ndarray] | None = None,
         validate: bool = False) -> bpy.types.Mesh:
    """A mesh of quads (``quads``: (F, 4) vertex indices; None: a point cloud), with
    per-corner ``uv`` (F * 4, 2) in the layer ``UVMap``, per-face ``material_index`` and
    float-vector point attributes. ``validate`` checks it (costly for big meshes)."""
    verts = np.ascontiguousarray(verts, dtype=np.float32).reshape(-1, 3)
    data = bpy.data.meshes.new(name)
    data.vertices.add(len(verts))
    data.vertices.foreach_set("co", verts.ravel())
    if quads is not None and len(quads):
        quads = np.ascontiguousarray(quads, dtype=np.int32).reshape(-1, 4)
        data.loops.add(quads.size)
        data.loops.foreach_set("vertex_index", quads.ravel())
        data.polygons.add(len(quads))
        data.polygons.foreach_set("loop_start", np.arange(0, quads.size, 4, dtype=np.int32))
        if material_index is not None:
            data.polygons.foreach_set("material_index",
                                      np.ascontiguousarray(material_index, dtype=np.int32))
        if uv is not None:
            layer = data.uv_layers.new(name=UV_NAME)
            layer.data.foreach_set("uv", np.ascontiguousarray(uv, dtype=np.float32).ravel())
    for key, values in (point_attributes or {}).items():
        set_attribute(data, key, "FLOAT_VECTOR", "POINT", values)
    data.update(calc_edges=quads is not None)
    if validate:
        data.validate()
    return data


def box_mesh(name: str) -> bpy.types.Mesh:
    """The unit box with a full 0..1 UV square on every face (a cell template)."""
    return mesh(name, BOX_VERTS, BOX_FACES, BOX_UV, validate=True)


def new_object(name: str, data: bpy.types.ID | None,
               collection: bpy.types.Collection | None = None,
               props: dict[str, Any] | None = None,
               materials: list[bpy.types.Material] | None = None) -> bpy.types.Object:
    """An object of ``data`` (None: an empty), its materials appended to the data, custom
    properties set, linked to ``collection`` (None: not linked, e.g. a template)."""
    for mat in materials or []:
        data.materials.append(mat)
    obj = bpy.data.objects.new(name, data)
    for key, value in (props or {}).items():
        obj[key] = value
    if collection is not None:
        collection.objects.link(obj)
    return obj
