"""Feature maps and neurons: instances of a template box on a point cloud per layer
(Geometry Nodes "Instance on Points"), or, for Workbench, one realised mesh.

The material reads each instance's tile rectangle (Attribute node, Instancer) and samples it
from its atlas page, which holds every epoch. A layer whose arrangement changes over time
carries every stage's positions and sizes as point attributes; its modifier mixes them by
one keyed input (``Stage``). Workbench ignores instancer attributes and node maths, so for it
the boxes are realised as one mesh with real UVs into one image per page that
``BuiltScene.update_frame`` refills (and, for animated layers, whose vertices it moves).
"""

from __future__ import annotations

import bpy
import numpy as np

from nnrender.blender import images
from nnrender.blender.anim import animate
from nnrender.blender.materials import image_material, maps_material
from nnrender.blender.mesh import (
    BOX_FACES,
    BOX_UV,
    box_mesh,
    box_verts,
    mesh,
    new_object,
)
from nnrender.blender.nodes import (
    geometry_socket,
    group_input,
    math_op,
    named,
    node,
    sock,
    socket_id,
)
from nnrender.blender.scene import BuiltScene, MovingCells
from nnrender.layout.atlas import AtlasPage
from nnrender.plan import ScenePlan

STAGE_SOCKET = "Stage"
TEMPLATE_SOCKET = "Template"


def instancer_group(stages: int = 1) -> bpy.types.NodeTree:
    """Boxes (the template object given to the modifier) on every point, sized by ``scale``;
    with stages, positions and sizes mixed from ``pos_i``/``scale_i`` by the Stage input:
    p = pos_0, then p = mix(p, pos_i, clamp(stage - (i - 1), 0, 1)) for i >= 1."""
    name = "nnrender_cells" if stages == 1 else f"nnrender_cells_stages{stages}"
    ng = bpy.data.node_groups.new(name, "GeometryNodeTree")
    geometry_socket(ng, "INPUT")
    group_input(ng, TEMPLATE_SOCKET, "NodeSocketObject")
    if stages > 1:
        group_input(ng, STAGE_SOCKET, "NodeSocketFloat", 0.0)
    geometry_socket(ng, "OUTPUT")
    gin = node(ng, "NodeGroupInput", (-900, 0))
    gout = node(ng, "NodeGroupOutput", (600, 0))
    info = node(ng, "GeometryNodeObjectInfo", (-200, -200), transform_space="ORIGINAL")
    ng.links.new(gin.outputs[TEMPLATE_SOCKET], info.inputs["Object"])
    inst = node(ng, "GeometryNodeInstanceOnPoints", (300, 0))
    points = gin.outputs["Geometry"]
    if stages == 1:
        scale = named(ng, "scale", "FLOAT_VECTOR", (-200, -400))
    else:
        pos = named(ng, "pos_0", "FLOAT_VECTOR", (-700, 200))
        scale = named(ng, "scale_0", "FLOAT_VECTOR", (-700, -200))
        for i in range(1, stages):
            x = -700 + 150 * i
            fac = math_op(ng, "SUBTRACT", gin.outputs[STAGE_SOCKET], float(i - 1), (x, 400),
                          clamp=True)
            mixed = []
            for j, (prev, attr) in enumerate(((pos, f"pos_{i}"), (scale, f"scale_{i}"))):
                mix = node(ng, "ShaderNodeMix", (x, 200 - 400 * j), data_type="VECTOR",
                           clamp_factor=True)
                ng.links.new(fac, sock(mix.inputs, "Factor_Float"))
                ng.links.new(prev, sock(mix.inputs, "A_Vector"))
                ng.links.new(named(ng, attr, "FLOAT_VECTOR", (x - 100, 100 - 400 * j)),
                             sock(mix.inputs, "B_Vector"))
                mixed.append(sock(mix.outputs, "Result_Vector"))
            pos, scale = mixed
        setpos = node(ng, "GeometryNodeSetPosition", (0, 100))
        ng.links.new(points, setpos.inputs["Geometry"])
        ng.links.new(pos, setpos.inputs["Position"])
        points = setpos.outputs["Geometry"]
    ng.links.new(points, inst.inputs["Points"])
    ng.links.new(info.outputs["Geometry"], inst.inputs["Instance"])
    ng.links.new(scale, inst.inputs["Scale"])
    ng.links.new(inst.outputs[0], gout.inputs[0])
    return ng


