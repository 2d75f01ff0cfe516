"""ScenePlan -> Blender scene. The only translation layer: no decisions, just bpy.

Feature maps and neurons are instances of one template box on a point cloud per layer
(Geometry Nodes "Instance on Points"); the material reads each instance's tile rectangle
(Attribute node, Instancer) and samples it from one atlas holding every epoch. One scene
property, ``scene["epoch"]``, keyed on one fcurve, drives the blend between epochs.
Workbench ignores instancer attributes and node maths, so for it the boxes are realised as
one mesh with real UVs into a single image that ``update_frame`` refills each frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import bpy
import numpy as np
from bpy_extras import anim_utils
from mathutils import Vector

from nnrender.layout.camera import offset_direction
from nnrender.plan import ScenePlan

ENGINES = {"cycles": "CYCLES", "eevee": "BLENDER_EEVEE", "workbench": "BLENDER_WORKBENCH"}
EPOCH_PROP = "epoch"

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


@dataclass
class BuiltScene:
    scene: bpy.types.Scene
    engine: str
    layer_objects: list[bpy.types.Object] = field(default_factory=list)
    atlas: bpy.types.Image | None = None
    frame_image: bpy.types.Image | None = None
    plan: ScenePlan | None = None

    def update_frame(self, frame: int) -> None:
        """Workbench only: refill the single image with the epoch blend for ``frame``."""
        if self.frame_image is None or self.plan is None:
            return
        value = float(self.plan.timeline.value(frame))
        _set_pixels(self.frame_image, self.plan.atlas.blend(value))


def _set_pixels(image: bpy.types.Image, rgba: np.ndarray) -> None:
    """Blender rows run bottom-up; numpy's run top-down."""
    flat = np.empty(rgba.size, dtype=np.float32)  # one float copy, not two: atlases are big
    np.multiply(rgba[::-1].reshape(-1), np.float32(1 / 255), out=flat, casting="unsafe")
    image.pixels.foreach_set(flat)
    image.update()


def _image(name: str, rgba: np.ndarray) -> bpy.types.Image:
    h, w = rgba.shape[:2]
    img = bpy.data.images.new(name, w, h, alpha=True)
    img.colorspace_settings.name = "sRGB"
    img.alpha_mode = "STRAIGHT"
    _set_pixels(img, rgba)
    return img


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


def _math(nt, op: str, a, b=None, loc=(0, 0)) -> bpy.types.NodeSocket:
    node = _node(nt, "ShaderNodeMath", loc, operation=op)
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


