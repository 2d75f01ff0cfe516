"""Connections and the receptive field: plan data -> hair Curves objects (bpy only).

Every ``EdgeGroup`` becomes ONE hair Curves object (new-style ``bpy.data.hair_curves``, not
bevelled legacy curves: 100k curves x 16 points build in ~0.07 s where legacy curves took
3.5 GB). Its points carry ``straight`` and ``bundled`` positions, its curves one signed
weight per epoch slot (``w_0 .. w_{E-1}``). One Geometry Nodes group per epoch count mixes
them by two keyed modifier inputs: ``Bundle`` (position = mix(straight, bundled)) and
``Epoch`` (w blended like the feature maps), stores the blended w as the curve attribute
``weight``, and how present each curve is (``present``: 1 where drawn at the epoch, easing
between epochs, so an edge leaving the selection fades out rather than popping off), deletes
the curves not present at that frame and sets the radius from |w| times presence.
The shader reads ``weight``: its sign picks the colour, |w| the opacity. Eevee and
Workbench draw hair slowly on software GL: for them the curves become thin tubes, whose
material index follows the sign (Workbench reads no attributes: a plain material per sign).

The receptive field is a translucent mesh of the frustum sides plus its outline as thin
poly hair curves.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import bpy
import numpy as np

from nnrender.blender.anim import animate
from nnrender.blender.materials import (
    PRESENT_ATTR,
    WEIGHT_ATTR,
    edge_material,
    flat_material,
    plain_material,
    rgb,
)
from nnrender.blender.mesh import mesh, new_object, set_attribute
from nnrender.blender.nodes import (
    geometry_socket,
    group_input,
    math_op,
    mix,
    named,
    node,
    socket_id,
)
from nnrender.blender.scene import BuiltScene
from nnrender.edges.groups import EdgeGroup, FieldPlan
from nnrender.plan import ScenePlan

EPOCH_SOCKET = "Epoch"
BUNDLE_SOCKET = "Bundle"
RADIUS_SOCKET = "Radius"
MIN_RADIUS_SOCKET = "Min Radius"
MESH_SOCKET = "As Mesh"  # Eevee, Workbench: thin tubes, material index 1 where w < 0
# Edges are flat, unlit colour (emission over a Transparent BSDF, its strength from the
# plan): thin lines read as a diagram's, in every light and style, and Cycles evaluates no
# BSDF at each of their many transparent hits (640x360, 16 spp, 5k curves: ~5 s with
# emission vs ~10 s with a Principled surface; 3.5 s without edges).
FIELD_NAME = "nnrender_field"
FIELD_LINES = "nnrender_field_lines"


# ------------------------------------------------------------------ geometry nodes


def _present(ng: bpy.types.NodeTree, w: bpy.types.NodeSocket,
             loc: tuple[float, float]) -> bpy.types.NodeSocket:
    """1 where a weight is drawn (w != 0), else 0."""
    return math_op(ng, "SIGN", math_op(ng, "ABSOLUTE", w, None, loc), None,
                   (loc[0], loc[1] - 80))


def edges_group(epochs: int) -> bpy.types.NodeTree:
    """Curves -> curves, shared by every group with ``epochs`` weight slots:

    w = w_0, then w = mix(w, w_i, clamp(Epoch - (i - 1), 0, 1)) for i >= 1 (as the maps
    blend, = ``EdgeGroup.weight_at``), stored as the curve attribute ``weight``; presence
    blended the same way from w_i != 0 (= ``presence_at``), stored as ``present``; curves
    not present deleted; position = mix(straight, bundled, Bundle); radius = present *
    (Min Radius + (Radius - Min Radius) * |w|). With As Mesh: tubes, material index 1 where
    w < 0."""
    name = f"nnrender_edges_e{epochs}"
    found = bpy.data.node_groups.get(name)
    if found is not None:
        return found
    ng = bpy.data.node_groups.new(name, "GeometryNodeTree")
    geometry_socket(ng, "INPUT")
    group_input(ng, EPOCH_SOCKET, "NodeSocketFloat", 0.0)
    group_input(ng, BUNDLE_SOCKET, "NodeSocketFloat", 0.0)
    group_input(ng, RADIUS_SOCKET, "NodeSocketFloat", 0.01)
    group_input(ng, MIN_RADIUS_SOCKET, "NodeSocketFloat", 0.002)
    group_input(ng, MESH_SOCKET, "NodeSocketBool")
    geometry_socket(ng, "OUTPUT")
    gin = node(ng, "NodeGroupInput", (-1400, 0))
    gout = node(ng, "NodeGroupOutput", (2050, 0))

    # blended weight and presence (1 where drawn at the epoch, eased between epochs), both
    # evaluated on the curve domain by Store Named Attribute
    w = named(ng, "w_0", "FLOAT", (-1200, 400))
    here = _present(ng, w, (-1100, 800))
    for i in range(1, epochs):
        x = -1200 + 150 * i
        fac = math_op(ng, "SUBTRACT", gin.outputs[EPOCH_SOCKET], float(i - 1), (x, 600),
                    clamp=True)
        wi = named(ng, f"w_{i}", "FLOAT", (x - 100, 300))
        w = mix(ng, "Float", fac, w, wi, (x, 450))
        here = mix(ng, "Float", fac, here, _present(ng, wi, (x, 900)), (x, 750))
    geo = gin.outputs["Geometry"]
    for name, value, y in ((WEIGHT_ATTR, w, 0), (PRESENT_ATTR, here, -150)):
        store = node(ng, "GeometryNodeStoreNamedAttribute", (-200, y), data_type="FLOAT",
                      domain="CURVE")
        store.inputs["Name"].default_value = name
        ng.links.new(geo, store.inputs["Geometry"])
        ng.links.new(value, store.inputs["Value"])
        geo = store.outputs["Geometry"]

    weight = named(ng, WEIGHT_ATTR, "FLOAT", (0, 400))
    size = math_op(ng, "ABSOLUTE", weight, None, (150, 400))
    present = named(ng, PRESENT_ATTR, "FLOAT", (0, 250))
    zero = node(ng, "FunctionNodeCompare", (300, 300), data_type="FLOAT",
                 operation="LESS_EQUAL")
    ng.links.new(present, zero.inputs["A"])
    zero.inputs["B"].default_value = 0.0
    delete = node(ng, "GeometryNodeDeleteGeometry", (600, 0), domain="CURVE", mode="ALL")
    ng.links.new(geo, delete.inputs["Geometry"])
    ng.links.new(zero.outputs["Result"], delete.inputs["Selection"])
    geo = delete.outputs["Geometry"]

    pos = mix(ng, "Vector", gin.outputs[BUNDLE_SOCKET],
               named(ng, "straight", "FLOAT_VECTOR", (600, -300)),
               named(ng, "bundled", "FLOAT_VECTOR", (600, -450)), (800, -300))
    setpos = node(ng, "GeometryNodeSetPosition", (900, 0))
    ng.links.new(geo, setpos.inputs["Geometry"])
    ng.links.new(pos, setpos.inputs["Position"])
    geo = setpos.outputs["Geometry"]

    span = math_op(ng, "SUBTRACT", gin.outputs[RADIUS_SOCKET], gin.outputs[MIN_RADIUS_SOCKET],
                 (600, 500))
    radius = math_op(ng, "MULTIPLY_ADD", size, span, (750, 450))
    ng.links.new(gin.outputs[MIN_RADIUS_SOCKET], radius.node.inputs[2])
    radius = math_op(ng, "MULTIPLY", radius, present, (900, 450))
    setrad = node(ng, "GeometryNodeSetCurveRadius", (1100, 0))
    ng.links.new(geo, setrad.inputs["Curve"])
    ng.links.new(radius, setrad.inputs["Radius"])
    geo = setrad.outputs["Curve"]

    # As Mesh (Eevee, Workbench): 3-sided tubes through the control points. Both engines
    # draw hair strands slowly on software GL (640x360, 16 samples, 5k curves: Workbench
    # 8.6 s a frame as hair vs 1.9 s as tubes, 0.5 s without edges; Eevee 22-28 s vs 8.6 s,
    # 6.7 s without), and a mesh keeps a material index (renderers ignore it on Curves): in
    # Workbench, which reads no attributes, the sign picks one of two plain materials.
    # Cycles keeps the hair: camera-facing ribbons are cheap there.
    coarse = node(ng, "GeometryNodeSetSplineResolution", (1300, -300))
    coarse.inputs["Resolution"].default_value = 1
    ng.links.new(geo, coarse.inputs["Geometry"])
    profile = node(ng, "GeometryNodeCurvePrimitiveCircle", (1300, -500))
    profile.inputs["Resolution"].default_value = 3
    # a triangle's projected width averages 3*sqrt(3)/pi = 1.65 times its circumradius:
    # scaled, the tubes look as wide as Cycles' ribbons (2 * radius)
    profile.inputs["Radius"].default_value = 2.0 / (3.0 * 3.0 ** 0.5 / math.pi)
    tube = node(ng, "GeometryNodeCurveToMesh", (1500, -300))
    ng.links.new(coarse.outputs["Geometry"], tube.inputs["Curve"])
    ng.links.new(profile.outputs["Curve"], tube.inputs["Profile Curve"])
    ng.links.new(node(ng, "GeometryNodeInputRadius", (1300, -650)).outputs[0],
                 tube.inputs["Scale"])
    setmat = node(ng, "GeometryNodeSetMaterialIndex", (1700, -300))
    ng.links.new(tube.outputs["Mesh"], setmat.inputs["Geometry"])
    ng.links.new(math_op(ng, "LESS_THAN", named(ng, WEIGHT_ATTR, "FLOAT", (1500, -550)), 0.0,
                       (1650, -500)), setmat.inputs["Material Index"])
    switch = node(ng, "GeometryNodeSwitch", (1850, 0), input_type="GEOMETRY")
    ng.links.new(gin.outputs[MESH_SOCKET], switch.inputs["Switch"])
    ng.links.new(geo, switch.inputs["False"])
    ng.links.new(setmat.outputs["Geometry"], switch.inputs["True"])
    ng.links.new(switch.outputs["Output"], gout.inputs[0])
    return ng


# ------------------------------------------------------------------ materials


class _Materials:
    """Edge materials, shared by the groups with equal looks."""

    def __init__(self) -> None:
        self._made: dict[tuple, bpy.types.Material] = {}

    def _get(self, key: tuple, make: Callable[[str], bpy.types.Material]
             ) -> bpy.types.Material:
        if key not in self._made:
            self._made[key] = make(f"nnrender_edges_{len(self._made)}")
        return self._made[key]

    def shader(self, group: EdgeGroup, pulses: bool) -> bpy.types.Material:
        key = ("shader", rgb(group.positive), rgb(group.negative), float(group.opacity),
               float(group.emission), float(group.alpha_floor), pulses)
        return self._get(key, lambda name: edge_material(name, group, pulses))

    def plain(self, color: tuple[float, float, float]) -> bpy.types.Material:
        key = ("plain", rgb(color))
        return self._get(key, lambda name: plain_material(name, rgb(color)))


# ------------------------------------------------------------------ curves


def hair(name: str, sizes: np.ndarray) -> bpy.types.Curves:
    """A hair Curves data-block with curves of ``sizes`` points each."""
    data = bpy.data.hair_curves.new(name)
    if len(sizes):
        data.add_curves(sizes.tolist())
    return data


def object_name(group: EdgeGroup) -> str:
    """``edges_<source->target>``, safe for Blender's 63-byte names."""
    safe = re.sub(r"[^A-Za-z0-9_.\->]", "_", group.name)
    return f"edges_{safe}"[:63]


