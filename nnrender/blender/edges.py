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

import bpy
import numpy as np

from nnrender.blender.build import (
    BuiltScene,
    _fcurve,
    _keys,
    _math,
    _no_light_sampling,
    _node,
    _sock,
    socket_id,
)
from nnrender.edges.groups import EdgeGroup, FieldPlan
from nnrender.plan import ScenePlan

EPOCH_SOCKET = "Epoch"
BUNDLE_SOCKET = "Bundle"
RADIUS_SOCKET = "Radius"
MIN_RADIUS_SOCKET = "Min Radius"
MESH_SOCKET = "As Mesh"  # Eevee, Workbench: thin tubes, material index 1 where w < 0
WEIGHT_ATTR = "weight"  # the blended signed weight, curve domain, for the shader
PRESENT_ATTR = "present"  # 1 where drawn at this epoch, easing in/out between epochs
# Edges are flat, unlit colour (emission over a Transparent BSDF): thin lines read as a
# diagram's, in every light and style, and Cycles evaluates no BSDF at each of their many
# transparent hits (640x360, 16 spp, 5k curves: ~5 s with emission vs ~10 s with a
# Principled surface; 3.5 s without edges). Strength: the style's map emission, at least 1
# (exact colours on white paper; dark styles glow through their bloom).
EDGE_MIN_EMISSION = 1.0
FIELD_NAME = "nnrender_field"
FIELD_LINES = "nnrender_field_lines"
# opacity = group.opacity * (ALPHA_FLOOR + (1 - ALPHA_FLOOR) * |w|): weak edges stay visible
ALPHA_FLOOR = 0.25


# ------------------------------------------------------------------ geometry nodes


def _float_input(ng: bpy.types.NodeTree, name: str, default: float) -> None:
    sock = ng.interface.new_socket(name, in_out="INPUT", socket_type="NodeSocketFloat")
    sock.default_value = default


def _named(ng, name: str, data_type: str, loc) -> bpy.types.NodeSocket:
    node = _node(ng, "GeometryNodeInputNamedAttribute", loc, data_type=data_type)
    node.inputs["Name"].default_value = name
    return node.outputs["Attribute"]


def _present(ng, w, loc) -> bpy.types.NodeSocket:
    """1 where a weight is drawn (w != 0), else 0."""
    return _math(ng, "SIGN", _math(ng, "ABSOLUTE", w, None, loc), None, (loc[0], loc[1] - 80))