def _maps_material(plan: ScenePlan, atlas: bpy.types.Image) -> bpy.types.Material:
    """Shader: tile rect from the instance, epoch from the scene, two look-ups mixed."""
    lay = plan.atlas.layout
    mat = bpy.data.materials.new("nnrender_maps")
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
    e1 = _math(nt, "MINIMUM", _math(nt, "ADD", e0, 1.0, (-950, -500)), lay.epochs - 1,
               (-800, -500))
    frac = _math(nt, "SUBTRACT", epoch, e0, (-950, -300))
    bu, bv = lay.block_w / lay.width, lay.block_h / lay.height
    colors = []
    for j, e in enumerate((e0, e1)):
        col = _math(nt, "FLOORED_MODULO", e, float(lay.grid_cols), (-800, -700 - 300 * j))
        row = _math(nt, "FLOOR", _math(nt, "DIVIDE", e, float(lay.grid_cols)), None,
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


def _instancer_group(template: bpy.types.Object) -> bpy.types.NodeTree:
    ng = bpy.data.node_groups.new("nnrender_cells", "GeometryNodeTree")
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    gin = _node(ng, "NodeGroupInput", (-600, 0))
    gout = _node(ng, "NodeGroupOutput", (400, 0))
    info = _node(ng, "GeometryNodeObjectInfo", (-400, -200), transform_space="ORIGINAL")
    info.inputs["Object"].default_value = template
    scale = _node(ng, "GeometryNodeInputNamedAttribute", (-400, -400), data_type="FLOAT_VECTOR")
    scale.inputs["Name"].default_value = "scale"
    inst = _node(ng, "GeometryNodeInstanceOnPoints", (0, 0))
    ng.links.new(gin.outputs[0], inst.inputs["Points"])
    ng.links.new(info.outputs["Geometry"], inst.inputs["Instance"])
    ng.links.new(scale.outputs["Attribute"], inst.inputs["Scale"])
    ng.links.new(inst.outputs[0], gout.inputs[0])
    return ng


def _layer_uvs(plan: ScenePlan, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tile rects (block px, top-down) -> epoch-0 atlas UV origin and size (bottom-up)."""
    lay = plan.atlas.layout
    x, y, w, h = (tiles[:, i].astype(np.float64) for i in range(4))
    uv0 = np.stack([x / lay.width, 1.0 - (y + h) / lay.height, np.zeros_like(x)], axis=1)
    duv = np.stack([w / lay.width, h / lay.height, np.zeros_like(x)], axis=1)
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


def _workbench_mesh(plan: ScenePlan, image: bpy.types.Image) -> bpy.types.Object:
    """All boxes realised in one mesh, with UVs into one epoch block (Workbench preview)."""
    lay = plan.atlas.layout
    centers = np.concatenate([lp.centers for lp in plan.layers])
    sizes = np.concatenate([lp.sizes for lp in plan.layers])
    tiles = np.concatenate([lp.tiles for lp in plan.layers]).astype(np.float64)
    n = len(centers)
    verts = (_BOX_VERTS[None] * sizes[:, None] + centers[:, None]).astype(np.float32)
    loops = (_BOX_FACES.ravel()[None] + 8 * np.arange(n)[:, None]).astype(np.int32)
    x, y, w, h = (tiles[:, i, None] for i in range(4))
    u = (x + _BOX_UV[None, :, 0] * w) / lay.block_w
    v = 1.0 - (y + (1.0 - _BOX_UV[None, :, 1]) * h) / lay.block_h
    mesh = bpy.data.meshes.new("nnrender_cells_realised")
    mesh.vertices.add(n * 8)
    mesh.vertices.foreach_set("co", verts.ravel())
    mesh.loops.add(n * 24)
    mesh.loops.foreach_set("vertex_index", loops.ravel())
    mesh.polygons.add(n * 6)
    mesh.polygons.foreach_set("loop_start", np.arange(0, n * 24, 4, dtype=np.int32))
    uv = mesh.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", np.stack([u, v], axis=-1).astype(np.float32).ravel())
    mesh.update(calc_edges=True)
    mat = bpy.data.materials.new("nnrender_maps_workbench")
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


def _text(name: str, body: str, size: float, material: bpy.types.Material,
          align_y: str = "BOTTOM") -> bpy.types.Object:
    curve = bpy.data.curves.new(name, type="FONT")
    curve.body = body
    curve.size = size
    curve.align_x = "CENTER"
    curve.align_y = align_y
    curve.materials.append(material)
    obj = bpy.data.objects.new(name, curve)
    bpy.context.scene.collection.objects.link(obj)
    return obj


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


def _camera(plan: ScenePlan, scene: bpy.types.Scene) -> bpy.types.Object:
    cam_plan = plan.camera
    rig = bpy.data.objects.new("nnrender_camera_rig", None)
    rig.location = cam_plan.target
    scene.collection.objects.link(rig)
    data = bpy.data.cameras.new("nnrender_camera")
    data.lens = cam_plan.lens
    data.sensor_width = 36.0
    data.sensor_fit = "AUTO"
    data.clip_start = max(0.01, cam_plan.distance * 0.01)
    data.clip_end = cam_plan.distance * 10
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


def _captions(plan: ScenePlan, cam: bpy.types.Object, material) -> None:
    """Epoch captions pinned to the lower left of the view, each visible in its frames."""
    w, h = plan.render["resolution"]
    dist = 1.0
    half_w = 18.0 / plan.camera.lens * dist * (1.0 if w >= h else w / h)
    half_h = half_w * h / w
    for i, cap in enumerate(plan.captions):
        obj = _text(f"nnrender_caption_{i:03d}", cap.text, 0.07 * half_h, material, "BOTTOM")
        obj.data.align_x = "LEFT"
        obj.parent = cam
        obj.location = (-half_w * 0.94, -half_h * 0.92, -dist)
        keys = [(cap.frame_start, 0.0)]
        if cap.frame_start > plan.timeline.first_frame:
            keys.insert(0, (plan.timeline.first_frame, 1.0))
        if cap.frame_end < plan.timeline.last_frame:
            keys.append((cap.frame_end + 1, 1.0))
        for prop in ("hide_render", "hide_viewport"):
            _keys(_fcurve(obj, prop), keys, "CONSTANT")


def _lights(plan: ScenePlan, scene: bpy.types.Scene, target: Vector) -> None:
    for light in plan.lights:
        data = bpy.data.lights.new(f"nnrender_{light.name}", light.kind)
        data.energy = light.energy
        data.color = light.color
        if light.kind == "AREA":
            data.size = light.size
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


def configure_render(scene: bpy.types.Scene, plan: ScenePlan, engine: str) -> None:
    r = plan.render
    scene.render.engine = ENGINES[engine]
    scene.render.resolution_x, scene.render.resolution_y = r["resolution"]
    scene.render.resolution_percentage = 100
    scene.render.fps = r["fps"]
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.color_depth = "8"
    scene.render.use_file_extension = False
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.film_transparent = False
    scene.render.use_persistent_data = True
    # no wall-clock values in the PNG metadata: same inputs, same files
    scene.render.use_stamp_date = False
    scene.render.use_stamp_time = False
    scene.render.use_stamp_render_time = False
    if engine == "cycles":
        cy = scene.cycles
        cy.device = "CPU"
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
        scene.render.threads_mode = "AUTO"
    elif engine == "eevee":
        scene.eevee.taa_render_samples = r["samples"]
    else:
        shading = scene.display.shading
        shading.light = "FLAT"
        shading.color_type = "TEXTURE"
        scene.display.render_aa = "8" if r["samples"] >= 8 else "FXAA"


def build(plan: ScenePlan, engine: str | None = None) -> BuiltScene:
    """Build the plan into a fresh scene in the current Blender session."""
    engine = engine or plan.render["engine"]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.name = "nnrender"
    scene.frame_start = plan.timeline.first_frame
    scene.frame_end = plan.timeline.last_frame
    configure_render(scene, plan, engine)
    scene[EPOCH_PROP] = 0.0
    _keys(_fcurve(scene, f'["{EPOCH_PROP}"]'), plan.timeline.keys(), "BEZIER")

    built = BuiltScene(scene, engine, plan=plan)
    if engine == "workbench":
        built.frame_image = _image("nnrender_frame_atlas", plan.atlas.blocks[0])
        built.layer_objects.append(_workbench_mesh(plan, built.frame_image))
    else:
        built.atlas = _image("nnrender_atlas", plan.atlas.image())
        material = _maps_material(plan, built.atlas)
        template = bpy.data.objects.new("nnrender_cell_template", _box_mesh("nnrender_box"))
        template.data.materials.append(material)
        group = _instancer_group(template)
        for lp in plan.layers:
            uv0, duv = _layer_uvs(plan, lp.tiles)
            mesh = _point_cloud(f"cells_{lp.name}", lp.centers,
                                {"scale": lp.sizes, "tile_uv": uv0, "tile_duv": duv})
            obj = bpy.data.objects.new(f"layer_{lp.name}", mesh)
            scene.collection.objects.link(obj)
            mod = obj.modifiers.new("cells", "NODES")
            mod.node_group = group
            obj["nnrender_layer"] = lp.name
            built.layer_objects.append(obj)

    label_mat = _emission_material("nnrender_label", (0.92, 0.93, 0.95), 1.5)
    cam = _camera(plan, scene)
    for i, label in enumerate(plan.labels):
        obj = _text(f"nnrender_label_{i:03d}", label.text, label.size, label_mat)
        obj.location = label.position
        con = obj.constraints.new("TRACK_TO")
        con.target = cam
        con.track_axis = "TRACK_Z"
        con.up_axis = "UP_Y"
    if plan.captions:
        _captions(plan, cam, _emission_material("nnrender_caption", (0.85, 0.87, 0.9), 1.2))
    _lights(plan, scene, Vector(plan.camera.target))
    _world(plan, scene)
    scene.frame_set(plan.timeline.first_frame)
    return built