def _edges_object(group: EdgeGroup, materials: list[bpy.types.Material],
                  collection: bpy.types.Collection, pulses: bool) -> bpy.types.Object:
    name = object_name(group)
    data = hair(name, np.full(group.count, group.samples, dtype=np.int64))
    straight = np.asarray(group.straight, dtype=np.float32).reshape(-1, 3)
    data.position_data.foreach_set("vector", straight.ravel())
    set_attribute(data, "straight", "FLOAT_VECTOR", "POINT", straight)
    set_attribute(data, "bundled", "FLOAT_VECTOR", "POINT", group.bundled.reshape(-1, 3))
    weights = np.asarray(group.weights, dtype=np.float32)
    for e in range(weights.shape[1]):
        set_attribute(data, f"w_{e}", "FLOAT", "CURVE", weights[:, e])
    if pulses:  # along each curve 0..1, and the depths of its ends, for the wave's pulse
        u = np.tile(np.linspace(0.0, 1.0, group.samples, dtype=np.float32), group.count)
        set_attribute(data, "u", "FLOAT", "POINT", u)
        arrive = (np.asarray(group.arrive, np.float32) if group.arrive is not None
                  else np.zeros((group.count, 2), np.float32))
        set_attribute(data, "arrive0", "FLOAT", "CURVE", arrive[:, 0])
        set_attribute(data, "arrive1", "FLOAT", "CURVE", arrive[:, 1])
    return new_object(name, data, collection,
                      {"nnrender_edges": group.name, "nnrender_kind": group.kind}, materials)


