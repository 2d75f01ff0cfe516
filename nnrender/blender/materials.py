"""Materials: the feature-map shader that samples the atlas, flat and glowing colours for
text, edges and the colour bar, and Workbench's plain ones. Colours and strengths come from
the plan; only the node wiring is decided here."""

from __future__ import annotations

import bpy

from nnrender.blender.nodes import Socket, math_op, node, sock, vector_op
from nnrender.edges.groups import EdgeGroup
from nnrender.layout.atlas import AtlasPage

EPOCH_PROP = "epoch"  # scene["epoch"]: the fractional epoch, one keyed value for all maps
WEIGHT_ATTR = "weight"  # edges: the blended signed weight (curve domain)
PRESENT_ATTR = "present"  # edges: 1 where drawn at this epoch, easing in/out between epochs
ROUGHNESS = 0.45

Color = tuple[float, float, float]


def rgb(color: tuple[float, ...] | list[float]) -> Color:
    return tuple(float(c) for c in color[:3])


def no_light_sampling(mat: bpy.types.Material) -> bpy.types.Material:
    """Glowing surfaces here are for the eye, not to light the scene: not sampled as lights."""
    mat.cycles.emission_sampling = "NONE"
    return mat


def _new(name: str) -> tuple[bpy.types.Material, bpy.types.NodeTree]:
    mat = bpy.data.materials.new(name)
    mat.node_tree.nodes.clear()
    return mat, mat.node_tree


def surface(nt: bpy.types.NodeTree, color: Socket, emission: float) -> None:
    """Principled surface whose base and emission colour is ``color``."""
    bsdf = node(nt, "ShaderNodeBsdfPrincipled", (400, 0))
    bsdf.inputs["Roughness"].default_value = ROUGHNESS
    nt.links.new(color, bsdf.inputs["Base Color"])
    nt.links.new(color, bsdf.inputs["Emission Color"])
    bsdf.inputs["Emission Strength"].default_value = emission
    out = node(nt, "ShaderNodeOutputMaterial", (700, 0))
    nt.links.new(bsdf.outputs[0], out.inputs["Surface"])


def maps_material(name: str, page: AtlasPage, epochs: int, atlas: bpy.types.Image,
                  emission: float) -> bpy.types.Material:
    """Shader: tile rect from the instance, epoch from the scene, two look-ups mixed."""
    mat, nt = _new(name)
    uv_local = node(nt, "ShaderNodeAttribute", (-1400, 200), attribute_type="GEOMETRY",
                    attribute_name="UVMap").outputs["Vector"]
    tile_uv = node(nt, "ShaderNodeAttribute", (-1400, 0), attribute_type="INSTANCER",
                   attribute_name="tile_uv").outputs["Vector"]
    tile_duv = node(nt, "ShaderNodeAttribute", (-1400, -200), attribute_type="INSTANCER",
                    attribute_name="tile_duv").outputs["Vector"]
    epoch = node(nt, "ShaderNodeAttribute", (-1400, -400), attribute_type="VIEW_LAYER",
                 attribute_name=EPOCH_PROP).outputs["Fac"]
    base = vector_op(nt, "MULTIPLY_ADD", uv_local, tile_duv, (-1100, 100))
    nt.links.new(tile_uv, base.node.inputs[2])
    e0 = math_op(nt, "FLOOR", epoch, None, (-1100, -400))
    e1 = math_op(nt, "MINIMUM", math_op(nt, "ADD", e0, 1.0, (-950, -500)), epochs - 1,
                 (-800, -500))
    frac = math_op(nt, "SUBTRACT", epoch, e0, (-950, -300))
    bu, bv = page.block_w / page.width, page.block_h / page.height
    colors = []
    for j, e in enumerate((e0, e1)):
        col = math_op(nt, "FLOORED_MODULO", e, float(page.grid_cols), (-800, -700 - 300 * j))
        row = math_op(nt, "FLOOR", math_op(nt, "DIVIDE", e, float(page.grid_cols)), None,
                      (-650, -800 - 300 * j))
        comb = node(nt, "ShaderNodeCombineXYZ", (-500, -700 - 300 * j))
        nt.links.new(math_op(nt, "MULTIPLY", col, bu), comb.inputs[0])
        nt.links.new(math_op(nt, "MULTIPLY", row, -bv), comb.inputs[1])
        uv = vector_op(nt, "ADD", base, comb.outputs[0], (-350, -300 * j))
        tex = node(nt, "ShaderNodeTexImage", (-150, -300 * j), image=atlas,
                   interpolation="Closest", extension="EXTEND")
        nt.links.new(uv, tex.inputs["Vector"])
        colors.append(tex.outputs["Color"])
    mixed = node(nt, "ShaderNodeMix", (150, 0), data_type="RGBA", blend_type="MIX")
    nt.links.new(frac, mixed.inputs["Factor"])
    nt.links.new(colors[0], mixed.inputs[6])
    nt.links.new(colors[1], mixed.inputs[7])
    surface(nt, mixed.outputs[2], emission)
    return no_light_sampling(mat)


def image_material(name: str, image: bpy.types.Image, emission: float) -> bpy.types.Material:
    """Workbench's cells: one image, sampled by the mesh's own UVs (the active texture is
    what Workbench shows)."""
    mat, nt = _new(name)
    tex = node(nt, "ShaderNodeTexImage", (0, 0), image=image, interpolation="Closest",
               extension="EXTEND")
    nt.nodes.active = tex
    surface(nt, tex.outputs["Color"], emission)
    return no_light_sampling(mat)


