"""ScenePlan -> Blender scene. The only translation layer: no decisions, just bpy.

Feature maps and neurons are instances of a template box on a point cloud per layer
(Geometry Nodes "Instance on Points"); the material reads each instance's tile rectangle
(Attribute node, Instancer) and samples it from its atlas page, which holds every epoch. One
scene property, ``scene["epoch"]``, keyed on one fcurve, drives the blend between epochs.
A layer whose arrangement changes over time carries every stage's positions and sizes as
point attributes; its modifier mixes them by one keyed input (``Stage``).
Workbench ignores instancer attributes and node maths, so for it the boxes are realised as
one mesh with real UVs into one image per page that ``update_frame`` refills (and, for
animated layers, whose vertices it moves) each frame.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import bpy
import numpy as np
from bpy_extras import anim_utils
from mathutils import Vector

from nnrender.blender import images, overlay
from nnrender.layout.camera import offset_direction
from nnrender.plan import ScenePlan

ENGINES = {"cycles": "CYCLES", "eevee": "BLENDER_EEVEE", "workbench": "BLENDER_WORKBENCH"}
EPOCH_PROP = "epoch"
STAGE_SOCKET = "Stage"
TEMPLATE_SOCKET = "Template"
GLARE_THRESHOLD = 0.3  # linear brightness where bloom starts: the brighter map colours
OVERLAY_SCENE = "nnrender_overlay"  # captions and legend, when the camera has depth of field
OVERLAY_SAMPLES = 16  # at most, for the overlay scene (Cycles, Eevee)

# unit box: 8 corners, 6 quads; the -X face is the one the camera sees, its u runs along -Y
_BOX_VERTS = np.array(
    [[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)], dtype=np.float32
)
_BOX_FACES = np.array(
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
_FACE_UV = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
_BOX_UV = np.tile(_FACE_UV, (6, 1))  # (24, 2), one 0..1 square per face


# ------------------------------------------------------------------ reading the plan


def pages(plan: ScenePlan) -> list:
    """The atlas pages (block_w, block_h, grid_cols, grid_rows, width, height each)."""
    return list(plan.atlas.layout.pages)


# ------------------------------------------------------------------ the built scene


@dataclass
class _Animated:
    """A layer's boxes in the Workbench mesh: vertices offset .. offset + 8 * count."""

    layer: int
    offset: int
    count: int


@dataclass
class BuiltScene:
    scene: bpy.types.Scene
    engine: str
    layer_objects: list[bpy.types.Object] = field(default_factory=list)
    atlases: list[bpy.types.Image] = field(default_factory=list)  # one per page
    frame_images: list[bpy.types.Image] = field(default_factory=list)  # Workbench, per page
    plan: ScenePlan | None = None
    legend: list[bpy.types.Object] = field(default_factory=list)
    edge_objects: list[bpy.types.Object] = field(default_factory=list)  # curves, field
    overlay_scene: bpy.types.Scene | None = None  # captions and legend under depth of field
    _animated: list[_Animated] = field(default_factory=list)
    _shown: list[float | None] = field(default_factory=list)

    @property
    def atlas(self) -> bpy.types.Image | None:
        return self.atlases[0] if self.atlases else None

    @property
    def frame_image(self) -> bpy.types.Image | None:
        return self.frame_images[0] if self.frame_images else None

    def update_frame(self, frame: int) -> None:
        """Workbench only: refill each page's image with the epoch blend for ``frame`` and
        move the boxes of animated layers."""
        if self.plan is None or not self.frame_images:
            return
        value = float(self.plan.timeline.value(frame))
        for p, image in enumerate(self.frame_images):
            if self._shown[p] != value:  # one epoch, or a hold: nothing to do
                images.refill(image, self.plan.atlas.blend(value, p))
                self._shown[p] = value
        if self._animated:
            mesh = self.layer_objects[0].data
            co = np.empty(3 * len(mesh.vertices), dtype=np.float32)
            mesh.vertices.foreach_get("co", co)
            co = co.reshape(-1, 3)
            for a in self._animated:
                centers, sizes = self.plan.layers[a.layer].at(frame)
                co[a.offset:a.offset + 8 * a.count] = _box_verts(centers, sizes).reshape(-1, 3)
            mesh.vertices.foreach_set("co", co.ravel())
            mesh.update()


# ------------------------------------------------------------------ small bpy helpers