def _edges_modifier(obj: bpy.types.Object, group: EdgeGroup, plan: ScenePlan,
                    epoch_keys: list, bundle_keys: list) -> bpy.types.NodesModifier:
    ng = edges_group(int(group.weights.shape[1]))
    mod = obj.modifiers.new("edges", "NODES")
    mod.node_group = ng
    mod[socket_id(ng, RADIUS_SOCKET)] = float(group.radius)
    mod[socket_id(ng, MIN_RADIUS_SOCKET)] = float(min(group.min_radius, group.radius))
    epoch = socket_id(ng, EPOCH_SOCKET)
    mod[epoch] = 0.0
    animate(obj, f'modifiers["{mod.name}"]["{epoch}"]', epoch_keys, plan.story.interpolation)
    bundle = socket_id(ng, BUNDLE_SOCKET)
    mod[bundle] = float(plan.bundle)
    if bundle_keys:
        animate(obj, f'modifiers["{mod.name}"]["{bundle}"]', bundle_keys, "BEZIER")
    return mod


def build_edges(plan: ScenePlan, built: BuiltScene) -> list[bpy.types.Object]:
    """One Curves object per edge group (and the receptive field) in the main collection;
    the Epoch input keyed like ``scene["epoch"]``, Bundle like ``plan.bundle_keys``."""
    collection = built.scene.collection
    mats = _Materials()
    epoch_keys = [(float(f), float(v)) for f, v in plan.story.keys]
    bundle_keys = [(float(f), float(v)) for f, v in plan.bundle_keys]
    out = []
    pulses = bool(plan.story.waves)
    for group in plan.edges:
        if built.engine == "workbench":  # no attributes in its shading: a material per sign
            pair = [mats.plain(group.positive), mats.plain(group.negative)]
        else:  # the shader picks the colour; the same material for either index
            pair = [mats.shader(group, pulses)] * 2
        obj = _edges_object(group, pair, collection, pulses)
        mod = _edges_modifier(obj, group, plan, epoch_keys, bundle_keys)
        mod[socket_id(mod.node_group, MESH_SOCKET)] = built.engine != "cycles"
        out.append(obj)
    if plan.frustum is not None:
        out.extend(build_field(plan.frustum, collection))
    return out