def emission_material(name: str, color: Color, strength: float) -> bpy.types.Material:
    """Flat, unlit colour (text): the same under any light and in Workbench."""
    mat, nt = _new(name)
    mat.diffuse_color = (*color, 1.0)
    em = node(nt, "ShaderNodeEmission", (0, 0))
    em.inputs["Color"].default_value = (*color, 1.0)
    em.inputs["Strength"].default_value = strength
    out = node(nt, "ShaderNodeOutputMaterial", (300, 0))
    nt.links.new(em.outputs[0], out.inputs["Surface"])
    return no_light_sampling(mat)


def gradient_material(name: str, image: bpy.types.Image) -> bpy.types.Material:
    """Emission of an image (the colour bar): its colours under any light."""
    mat, nt = _new(name)
    mat.diffuse_color = (1.0, 1.0, 1.0, 1.0)
    tex = node(nt, "ShaderNodeTexImage", (0, 0), image=image, interpolation="Linear",
               extension="EXTEND")
    nt.nodes.active = tex  # what Workbench's texture colour shows
    em = node(nt, "ShaderNodeEmission", (300, 0))
    em.inputs["Strength"].default_value = 1.0
    nt.links.new(tex.outputs["Color"], em.inputs["Color"])
    out = node(nt, "ShaderNodeOutputMaterial", (600, 0))
    nt.links.new(em.outputs[0], out.inputs["Surface"])
    return no_light_sampling(mat)


def _glow(name: str, strength: float) -> tuple[bpy.types.Material, Socket, Socket]:
    """Emission over a Transparent BSDF (Mix Shader), unlit and not sampled as a light.
    Returns the material and its colour and opacity inputs to set or link."""
    mat, nt = _new(name)
    no_light_sampling(mat)
    mat.surface_render_method = "BLENDED"  # Eevee: smooth alpha at few samples
    glow = node(nt, "ShaderNodeEmission", (0, 200))
    glow.inputs["Strength"].default_value = strength
    clear = node(nt, "ShaderNodeBsdfTransparent", (0, -100))
    mixed = node(nt, "ShaderNodeMixShader", (300, 0))
    nt.links.new(clear.outputs[0], mixed.inputs[1])
    nt.links.new(glow.outputs[0], mixed.inputs[2])
    out = node(nt, "ShaderNodeOutputMaterial", (550, 0))
    nt.links.new(mixed.outputs[0], out.inputs["Surface"])
    return mat, glow.inputs["Color"], mixed.inputs["Fac"]


def flat_material(name: str, color: Color, strength: float,
                  alpha: float) -> bpy.types.Material:
    """One glowing colour at one opacity (Workbench: the same, from ``diffuse_color``)."""
    mat, color_in, alpha_in = _glow(name, strength)
    color_in.default_value = (*color, 1.0)
    alpha_in.default_value = float(alpha)
    mat.diffuse_color = (*color, float(alpha))
    return mat


def edge_material(name: str, group: EdgeGroup) -> bpy.types.Material:
    """The group's positive colour where the curve's ``weight`` > 0, else its negative one;
    opacity = opacity * (alpha_floor + (1 - alpha_floor) * |w|) * present."""
    mat, color_in, alpha_in = _glow(name, group.emission)
    nt = mat.node_tree
    weight = node(nt, "ShaderNodeAttribute", (-900, 0), attribute_type="GEOMETRY",
                  attribute_name=WEIGHT_ATTR).outputs["Fac"]
    pick = node(nt, "ShaderNodeMix", (-300, 300), data_type="RGBA", blend_type="MIX")
    nt.links.new(math_op(nt, "LESS_THAN", weight, 0.0, (-600, 300)),
                 sock(pick.inputs, "Factor_Float"))
    sock(pick.inputs, "A_Color").default_value = (*rgb(group.positive), 1.0)
    sock(pick.inputs, "B_Color").default_value = (*rgb(group.negative), 1.0)
    nt.links.new(sock(pick.outputs, "Result_Color"), color_in)
    floor = float(group.alpha_floor)
    grow = math_op(nt, "MULTIPLY_ADD", math_op(nt, "ABSOLUTE", weight, None, (-600, -300)),
                   1.0 - floor, (-450, -300))
    grow.node.inputs[2].default_value = floor
    present = node(nt, "ShaderNodeAttribute", (-900, -500), attribute_type="GEOMETRY",
                   attribute_name=PRESENT_ATTR).outputs["Fac"]
    fade = math_op(nt, "MULTIPLY", grow, present, (-300, -400))
    nt.links.new(math_op(nt, "MULTIPLY", fade, float(group.opacity), (-150, -300), clamp=True),
                 alpha_in)
    mat.diffuse_color = (*rgb(group.positive), float(group.opacity))
    mat.use_backface_culling = True  # Eevee's tubes: blend the faces in front only
    return mat


def plain_material(name: str, color: Color) -> bpy.types.Material:
    """Workbench shades with ``diffuse_color`` and nothing else. Opaque: its transparency
    washes thin lines out to a faint tint (at alpha 0.85 they read as ~0.3)."""
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = (*color, 1.0)
    return mat