def _mix(ng, kind: str, fac, a, b, loc) -> bpy.types.NodeSocket:
    """Mix node (``kind`` Float or Vector), factor clamped to 0..1."""
    data_type = {"Float": "FLOAT", "Vector": "VECTOR"}[kind]
    mix = _node(ng, "ShaderNodeMix", loc, data_type=data_type, clamp_factor=True)
    ng.links.new(fac, _sock(mix.inputs, "Factor_Float"))
    ng.links.new(a, _sock(mix.inputs, f"A_{kind}"))
    ng.links.new(b, _sock(mix.inputs, f"B_{kind}"))
    return _sock(mix.outputs, f"Result_{kind}")


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
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    _float_input(ng, EPOCH_SOCKET, 0.0)
    _float_input(ng, BUNDLE_SOCKET, 0.0)
    _float_input(ng, RADIUS_SOCKET, 0.01)
    _float_input(ng, MIN_RADIUS_SOCKET, 0.002)
    ng.interface.new_socket(MESH_SOCKET, in_out="INPUT", socket_type="NodeSocketBool")
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    gin = _node(ng, "NodeGroupInput", (-1400, 0))
    gout = _node(ng, "NodeGroupOutput", (2050, 0))

    # blended weight and presence (1 where drawn at the epoch, eased between epochs), both
    # evaluated on the curve domain by Store Named Attribute
    w = _named(ng, "w_0", "FLOAT", (-1200, 400))
    here = _present(ng, w, (-1100, 800))
    for i in range(1, epochs):
        x = -1200 + 150 * i
        fac = _math(ng, "SUBTRACT", gin.outputs[EPOCH_SOCKET], float(i - 1), (x, 600),
                    clamp=True)
        wi = _named(ng, f"w_{i}", "FLOAT", (x - 100, 300))
        w = _mix(ng, "Float", fac, w, wi, (x, 450))
        here = _mix(ng, "Float", fac, here, _present(ng, wi, (x, 900)), (x, 750))
    geo = gin.outputs["Geometry"]
    for name, value, y in ((WEIGHT_ATTR, w, 0), (PRESENT_ATTR, here, -150)):
        store = _node(ng, "GeometryNodeStoreNamedAttribute", (-200, y), data_type="FLOAT",
                      domain="CURVE")
        store.inputs["Name"].default_value = name
        ng.links.new(geo, store.inputs["Geometry"])
        ng.links.new(value, store.inputs["Value"])
        geo = store.outputs["Geometry"]

    weight = _named(ng, WEIGHT_ATTR, "FLOAT", (0, 400))
    size = _math(ng, "ABSOLUTE", weight, None, (150, 400))
    present = _named(ng, PRESENT_ATTR, "FLOAT", (0, 250))
    zero = _node(ng, "FunctionNodeCompare", (300, 300), data_type="FLOAT",
                 operation="LESS_EQUAL")
    ng.links.new(present, zero.inputs["A"])
    zero.inputs["B"].default_value = 0.0
    delete = _node(ng, "GeometryNodeDeleteGeometry", (600, 0), domain="CURVE", mode="ALL")
    ng.links.new(geo, delete.inputs["Geometry"])
    ng.links.new(zero.outputs["Result"], delete.inputs["Selection"])
    geo = delete.outputs["Geometry"]

    pos = _mix(ng, "Vector", gin.outputs[BUNDLE_SOCKET],
               _named(ng, "straight", "FLOAT_VECTOR", (600, -300)),
               _named(ng, "bundled", "FLOAT_VECTOR", (600, -450)), (800, -300))
    setpos = _node(ng, "GeometryNodeSetPosition", (900, 0))
    ng.links.new(geo, setpos.inputs["Geometry"])
    ng.links.new(pos, setpos.inputs["Position"])
    geo = setpos.outputs["Geometry"]

    span = _math(ng, "SUBTRACT", gin.outputs[RADIUS_SOCKET], gin.outputs[MIN_RADIUS_SOCKET],
                 (600, 500))
    radius = _math(ng, "MULTIPLY_ADD", size, span, (750, 450))
    ng.links.new(gin.outputs[MIN_RADIUS_SOCKET], radius.node.inputs[2])
    radius = _math(ng, "MULTIPLY", radius, present, (900, 450))
    setrad = _node(ng, "GeometryNodeSetCurveRadius", (1100, 0))
    ng.links.new(geo, setrad.inputs["Curve"])
    ng.links.new(radius, setrad.inputs["Radius"])
    geo = setrad.outputs["Curve"]

    # As Mesh (Eevee, Workbench): 3-sided tubes through the control points. Both engines
    # draw hair strands slowly on software GL (640x360, 16 samples, 5k curves: Workbench
    # 8.6 s a frame as hair vs 1.9 s as tubes, 0.5 s without edges; Eevee 22-28 s vs 8.6 s,
    # 6.7 s without), and a mesh keeps a material index (renderers ignore it on Curves): in
    # Workbench, which reads no attributes, the sign picks one of two plain materials.
    # Cycles keeps the hair: camera-facing ribbons are cheap there.
    coarse = _node(ng, "GeometryNodeSetSplineResolution", (1300, -300))
    coarse.inputs["Resolution"].default_value = 1
    ng.links.new(geo, coarse.inputs["Geometry"])
    profile = _node(ng, "GeometryNodeCurvePrimitiveCircle", (1300, -500))
    profile.inputs["Resolution"].default_value = 3
    # a triangle's projected width averages 3*sqrt(3)/pi = 1.65 times its circumradius:
    # scaled, the tubes look as wide as Cycles' ribbons (2 * radius)
    profile.inputs["Radius"].default_value = 2.0 / (3.0 * 3.0 ** 0.5 / math.pi)
    tube = _node(ng, "GeometryNodeCurveToMesh", (1500, -300))
    ng.links.new(coarse.outputs["Geometry"], tube.inputs["Curve"])
    ng.links.new(profile.outputs["Curve"], tube.inputs["Profile Curve"])
    ng.links.new(_node(ng, "GeometryNodeInputRadius", (1300, -650)).outputs[0],
                 tube.inputs["Scale"])
    setmat = _node(ng, "GeometryNodeSetMaterialIndex", (1700, -300))
    ng.links.new(tube.outputs["Mesh"], setmat.inputs["Geometry"])
    ng.links.new(_math(ng, "LESS_THAN", _named(ng, WEIGHT_ATTR, "FLOAT", (1500, -550)), 0.0,
                       (1650, -500)), setmat.inputs["Material Index"])
    switch = _node(ng, "GeometryNodeSwitch", (1850, 0), input_type="GEOMETRY")
    ng.links.new(gin.outputs[MESH_SOCKET], switch.inputs["Switch"])
    ng.links.new(geo, switch.inputs["False"])
    ng.links.new(setmat.outputs["Geometry"], switch.inputs["True"])
    ng.links.new(switch.outputs["Output"], gout.inputs[0])
    return ng