def layer_uvs(page: AtlasPage, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tile rects (block px, top-down) -> epoch-0 UV origin and size in the page (bottom-up)."""
    x, y, w, h = (tiles[:, i].astype(np.float64) for i in range(4))
    uv0 = np.stack([x / page.width, 1.0 - (y + h) / page.height, np.zeros_like(x)], axis=1)
    duv = np.stack([w / page.width, h / page.height, np.zeros_like(x)], axis=1)
    return uv0.astype(np.float32), duv.astype(np.float32)


def _templates(plan: ScenePlan, built: BuiltScene) -> list[bpy.types.Object]:
    """Per atlas page: its image and a template box whose material samples it."""
    out = []
    emission = float(plan.look.emission)
    soft = plan.story.waves[0].soft if plan.story.waves else None
    for p, page in enumerate(plan.atlas.layout.pages):
        atlas = images.new_image(f"nnrender_atlas_{p}", page.width, page.height,
                                 lambda y0, y1, p=p: plan.atlas.rows(p, y0, y1))
        built.atlases.append(atlas)
        mat = maps_material(f"nnrender_maps_{p}", page, plan.atlas.layout.epochs, atlas,
                            emission, soft)
        out.append(new_object(f"nnrender_cell_template_{p}", box_mesh(f"nnrender_box_{p}"),
                              materials=[mat]))
    return out


def instanced_layers(plan: ScenePlan, built: BuiltScene) -> None:
    """One point-cloud object per layer instancing its page's template box."""
    templates = _templates(plan, built)
    pages = plan.atlas.layout.pages
    groups: dict[int, bpy.types.NodeTree] = {}
    for lp in plan.layers:
        stages = lp.stage_count
        uv0, duv = layer_uvs(pages[lp.page], lp.tiles)
        attrs = {"tile_uv": uv0, "tile_duv": duv}
        if plan.story.waves:  # where a forward pass reaches the layer (x: graph depth)
            attrs["arrive"] = np.tile([lp.depth, 0.0, 0.0], (len(lp.centers), 1))
        if stages == 1:
            attrs["scale"] = lp.sizes
            centers = lp.centers
        else:
            for k in range(stages):
                attrs[f"pos_{k}"] = lp.stage_centers[k]
                attrs[f"scale_{k}"] = lp.stage_sizes[k]
            centers = lp.stage_centers[0]
        obj = new_object(f"layer_{lp.name}", mesh(f"cells_{lp.name}", centers,
                                                  point_attributes=attrs),
                         built.scene.collection,
                         {"nnrender_layer": lp.name, "nnrender_page": lp.page})
        if stages not in groups:
            groups[stages] = instancer_group(stages)
        group = groups[stages]
        mod = obj.modifiers.new("cells", "NODES")
        mod.node_group = group
        mod[socket_id(group, TEMPLATE_SOCKET)] = templates[lp.page]
        if stages > 1:
            key = socket_id(group, STAGE_SOCKET)
            mod[key] = 0.0
            animate(obj, f'modifiers["{mod.name}"]["{key}"]',
                    [(float(f), float(v)) for f, v in lp.stage_keys], "BEZIER")
        built.layer_objects.append(obj)


def workbench_mesh(plan: ScenePlan, built: BuiltScene) -> bpy.types.Object:
    """All boxes realised in one mesh, with UVs into one epoch block of their page, one
    material (and frame image) per page (Workbench preview)."""
    frame = plan.story.first_frame
    pages = plan.atlas.layout.pages
    parts, loops_uv, mat_index = [], [], []
    offset = 0
    for i, lp in enumerate(plan.layers):
        pg = pages[lp.page]
        centers, sizes = lp.at(frame)
        n = len(centers)
        parts.append(box_verts(centers, sizes))
        tiles = lp.tiles.astype(np.float64)
        x, y, w, h = (tiles[:, k, None] for k in range(4))
        u = (x + BOX_UV[None, :, 0] * w) / pg.block_w
        v = 1.0 - (y + (1.0 - BOX_UV[None, :, 1]) * h) / pg.block_h
        loops_uv.append(np.stack([u, v], axis=-1).astype(np.float32))
        mat_index.append(np.full(6 * n, lp.page, dtype=np.int32))
        if lp.stage_count > 1:
            built.moving.append(MovingCells(i, offset, n))
        offset += 8 * n
    n = offset // 8
    verts = np.concatenate(parts) if parts else np.zeros((0, 8, 3), np.float32)
    quads = BOX_FACES[None] + 8 * np.arange(n, dtype=np.int32)[:, None, None]
    data = mesh("nnrender_cells_realised", verts, quads, np.concatenate(loops_uv),
                np.concatenate(mat_index))
    value = float(plan.story.value(frame))
    emission = float(plan.look.emission)
    for p, _ in enumerate(pages):
        image = images.image_from(f"nnrender_frame_atlas_{p}", plan.atlas.blend(value, p))
        built.frame_images.append(image)
        built.shown.append((value, None))
        data.materials.append(image_material(f"nnrender_maps_workbench_{p}", image, emission))
    return new_object("nnrender_cells", data, bpy.context.scene.collection)