def _box_mesh(name: str) -> bpy.types.Mesh:
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(8)
    mesh.vertices.foreach_set("co", _BOX_VERTS.ravel())
    mesh.loops.add(24)
    mesh.loops.foreach_set("vertex_index", _BOX_FACES.ravel())
    mesh.polygons.add(6)
    mesh.polygons.foreach_set("loop_start", np.arange(0, 24, 4, dtype=np.int32))
    uv = mesh.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", _BOX_UV.ravel())
    mesh.update(calc_edges=True)
    mesh.validate()
    return mesh


def _box_verts(centers: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    return (_BOX_VERTS[None] * sizes[:, None] + centers[:, None]).astype(np.float32)


def _fcurve(id_data: bpy.types.ID, data_path: str, index: int = 0) -> bpy.types.FCurve:
    """An fcurve on the ID's layered action (5.0: an action needs a slot before a channelbag)."""
    anim = id_data.animation_data or id_data.animation_data_create()
    if anim.action is None:
        anim.action = bpy.data.actions.new(f"{id_data.name}_action")
    if anim.action_slot is None:
        anim.action_slot = anim.action.slots.new(id_type=id_data.id_type, name=id_data.name)
    bag = anim_utils.action_ensure_channelbag_for_slot(anim.action, anim.action_slot)
    return bag.fcurves.new(data_path, index=index)


def _keys(fc: bpy.types.FCurve, keys: list[tuple[float, float]], interpolation: str) -> None:
    fc.keyframe_points.add(len(keys))
    fc.keyframe_points.foreach_set("co", np.asarray(keys, dtype=np.float32).ravel())
    for i, kp in enumerate(fc.keyframe_points):
        kp.interpolation = interpolation
        if interpolation == "BEZIER":
            # flat handles a third of the way to each neighbour: smoothstep between keys
            f, v = keys[i]
            left = (f - keys[i - 1][0]) / 3 if i > 0 else 1.0
            right = (keys[i + 1][0] - f) / 3 if i + 1 < len(keys) else 1.0
            kp.handle_left_type = "FREE"
            kp.handle_right_type = "FREE"
            kp.handle_left = (f - left, v)
            kp.handle_right = (f + right, v)
    fc.update()


def _node(nt: bpy.types.NodeTree, kind: str, loc: tuple[float, float], **props) -> bpy.types.Node:
    node = nt.nodes.new(kind)
    node.location = loc
    for key, value in props.items():
        setattr(node, key, value)
    return node


def _sock(sockets, identifier: str) -> bpy.types.NodeSocket:
    """A socket by identifier (``node.inputs[name]`` finds the first of equal names)."""
    return next(s for s in sockets if s.identifier == identifier)


def _math(nt, op: str, a, b=None, loc=(0, 0), clamp: bool = False) -> bpy.types.NodeSocket:
    node = _node(nt, "ShaderNodeMath", loc, operation=op, use_clamp=clamp)
    for i, src in enumerate((a, b)):
        if src is None:
            continue
        if isinstance(src, (int, float)):
            node.inputs[i].default_value = float(src)
        else:
            nt.links.new(src, node.inputs[i])
    return node.outputs[0]


def _vmath(nt, op: str, a, b, loc=(0, 0)) -> bpy.types.NodeSocket:
    node = _node(nt, "ShaderNodeVectorMath", loc, operation=op)
    nt.links.new(a, node.inputs[0])
    nt.links.new(b, node.inputs[1])
    return node.outputs[0]


# ------------------------------------------------------------------ materials


def _maps_material(plan: ScenePlan, page: int, atlas: bpy.types.Image) -> bpy.types.Material:
    """Shader: tile rect from the instance, epoch from the scene, two look-ups mixed."""
    pg = pages(plan)[page]
    epochs = plan.atlas.layout.epochs
    mat = bpy.data.materials.new(f"nnrender_maps_{page}")
    nt = mat.node_tree
    nt.nodes.clear()
    uv_local = _node(nt, "ShaderNodeAttribute", (-1400, 200), attribute_type="GEOMETRY",
                     attribute_name="UVMap").outputs["Vector"]
    tile_uv = _node(nt, "ShaderNodeAttribute", (-1400, 0), attribute_type="INSTANCER",
                    attribute_name="tile_uv").outputs["Vector"]
    tile_duv = _node(nt, "ShaderNodeAttribute", (-1400, -200), attribute_type="INSTANCER",
                     attribute_name="tile_duv").outputs["Vector"]
    epoch = _node(nt, "ShaderNodeAttribute", (-1400, -400), attribute_type="VIEW_LAYER",
                  attribute_name=EPOCH_PROP).outputs["Fac"]
    base = _vmath(nt, "MULTIPLY_ADD", uv_local, tile_duv, (-1100, 100))
    nt.links.new(tile_uv, base.node.inputs[2])
    e0 = _math(nt, "FLOOR", epoch, None, (-1100, -400))
    e1 = _math(nt, "MINIMUM", _math(nt, "ADD", e0, 1.0, (-950, -500)), epochs - 1,
               (-800, -500))
    frac = _math(nt, "SUBTRACT", epoch, e0, (-950, -300))
    bu, bv = pg.block_w / pg.width, pg.block_h / pg.height
    colors = []
    for j, e in enumerate((e0, e1)):
        col = _math(nt, "FLOORED_MODULO", e, float(pg.grid_cols), (-800, -700 - 300 * j))
        row = _math(nt, "FLOOR", _math(nt, "DIVIDE", e, float(pg.grid_cols)), None,
                    (-650, -800 - 300 * j))
        comb = _node(nt, "ShaderNodeCombineXYZ", (-500, -700 - 300 * j))
        nt.links.new(_math(nt, "MULTIPLY", col, bu), comb.inputs[0])
        nt.links.new(_math(nt, "MULTIPLY", row, -bv), comb.inputs[1])
        uv = _vmath(nt, "ADD", base, comb.outputs[0], (-350, -300 * j))
        tex = _node(nt, "ShaderNodeTexImage", (-150, -300 * j), image=atlas,
                    interpolation="Closest", extension="EXTEND")
        nt.links.new(uv, tex.inputs["Vector"])
        colors.append(tex.outputs["Color"])
    mix = _node(nt, "ShaderNodeMix", (150, 0), data_type="RGBA", blend_type="MIX")
    nt.links.new(frac, mix.inputs["Factor"])
    nt.links.new(colors[0], mix.inputs[6])
    nt.links.new(colors[1], mix.inputs[7])
    _surface(nt, mix.outputs[2], plan.look["emission"])
    return _no_light_sampling(mat)


def _no_light_sampling(mat: bpy.types.Material) -> bpy.types.Material:
    """Glowing surfaces here are for the eye, not to light the scene: not sampled as lights."""
    mat.cycles.emission_sampling = "NONE"
    return mat


def _surface(nt, color: bpy.types.NodeSocket, emission: float) -> None:
    bsdf = _node(nt, "ShaderNodeBsdfPrincipled", (400, 0))
    bsdf.inputs["Roughness"].default_value = 0.45
    nt.links.new(color, bsdf.inputs["Base Color"])
    nt.links.new(color, bsdf.inputs["Emission Color"])
    bsdf.inputs["Emission Strength"].default_value = emission
    out = _node(nt, "ShaderNodeOutputMaterial", (700, 0))
    nt.links.new(bsdf.outputs[0], out.inputs["Surface"])


def _emission_material(name: str, color: tuple[float, float, float], strength: float):
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = (*color, 1.0)
    nt = mat.node_tree
    nt.nodes.clear()
    em = _node(nt, "ShaderNodeEmission", (0, 0))
    em.inputs["Color"].default_value = (*color, 1.0)
    em.inputs["Strength"].default_value = strength
    out = _node(nt, "ShaderNodeOutputMaterial", (300, 0))
    nt.links.new(em.outputs[0], out.inputs["Surface"])
    return _no_light_sampling(mat)


# ------------------------------------------------------------------ geometry nodes


def _group_sockets(ng: bpy.types.NodeTree, stages: bool) -> None:
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    ng.interface.new_socket(TEMPLATE_SOCKET, in_out="INPUT", socket_type="NodeSocketObject")
    if stages:
        sock = ng.interface.new_socket(STAGE_SOCKET, in_out="INPUT",
                                       socket_type="NodeSocketFloat")
        sock.default_value = 0.0
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")


def _attribute(ng, name: str, loc) -> bpy.types.NodeSocket:
    node = _node(ng, "GeometryNodeInputNamedAttribute", loc, data_type="FLOAT_VECTOR")
    node.inputs["Name"].default_value = name
    return node.outputs["Attribute"]


def _instancer_group(stages: int = 1) -> bpy.types.NodeTree:
    """Boxes (the template object given to the modifier) on every point, sized by ``scale``;
    with stages, positions and sizes mixed from ``pos_i``/``scale_i`` by the Stage input:
    p = pos_0, then p = mix(p, pos_i, clamp(stage - (i - 1), 0, 1)) for i >= 1."""
    name = "nnrender_cells" if stages == 1 else f"nnrender_cells_stages{stages}"
    ng = bpy.data.node_groups.new(name, "GeometryNodeTree")
    _group_sockets(ng, stages > 1)
    gin = _node(ng, "NodeGroupInput", (-900, 0))
    gout = _node(ng, "NodeGroupOutput", (600, 0))
    info = _node(ng, "GeometryNodeObjectInfo", (-200, -200), transform_space="ORIGINAL")
    ng.links.new(gin.outputs[TEMPLATE_SOCKET], info.inputs["Object"])
    inst = _node(ng, "GeometryNodeInstanceOnPoints", (300, 0))
    points = gin.outputs["Geometry"]
    if stages == 1:
        scale = _attribute(ng, "scale", (-200, -400))
    else:
        pos, scale = _attribute(ng, "pos_0", (-700, 200)), _attribute(ng, "scale_0", (-700, -200))
        for i in range(1, stages):
            x = -700 + 150 * i
            fac = _math(ng, "SUBTRACT", gin.outputs[STAGE_SOCKET], float(i - 1), (x, 400),
                        clamp=True)
            mixed = []
            for j, (prev, attr) in enumerate(((pos, f"pos_{i}"), (scale, f"scale_{i}"))):
                mix = _node(ng, "ShaderNodeMix", (x, 200 - 400 * j), data_type="VECTOR",
                            clamp_factor=True)
                ng.links.new(fac, _sock(mix.inputs, "Factor_Float"))
                ng.links.new(prev, _sock(mix.inputs, "A_Vector"))
                ng.links.new(_attribute(ng, attr, (x - 100, 100 - 400 * j)),
                             _sock(mix.inputs, "B_Vector"))
                mixed.append(_sock(mix.outputs, "Result_Vector"))
            pos, scale = mixed
        setpos = _node(ng, "GeometryNodeSetPosition", (0, 100))
        ng.links.new(points, setpos.inputs["Geometry"])
        ng.links.new(pos, setpos.inputs["Position"])
        points = setpos.outputs["Geometry"]
    ng.links.new(points, inst.inputs["Points"])
    ng.links.new(info.outputs["Geometry"], inst.inputs["Instance"])
    ng.links.new(scale, inst.inputs["Scale"])
    ng.links.new(inst.outputs[0], gout.inputs[0])
    return ng


def socket_id(ng: bpy.types.NodeTree, name: str) -> str:
    """The modifier key of a group input (``Socket_N``): ``mod[key]``."""
    return next(item.identifier for item in ng.interface.items_tree
                if item.item_type == "SOCKET" and item.in_out == "INPUT" and item.name == name)


def _layer_uvs(plan: ScenePlan, page: int, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tile rects (block px, top-down) -> epoch-0 UV origin and size in the page (bottom-up)."""
    pg = pages(plan)[page]
    x, y, w, h = (tiles[:, i].astype(np.float64) for i in range(4))
    uv0 = np.stack([x / pg.width, 1.0 - (y + h) / pg.height, np.zeros_like(x)], axis=1)
    duv = np.stack([w / pg.width, h / pg.height, np.zeros_like(x)], axis=1)
    return uv0.astype(np.float32), duv.astype(np.float32)


def _point_cloud(name: str, centers: np.ndarray, attrs: dict[str, np.ndarray]) -> bpy.types.Mesh:
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(centers))
    mesh.vertices.foreach_set("co", centers.astype(np.float32).ravel())
    for key, values in attrs.items():
        attr = mesh.attributes.new(key, "FLOAT_VECTOR", "POINT")
        attr.data.foreach_set("vector", values.astype(np.float32).ravel())
    mesh.update()
    return mesh


def _instanced_layers(plan: ScenePlan, built: BuiltScene) -> None:
    """One point-cloud object per layer instancing its page's template box."""
    scene = built.scene
    templates = []
    for p, page in enumerate(pages(plan)):
        atlas = images.new_image(f"nnrender_atlas_{p}", page.width, page.height,
                                 lambda y0, y1, p=p: plan.atlas.rows(p, y0, y1))
        built.atlases.append(atlas)
        template = bpy.data.objects.new(f"nnrender_cell_template_{p}",
                                        _box_mesh(f"nnrender_box_{p}"))
        template.data.materials.append(_maps_material(plan, p, atlas))
        templates.append(template)
    groups: dict[int, bpy.types.NodeTree] = {}
    for lp in plan.layers:
        stages = lp.stage_count
        page = lp.page
        uv0, duv = _layer_uvs(plan, page, lp.tiles)
        attrs = {"tile_uv": uv0, "tile_duv": duv}
        if stages == 1:
            attrs["scale"] = lp.sizes
            centers = lp.centers
        else:
            for k in range(stages):
                attrs[f"pos_{k}"] = lp.stage_centers[k]
                attrs[f"scale_{k}"] = lp.stage_sizes[k]
            centers = lp.stage_centers[0]
        obj = bpy.data.objects.new(f"layer_{lp.name}",
                                   _point_cloud(f"cells_{lp.name}", centers, attrs))
        scene.collection.objects.link(obj)
        if stages not in groups:
            groups[stages] = _instancer_group(stages)
        group = groups[stages]
        mod = obj.modifiers.new("cells", "NODES")
        mod.node_group = group
        mod[socket_id(group, TEMPLATE_SOCKET)] = templates[page]
        if stages > 1:
            key = socket_id(group, STAGE_SOCKET)
            mod[key] = 0.0
            _keys(_fcurve(obj, f'modifiers["{mod.name}"]["{key}"]'),
                  [(float(f), float(v)) for f, v in lp.stage_keys], "BEZIER")
        obj["nnrender_layer"] = lp.name
        obj["nnrender_page"] = page
        built.layer_objects.append(obj)


def _workbench_mesh(plan: ScenePlan, built: BuiltScene) -> bpy.types.Object:
    """All boxes realised in one mesh, with UVs into one epoch block of their page, one
    material (and frame image) per page (Workbench preview)."""
    frame = plan.timeline.first_frame
    parts, loops_uv, mat_index = [], [], []
    offset = 0
    for i, lp in enumerate(plan.layers):
        page = lp.page
        pg = pages(plan)[page]
        centers, sizes = lp.at(frame)
        n = len(centers)
        parts.append(_box_verts(centers, sizes))
        tiles = lp.tiles.astype(np.float64)
        x, y, w, h = (tiles[:, k, None] for k in range(4))
        u = (x + _BOX_UV[None, :, 0] * w) / pg.block_w
        v = 1.0 - (y + (1.0 - _BOX_UV[None, :, 1]) * h) / pg.block_h
        loops_uv.append(np.stack([u, v], axis=-1).astype(np.float32))
        mat_index.append(np.full(6 * n, page, dtype=np.int32))
        if lp.stage_count > 1:
            built._animated.append(_Animated(i, offset, n))
        offset += 8 * n
    n = offset // 8
    verts = np.concatenate(parts) if parts else np.zeros((0, 8, 3), np.float32)
    loops = (_BOX_FACES.ravel()[None] + 8 * np.arange(n)[:, None]).astype(np.int32)
    mesh = bpy.data.meshes.new("nnrender_cells_realised")
    mesh.vertices.add(n * 8)
    mesh.vertices.foreach_set("co", verts.ravel())
    mesh.loops.add(n * 24)
    mesh.loops.foreach_set("vertex_index", loops.ravel())
    mesh.polygons.add(n * 6)
    mesh.polygons.foreach_set("loop_start", np.arange(0, n * 24, 4, dtype=np.int32))
    mesh.polygons.foreach_set("material_index", np.concatenate(mat_index))
    uv = mesh.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", np.concatenate(loops_uv).ravel())
    mesh.update(calc_edges=True)
    value = float(plan.timeline.value(frame))
    for p, _ in enumerate(pages(plan)):
        image = images.image_from(f"nnrender_frame_atlas_{p}", plan.atlas.blend(value, p))
        built.frame_images.append(image)
        built._shown.append(value)
        mat = bpy.data.materials.new(f"nnrender_maps_workbench_{p}")
        nt = mat.node_tree
        nt.nodes.clear()
        tex = _node(nt, "ShaderNodeTexImage", (0, 0), image=image, interpolation="Closest",
                    extension="EXTEND")
        nt.nodes.active = tex
        _surface(nt, tex.outputs["Color"], plan.look["emission"])
        mesh.materials.append(_no_light_sampling(mat))
    obj = bpy.data.objects.new("nnrender_cells", mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


# ------------------------------------------------------------------ camera, lights, world


def _camera(plan: ScenePlan, scene: bpy.types.Scene) -> bpy.types.Object:
    cam_plan = plan.camera
    rig = bpy.data.objects.new("nnrender_camera_rig", None)
    rig.location = cam_plan.target
    scene.collection.objects.link(rig)
    data = bpy.data.cameras.new("nnrender_camera")
    data.lens = cam_plan.lens
    data.sensor_width = overlay.SENSOR
    data.sensor_fit = "AUTO"
    if overlay.is_ortho(plan):
        data.type = "ORTHO"
        data.ortho_scale = float(cam_plan.ortho_scale)
    data.clip_start = max(0.01, cam_plan.distance * 0.01)
    data.clip_end = cam_plan.distance * 10
    fstop = cam_plan.fstop
    data.dof.use_dof = fstop is not None
    if fstop is not None:
        data.dof.aperture_fstop = float(fstop)
        data.dof.focus_object = rig  # the camera target, at plan.camera.distance
        data.dof.focus_distance = float(cam_plan.distance)
    cam = bpy.data.objects.new("nnrender_camera", data)
    scene.collection.objects.link(cam)
    cam.parent = rig
    cam.location = Vector(offset_direction(0.0, cam_plan.elevation) * cam_plan.distance)
    track = cam.constraints.new("TRACK_TO")
    track.target = rig
    track.track_axis = "TRACK_NEGATIVE_Z"
    track.up_axis = "UP_Y"
    first, last = plan.timeline.first_frame, plan.timeline.last_frame
    fc = _fcurve(rig, "rotation_euler", 2)
    _keys(fc, [(first, math.radians(cam_plan.azimuth_start)),
               (last, math.radians(cam_plan.azimuth_end))], "LINEAR")
    scene.camera = cam
    return cam


def _lights(plan: ScenePlan, scene: bpy.types.Scene, target: Vector) -> None:
    """AREA (size = side), POINT/SPOT (size = diameter), SUN (energy = strength in W/m²,
    size = angular diameter in radians); all aimed at the camera target."""
    for light in plan.lights:
        data = bpy.data.lights.new(f"nnrender_{light.name}", light.kind)
        data.energy = light.energy
        data.color = light.color
        if light.kind == "AREA":
            data.size = light.size
        elif light.kind in ("POINT", "SPOT"):
            data.shadow_soft_size = light.size / 2
        elif light.kind == "SUN":
            data.angle = min(max(float(light.size), 0.0), math.pi)
        obj = bpy.data.objects.new(f"nnrender_{light.name}", data)
        obj.location = light.position
        direction = target - Vector(light.position)
        obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
        scene.collection.objects.link(obj)


def _world(plan: ScenePlan, scene: bpy.types.Scene) -> None:
    world = bpy.data.worlds.new("nnrender_world")
    bg = tuple(plan.look["background"])
    world.color = bg
    nt = world.node_tree
    node = nt.nodes.get("Background") or nt.nodes.new("ShaderNodeBackground")
    node.inputs["Color"].default_value = (*bg, 1.0)
    node.inputs["Strength"].default_value = 1.0
    scene.world = world


def _overlay_scene(plan: ScenePlan, engine: str, scene: bpy.types.Scene,
                   cam: bpy.types.Object) -> bpy.types.Scene:
    """A scene for the captions and legend when the camera has depth of field: same engine,
    size and colour settings, film transparent, seen by a copy of the camera without depth of
    field. The overlays are pinned in camera-local coordinates, so this camera never moves.
    The main scene's compositor renders it (at the main scene's frame) and lays it on top."""
    over = bpy.data.scenes.new(OVERLAY_SCENE)
    over.frame_start = plan.timeline.first_frame
    over.frame_end = plan.timeline.last_frame
    configure_render(over, plan, engine)
    over.render.film_transparent = True
    over.render.image_settings.color_mode = "RGBA"
    over.render.use_compositing = False
    over.compositing_node_group = None
    # emission seen straight from the camera: no bounces, nothing to denoise, and enough
    # samples for smooth text edges (a full-frame pass costs ~0.35 s per sample at 1080p)
    if engine == "cycles":
        # a new scene's default pattern (blue noise) places few samples differently from the
        # factory scene's: keep the main one, so the text looks as it does without the overlay
        over.cycles.sampling_pattern = scene.cycles.sampling_pattern
        over.cycles.use_denoising = False
        over.cycles.max_bounces = 0
        over.cycles.samples = min(over.cycles.samples, OVERLAY_SAMPLES)
    elif engine == "eevee":
        over.eevee.taa_render_samples = min(over.eevee.taa_render_samples, OVERLAY_SAMPLES)
    elif engine == "workbench":
        over.display.shading.use_dof = False
    data = cam.data.copy()
    data.name = "nnrender_overlay_camera"
    data.dof.use_dof = False
    data.dof.focus_object = None
    ocam = bpy.data.objects.new("nnrender_overlay_camera", data)
    over.collection.objects.link(ocam)
    over.camera = ocam
    return over


def _compositor(scene: bpy.types.Scene, glow: float,
                overlay_scene: bpy.types.Scene | None = None) -> bpy.types.NodeTree | None:
    """Bloom: Render Layers -> Glare (Bloom) -> Group Output, a 5.0 compositor node group.
    The Glare node's strength stops at 1; beyond, the rest of the glare is added on top.
    With an overlay scene, its Render Layers go over the render (Alpha Over) before the bloom,
    so the overlays glow as they do when they are in the main scene."""
    if glow <= 0 and overlay_scene is None:
        scene.compositing_node_group = None
        return None
    ng = bpy.data.node_groups.new("nnrender_compositor", "CompositorNodeTree")
    ng.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    layers = _node(ng, "CompositorNodeRLayers", (-400, 0))
    result = layers.outputs["Image"]
    if overlay_scene is not None:
        top = _node(ng, "CompositorNodeRLayers", (-700, -300), scene=overlay_scene)
        top.layer = overlay_scene.view_layers[0].name
        over = _node(ng, "CompositorNodeAlphaOver", (-250, -150), name="nnrender_overlay")
        over.inputs["Fac"].default_value = 1.0
        ng.links.new(result, over.inputs["Background"])
        ng.links.new(top.outputs["Image"], over.inputs["Foreground"])
        result = over.outputs["Image"]
    if glow > 0:
        glare = _node(ng, "CompositorNodeGlare", (-100, 0))
        glare.inputs["Type"].default_value = "Bloom"
        glare.inputs["Quality"].default_value = "Medium"
        glare.inputs["Threshold"].default_value = GLARE_THRESHOLD
        glare.inputs["Size"].default_value = 0.6
        glare.inputs["Strength"].default_value = min(glow, 1.0)
        ng.links.new(result, glare.inputs["Image"])
        result = glare.outputs["Image"]
        if glow > 1.0:
            add = _node(ng, "ShaderNodeMix", (200, 0), data_type="RGBA", blend_type="ADD",
                        clamp_factor=False)
            _sock(add.inputs, "Factor_Float").default_value = glow - 1.0
            ng.links.new(result, _sock(add.inputs, "A_Color"))
            ng.links.new(glare.outputs["Glare"], _sock(add.inputs, "B_Color"))
            result = _sock(add.outputs, "Result_Color")
    out = _node(ng, "NodeGroupOutput", (450, 0))
    ng.links.new(result, out.inputs[0])
    scene.compositing_node_group = ng
    scene.render.use_compositing = True
    return ng


def configure_render(scene: bpy.types.Scene, plan: ScenePlan, engine: str) -> None:
    r = plan.render
    transparent = bool(plan.look["transparent"])
    scene.render.engine = ENGINES[engine]
    scene.render.resolution_x, scene.render.resolution_y = r["resolution"]
    scene.render.resolution_percentage = 100
    scene.render.fps = r["fps"]
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA" if transparent else "RGB"
    scene.render.image_settings.color_depth = "8"
    scene.render.use_file_extension = False
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.film_transparent = transparent
    scene.render.use_persistent_data = True
    # no wall-clock values in the PNG metadata: same inputs, same files
    scene.render.use_stamp_date = False
    scene.render.use_stamp_time = False
    scene.render.use_stamp_render_time = False
    # Eevee and Workbench draw hair curves (the receptive field's outline) as 1-pixel lines
    # by default ("STRAND"): strips take their width from the curve radius, as Cycles does
    scene.render.hair_type = "STRIP"
    if engine == "cycles":
        cy = scene.cycles
        cy.device = "GPU" if r.get("device") == "gpu" and _gpu_devices() else "CPU"
        cy.samples = r["samples"]
        cy.use_adaptive_sampling = False
        # the maps and labels glow but light nothing: sampling ~300+ emissive meshes as
        # lights (the light tree) doubled the frame time for no visible gain
        cy.use_light_tree = False
        cy.caustics_reflective = False
        cy.caustics_refractive = False
        cy.seed = plan.seed
        cy.max_bounces = r["max_bounces"]
        cy.use_denoising = r["denoise"] != "off"
        if cy.use_denoising:
            cy.denoiser = "OPENIMAGEDENOISE"
            cy.denoising_quality = {"fast": "FAST", "balanced": "BALANCED", "high": "HIGH"}[
                r["denoise"]]
        # AUTO even for a farm's local chunks sharing the cores: one thread each made a
        # 2-worker LocalCluster on 2 cores 20% slower than both oversubscribed (bench_farm)
        scene.render.threads_mode = "AUTO"
        # edges (hair curves): camera-facing ribbons; round 3D tubes ("THICK") cost ~1.5x the
        # frame (640x360, 16 spp, 5k curves, a lit shader: 6.8 s vs 10-11 s; 3.5 s without
        # edges) and look the same at a few pixels wide. Translucent edges pile up in
        # bundles: 16 transparent hits (8 by default) cost nothing measurable and keep dense
        # spots from going dark
        scene.cycles_curves.shape = "RIBBONS"
        if plan.edges or plan.frustum is not None:
            cy.transparent_max_bounces = max(cy.transparent_max_bounces, 16)
    elif engine == "eevee":
        ee = scene.eevee
        ee.taa_render_samples = r["samples"]
        # EEVEE (5.0) on software GL: virtual shadow maps cost ~3x the frame (320x180, 8
        # samples: 13 s with, 3.7 s without) and change the picture by < 0.3/255 on average
        # (the maps glow, the walls are thin); no ray tracing: nothing here is mirror-like
        ee.use_shadows = False
        ee.use_raytracing = False
        ee.use_fast_gi = False
    else:
        shading = scene.display.shading
        shading.light = "FLAT"
        shading.color_type = "TEXTURE"
        shading.use_dof = plan.camera.fstop is not None
        scene.display.render_aa = "8" if r["samples"] >= 8 else "FXAA"


def _gpu_devices() -> bool:
    """Turn on this machine's Cycles GPU devices (OptiX first); False, with a warning, when
    it has none (a farm's GPU scene then still renders on the CPU)."""
    prefs = bpy.context.preferences.addons["cycles"].preferences
    for kind in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
        try:
            prefs.compute_device_type = kind
        except TypeError:  # not built into this Blender
            continue
        prefs.get_devices()
        found = [d for d in prefs.devices if d.type == kind]
        if found:
            for d in prefs.devices:
                d.use = d.type == kind
            return True
    print("nnrender: warning: render.device: gpu, but Cycles finds no GPU here: rendering "
          "on the CPU", file=sys.stderr)
    return False


def _label_material(plan: ScenePlan, name: str) -> bpy.types.Material:
    """Text in the colour the plan chose for its background."""
    return _emission_material(name, tuple(float(c) for c in plan.look["label_color"]), 1.0)


def build(plan: ScenePlan, engine: str | None = None) -> BuiltScene:
    """Build the plan into a fresh scene in the current Blender session."""
    engine = engine or plan.render["engine"]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    images.forget_files()  # the images of an earlier build are gone with it
    scene = bpy.context.scene
    scene.name = "nnrender"
    scene.frame_start = plan.timeline.first_frame
    scene.frame_end = plan.timeline.last_frame
    configure_render(scene, plan, engine)
    scene[EPOCH_PROP] = 0.0
    _keys(_fcurve(scene, f'["{EPOCH_PROP}"]'), plan.timeline.keys(), "BEZIER")

    built = BuiltScene(scene, engine, plan=plan)
    if engine == "workbench":
        built.layer_objects.append(_workbench_mesh(plan, built))
    else:
        _instanced_layers(plan, built)
    if plan.edges or plan.frustum is not None:
        from nnrender.blender import edges  # imports this module's helpers

        built.edge_objects = edges.build_edges(plan, built)

    label_mat = _label_material(plan, "nnrender_label")
    cam = _camera(plan, scene)
    for i, label in enumerate(plan.labels):
        obj = overlay.text(f"nnrender_label_{i:03d}", label.text, label.size, label_mat)
        obj.location = label.position
        con = obj.constraints.new("TRACK_TO")
        con.target = cam
        con.track_axis = "TRACK_Z"
        con.up_axis = "UP_Y"
    # depth of field would blur overlays pinned to the camera: they get a scene of their own
    over = None
    pin, collection = cam, scene.collection
    if plan.camera.fstop is not None and (plan.captions or plan.legend is not None):
        over = _overlay_scene(plan, engine, scene, cam)
        pin, collection = over.camera, over.collection
    if plan.captions:
        overlay.captions(plan, pin,
                         _label_material(plan, "nnrender_caption"),
                         lambda obj, prop, keys: _keys(_fcurve(obj, prop), keys, "CONSTANT"),
                         collection)
    built.legend = overlay.legend(plan, pin, label_mat, collection)
    _lights(plan, scene, Vector(plan.camera.target))
    _world(plan, scene)
    _compositor(scene, float(plan.look["glow"]), over)
    built.overlay_scene = over
    scene.frame_set(plan.timeline.first_frame)
    if over is not None:  # its objects' matrices, as the main scene's are after frame_set
        over.frame_current = plan.timeline.first_frame
        over.view_layers[0].update()
    return built