# ------------------------------------------------------------------ materials


def _rgb(color) -> tuple[float, float, float]:
    return tuple(float(c) for c in color)


def _glow_material(name: str, strength: float):
    """Emission over a Transparent BSDF (Mix Shader), unlit and not sampled as a light.
    Returns the material and its colour and opacity inputs to set or link."""
    mat = _no_light_sampling(bpy.data.materials.new(name))
    mat.surface_render_method = "BLENDED"  # Eevee: smooth alpha at few samples
    nt = mat.node_tree
    nt.nodes.clear()
    glow = _node(nt, "ShaderNodeEmission", (0, 200))
    glow.inputs["Strength"].default_value = strength
    clear = _node(nt, "ShaderNodeBsdfTransparent", (0, -100))
    mix = _node(nt, "ShaderNodeMixShader", (300, 0))
    nt.links.new(clear.outputs[0], mix.inputs[1])
    nt.links.new(glow.outputs[0], mix.inputs[2])
    out = _node(nt, "ShaderNodeOutputMaterial", (550, 0))
    nt.links.new(mix.outputs[0], out.inputs["Surface"])
    return mat, glow.inputs["Color"], mix.inputs["Fac"]


def _flat_material(name: str, color, strength: float, alpha: float) -> bpy.types.Material:
    """One colour at one opacity (Workbench: the same, from ``diffuse_color``)."""
    mat, color_in, alpha_in = _glow_material(name, strength)
    color_in.default_value = (*_rgb(color), 1.0)
    alpha_in.default_value = float(alpha)
    mat.diffuse_color = (*_rgb(color), float(alpha))
    return mat


def _edge_material(name: str, group: EdgeGroup, emission: float) -> bpy.types.Material:
    """The group's positive colour where the curve's ``weight`` > 0, else its negative one;
    opacity = group.opacity * (ALPHA_FLOOR + (1 - ALPHA_FLOOR) * |w|)."""
    mat, color_in, alpha_in = _glow_material(name, emission)
    nt = mat.node_tree
    weight = _node(nt, "ShaderNodeAttribute", (-900, 0), attribute_type="GEOMETRY",
                   attribute_name=WEIGHT_ATTR).outputs["Fac"]
    pick = _node(nt, "ShaderNodeMix", (-300, 300), data_type="RGBA", blend_type="MIX")
    nt.links.new(_math(nt, "LESS_THAN", weight, 0.0, (-600, 300)),
                 _sock(pick.inputs, "Factor_Float"))
    _sock(pick.inputs, "A_Color").default_value = (*_rgb(group.positive), 1.0)
    _sock(pick.inputs, "B_Color").default_value = (*_rgb(group.negative), 1.0)
    nt.links.new(_sock(pick.outputs, "Result_Color"), color_in)
    grow = _math(nt, "MULTIPLY_ADD", _math(nt, "ABSOLUTE", weight, None, (-600, -300)),
                 1.0 - ALPHA_FLOOR, (-450, -300))
    grow.node.inputs[2].default_value = ALPHA_FLOOR
    present = _node(nt, "ShaderNodeAttribute", (-900, -500), attribute_type="GEOMETRY",
                    attribute_name=PRESENT_ATTR).outputs["Fac"]
    fade = _math(nt, "MULTIPLY", grow, present, (-300, -400))
    nt.links.new(_math(nt, "MULTIPLY", fade, float(group.opacity), (-150, -300), clamp=True),
                 alpha_in)
    mat.diffuse_color = (*_rgb(group.positive), float(group.opacity))
    mat.use_backface_culling = True  # Eevee's tubes: blend the faces in front only
    return mat