# ------------------------------------------------------------------ receptive field

_SIDES = np.array([[(k, 0), ((k + 1) % 4, 0), ((k + 1) % 4, 1), (k, 1)] for k in range(4)])


def field_mesh(quads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (the quads' corners, segment-major) and the 4 side faces per segment."""
    quads = np.asarray(quads, dtype=np.float32).reshape(-1, 2, 4, 3)
    verts = quads.reshape(-1, 3)
    local = _SIDES[..., 1] * 4 + _SIDES[..., 0]  # (4 faces, 4 corners) into a segment's 8
    faces = local[None] + 8 * np.arange(len(quads))[:, None, None]
    return verts, faces.reshape(-1, 4).astype(np.int32)


def field_lines(quads: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outline polylines per segment: 4 corner-to-corner lines (2 points) and both
    rectangles, closed by repeating their first corner (5 points: Cycles ignores hair
    curves' ``cyclic``). Returns sizes and points."""
    quads = np.asarray(quads, dtype=np.float32).reshape(-1, 2, 4, 3)
    sizes, points = [], []
    for seg in quads:
        for k in range(4):
            sizes.append(2)
            points.append(seg[:, k])
        for end in (0, 1):
            sizes.append(5)
            points.append(np.concatenate([seg[end], seg[end][:1]]))
    if not sizes:
        return np.zeros(0, np.int64), np.zeros((0, 3), np.float32)
    return np.array(sizes), np.concatenate(points).astype(np.float32)


def build_field(field: FieldPlan, collection: bpy.types.Collection) -> list[bpy.types.Object]:
    """``nnrender_field``: the translucent frustum sides; ``nnrender_field_lines``: its
    outline as thin emissive poly curves (radius from the plan)."""
    color = rgb(field.color)
    props = {"nnrender_field": field.layer}
    verts, faces = field_mesh(field.quads)
    surf = new_object(FIELD_NAME, mesh(FIELD_NAME, verts, faces, validate=True), collection,
                      props, [flat_material(f"{FIELD_NAME}_surface", color, field.emission,
                                            float(field.opacity))])
    sizes, points = field_lines(field.quads)
    data = hair(FIELD_LINES, sizes)
    if len(sizes):
        data.set_types(type="POLY")  # sharp rectangle corners (Catmull-Rom rounds them)
        data.position_data.foreach_set("vector", points.ravel())
        set_attribute(data, "radius", "FLOAT", "POINT",
                      np.full(len(points), field.line_radius, np.float32))
    lines = new_object(FIELD_LINES, data, collection, props,
                       [flat_material(f"{FIELD_LINES}_surface", color, field.emission, 1.0)])
    return [surf, lines]