def _workbench_material(name: str, color) -> bpy.types.Material:
    """Workbench shades with ``diffuse_color`` and nothing else. Opaque: its transparency
    washes thin lines out to a faint tint (at alpha 0.85 they read as ~0.3)."""
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = (*_rgb(color), 1.0)
    return mat


class _Materials:
    """Edge materials, shared by the groups with equal colours and opacity."""

    def __init__(self, emission: float) -> None:
        self.emission = emission
        self._made: dict[tuple, bpy.types.Material] = {}

    def _get(self, key: tuple, make) -> bpy.types.Material:
        if key not in self._made:
            self._made[key] = make(f"nnrender_edges_{len(self._made)}")
        return self._made[key]

    def shader(self, group: EdgeGroup) -> bpy.types.Material:
        key = ("shader", _rgb(group.positive), _rgb(group.negative), float(group.opacity))
        return self._get(key, lambda name: _edge_material(name, group, self.emission))

    def plain(self, color) -> bpy.types.Material:
        key = ("plain", _rgb(color))
        return self._get(key, lambda name: _workbench_material(name, color))


# ------------------------------------------------------------------ curves


def _hair(name: str, sizes: np.ndarray) -> bpy.types.Curves:
    data = bpy.data.hair_curves.new(name)
    if len(sizes):
        data.add_curves(sizes.tolist())
    return data


def _attr(data: bpy.types.Curves, name: str, kind: str, domain: str, values: np.ndarray):
    attr = data.attributes.new(name, kind, domain)
    key = "vector" if kind == "FLOAT_VECTOR" else "value"
    dtype = np.bool_ if kind == "BOOLEAN" else np.float32
    attr.data.foreach_set(key, np.ascontiguousarray(values, dtype=dtype).ravel())
    return attr


def object_name(group: EdgeGroup) -> str:
    """``edges_<source->target>``, safe for Blender's 63-byte names."""
    safe = re.sub(r"[^A-Za-z0-9_.\->]", "_", group.name)
    return f"edges_{safe}"[:63]


def _edges_object(group: EdgeGroup, materials: list[bpy.types.Material]) -> bpy.types.Object:
    n, s = group.count, group.samples
    name = object_name(group)
    data = _hair(name, np.full(n, s, dtype=np.int64))
    straight = np.asarray(group.straight, dtype=np.float32).reshape(-1, 3)
    data.position_data.foreach_set("vector", straight.ravel())
    _attr(data, "straight", "FLOAT_VECTOR", "POINT", straight)
    _attr(data, "bundled", "FLOAT_VECTOR", "POINT", group.bundled.reshape(-1, 3))
    weights = np.asarray(group.weights, dtype=np.float32)
    for e in range(weights.shape[1]):
        _attr(data, f"w_{e}", "FLOAT", "CURVE", weights[:, e])
    for mat in materials:
        data.materials.append(mat)
    obj = bpy.data.objects.new(name, data)
    obj["nnrender_edges"] = group.name
    obj["nnrender_kind"] = group.kind
    return obj


def _edges_modifier(obj: bpy.types.Object, group: EdgeGroup, plan: ScenePlan,
                    epoch_keys: list, bundle_keys: list) -> bpy.types.NodesModifier:
    ng = edges_group(int(group.weights.shape[1]))
    mod = obj.modifiers.new("edges", "NODES")
    mod.node_group = ng
    mod[socket_id(ng, RADIUS_SOCKET)] = float(group.radius)
    mod[socket_id(ng, MIN_RADIUS_SOCKET)] = float(min(group.min_radius, group.radius))
    epoch = socket_id(ng, EPOCH_SOCKET)
    mod[epoch] = 0.0
    _keys(_fcurve(obj, f'modifiers["{mod.name}"]["{epoch}"]'), epoch_keys, "BEZIER")
    bundle = socket_id(ng, BUNDLE_SOCKET)
    mod[bundle] = float(plan.bundle)
    if bundle_keys:
        _keys(_fcurve(obj, f'modifiers["{mod.name}"]["{bundle}"]'), bundle_keys, "BEZIER")
    return mod


def build_edges(plan: ScenePlan, built: BuiltScene) -> list[bpy.types.Object]:
    """One Curves object per edge group (and the receptive field) in the main collection;
    the Epoch input keyed like ``scene["epoch"]``, Bundle like ``plan.bundle_keys``."""
    scene = built.scene
    mats = _Materials(max(EDGE_MIN_EMISSION, float(plan.look["emission"])))
    epoch_keys = [(float(f), float(v)) for f, v in plan.timeline.keys()]
    bundle_keys = [(float(f), float(v)) for f, v in plan.bundle_keys]
    out = []
    for group in plan.edges:
        if built.engine == "workbench":  # no attributes in its shading: a material per sign
            pair = [mats.plain(group.positive), mats.plain(group.negative)]
        else:  # the shader picks the colour; the same material for either index
            pair = [mats.shader(group)] * 2
        obj = _edges_object(group, pair)
        scene.collection.objects.link(obj)
        mod = _edges_modifier(obj, group, plan, epoch_keys, bundle_keys)
        mod[socket_id(mod.node_group, MESH_SOCKET)] = built.engine != "cycles"
        out.append(obj)
    if plan.frustum is not None:
        out.extend(build_field(plan, plan.frustum, scene))
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
    rectangles (4 points, cyclic). Returns sizes, points, cyclic."""
    quads = np.asarray(quads, dtype=np.float32).reshape(-1, 2, 4, 3)
    sizes, points, cyclic = [], [], []
    for seg in quads:
        for k in range(4):
            sizes.append(2)
            points.append(seg[:, k])
            cyclic.append(False)
        for end in (0, 1):
            sizes.append(4)
            points.append(seg[end])
            cyclic.append(True)
    if not sizes:
        return np.zeros(0, np.int64), np.zeros((0, 3), np.float32), np.zeros(0, bool)
    return np.array(sizes), np.concatenate(points).astype(np.float32), np.array(cyclic)


def _line_radius(plan: ScenePlan, quads: np.ndarray) -> float:
    """A small share of the typical rectangle side, but never under ~1 px at 1080p."""
    q = np.asarray(quads, dtype=np.float64).reshape(-1, 4, 3)
    sides = np.linalg.norm(q - np.roll(q, 1, axis=1), axis=-1)
    typical = float(np.median(sides)) if sides.size else 0.0
    return max(0.03 * typical, 2.5e-4 * float(plan.camera.distance))


def build_field(plan: ScenePlan, field: FieldPlan, scene: bpy.types.Scene) -> list:
    """``nnrender_field``: the translucent frustum sides; ``nnrender_field_lines``: its
    outline as thin emissive poly curves."""
    color = tuple(float(c) for c in field.color)
    verts, faces = field_mesh(field.quads)
    mesh = bpy.data.meshes.new(FIELD_NAME)
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", verts.ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 4, dtype=np.int32))
    mesh.update(calc_edges=True)
    mesh.validate()
    glow = max(1.0, float(plan.look["emission"]))
    mesh.materials.append(_flat_material(f"{FIELD_NAME}_surface", color, glow,
                                         float(field.opacity)))
    surf = bpy.data.objects.new(FIELD_NAME, mesh)
    surf["nnrender_field"] = field.layer
    scene.collection.objects.link(surf)

    sizes, points, cyclic = field_lines(field.quads)
    data = _hair(FIELD_LINES, sizes)
    if len(sizes):
        data.set_types(type="POLY")  # sharp rectangle corners (Catmull-Rom rounds them)
        data.position_data.foreach_set("vector", points.ravel())
        _attr(data, "cyclic", "BOOLEAN", "CURVE", cyclic)
        _attr(data, "radius", "FLOAT", "POINT", np.full(len(points), _line_radius(
            plan, field.quads), np.float32))
    data.materials.append(_flat_material(f"{FIELD_LINES}_surface", color, glow, 1.0))
    lines = bpy.data.objects.new(FIELD_LINES, data)
    lines["nnrender_field"] = field.layer
    scene.collection.objects.link(lines)
    return [surf, lines]
