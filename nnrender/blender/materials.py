"""Materials: the feature-map shader that samples the atlas, flat and glowing colours for
text, edges and the colour bar, and Workbench's plain ones. Colours and strengths come from
the plan; only the node wiring is decided here."""

from __future__ import annotations

import bpy

from nnrender.blender.nodes import Socket, math_op, node, sock, vector_op
from nnrender.edges.groups import EdgeGroup
from nnrender.layout.atlas import AtlasPage

EPOCH_PROP = "epoch"  # scene["epoch"]: the (epoch, input) state path position, one keyed
# value for all maps
WAVE_PROP = "wave"  # scene["wave"]: a forward pass's front, in graph depths
WAVE_ON_PROP = "wave_on"  # scene["wave_on"]: 1 while a wave runs
WAVE_FLOOR = 0.1  # how bright a layer the wave has not reached yet is
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


def wave_light(nt: bpy.types.NodeTree, arrive: Socket, soft: float,
               loc: tuple[float, float]) -> Socket:
    """How lit something at graph depth ``arrive`` is: 1 without a wave; while one runs,
    from WAVE_FLOOR ahead of the front to 1 a ``soft`` depth behind it."""
    x, y = loc
    front = node(nt, "ShaderNodeAttribute", (x, y), attribute_type="VIEW_LAYER",
                 attribute_name=WAVE_PROP).outputs["Fac"]
    on = node(nt, "ShaderNodeAttribute", (x, y - 150), attribute_type="VIEW_LAYER",
              attribute_name=WAVE_ON_PROP).outputs["Fac"]
    ahead = math_op(nt, "SUBTRACT", front, arrive, (x + 150, y))
    lit = math_op(nt, "DIVIDE", ahead, soft, (x + 300, y), clamp=True)
    lit = math_op(nt, "MULTIPLY_ADD", lit, 1.0 - WAVE_FLOOR, (x + 450, y))
    lit.node.inputs[2].default_value = WAVE_FLOOR
    dark = math_op(nt, "MULTIPLY", math_op(nt, "SUBTRACT", 1.0, lit, (x + 600, y)), on,
                   (x + 750, y))
    return math_op(nt, "SUBTRACT", 1.0, dark, (x + 900, y))


def maps_material(name: str, page: AtlasPage, epochs: int, atlas: bpy.types.Image,
                  emission: float, wave_soft: float | None = None) -> bpy.types.Material:
    """Shader: tile rect from the instance, state from the scene, two look-ups mixed; with
    ``wave_soft``, darkened ahead of a forward pass (the instance's ``arrive`` depth)."""
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
    color = mixed.outputs[2]
    if wave_soft is not None:
        arrive = node(nt, "ShaderNodeAttribute", (-1400, -700), attribute_type="INSTANCER",
                      attribute_name="arrive").outputs["Vector"]
        depth = node(nt, "ShaderNodeSeparateXYZ", (-1200, -700))
        nt.links.new(arrive, depth.inputs[0])
        light = wave_light(nt, depth.outputs[0], wave_soft, (-1100, -900))
        shade = node(nt, "ShaderNodeMix", (250, -200), data_type="RGBA", blend_type="MULTIPLY")
        sock(shade.inputs, "Factor_Float").default_value = 1.0
        nt.links.new(color, sock(shade.inputs, "A_Color"))
        grey = node(nt, "ShaderNodeCombineXYZ", (100, -400))
        for k in range(3):
            nt.links.new(light, grey.inputs[k])
        nt.links.new(grey.outputs[0], sock(shade.inputs, "B_Color"))
        color = sock(shade.outputs, "Result_Color")
    surface(nt, color, emission)
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


def faded_material(name: str, color: Color, strength: float,
                   alpha: float) -> bpy.types.Material:
    """``flat_material`` whose opacity is also scaled by the object's colour alpha, so one
    material serves text and backdrops that fade in and out by keying ``Object.color``
    (Workbench shows them at full opacity while they are shown)."""
    mat, color_in, alpha_in = _glow(name, strength)
    color_in.default_value = (*color, 1.0)
    info = node(mat.node_tree, "ShaderNodeObjectInfo", (-300, -300))
    mat.node_tree.links.new(math_op(mat.node_tree, "MULTIPLY", info.outputs["Alpha"],
                                    float(alpha), (0, -300)), alpha_in)
    mat.diffuse_color = (*color, float(alpha))
    return mat


PULSE_WIDTH = 0.12  # a forward-pass pulse's length, a share of its curve
PULSE_GAIN = 4.0  # how much brighter a curve is under a pulse


def _pulse(nt: bpy.types.NodeTree, loc: tuple[float, float]) -> Socket:
    """0..1: where a forward pass's front is along this curve (its ``u`` 0..1 from source
    to target, the curve's source and target depths ``arrive0``/``arrive1``)."""
    x, y = loc
    attr = {name: node(nt, "ShaderNodeAttribute", (x, y - 120 * i), attribute_type="GEOMETRY",
                       attribute_name=name).outputs["Fac"]
            for i, name in enumerate(("u", "arrive0", "arrive1"))}
    front = node(nt, "ShaderNodeAttribute", (x, y - 400), attribute_type="VIEW_LAYER",
                 attribute_name=WAVE_PROP).outputs["Fac"]
    on = node(nt, "ShaderNodeAttribute", (x, y - 520), attribute_type="VIEW_LAYER",
              attribute_name=WAVE_ON_PROP).outputs["Fac"]
    span = math_op(nt, "MAXIMUM", math_op(nt, "SUBTRACT", attr["arrive1"], attr["arrive0"],
                                          (x + 150, y)), 0.5, (x + 300, y))
    where = math_op(nt, "DIVIDE", math_op(nt, "SUBTRACT", front, attr["arrive0"],
                                          (x + 150, y - 200)), span, (x + 450, y))
    off = math_op(nt, "ABSOLUTE", math_op(nt, "SUBTRACT", attr["u"], where, (x + 600, y)),
                  None, (x + 750, y))
    near = math_op(nt, "SUBTRACT", 1.0, math_op(nt, "DIVIDE", off, PULSE_WIDTH, (x + 900, y)),
                   (x + 1050, y), clamp=True)
    return math_op(nt, "MULTIPLY", near, on, (x + 1200, y))


def edge_material(name: str, group: EdgeGroup, pulses: bool = False) -> bpy.types.Material:
    """The group's positive colour where the curve's ``weight`` > 0, else its negative one;
    opacity = opacity * (alpha_floor + (1 - alpha_floor) * |w|) * present. With
    ``pulses``, a forward pass's front lights the curves up as it runs along them."""
    mat, color_in, alpha_in = _glow(name, group.emission)
    nt = mat.node_tree
    weight = node(nt, "ShaderNodeAttribute", (-900, 0), attribute_type="GEOMETRY",
                  attribute_name=WEIGHT_ATTR).outputs["Fac"]
    pick = node(nt, "ShaderNodeMix", (-300, 300), data_type="RGBA", blend_type="MIX")
    nt.links.new(math_op(nt, "LESS_THAN", weight, 0.0, (-600, 300)),
                 sock(pick.inputs, "Factor_Float"))
    sock(pick.inputs, "A_Color").default_value = (*rgb(group.positive), 1.0)
    sock(pick.inputs, "B_Color").default_value = (*rgb(group.negative), 1.0)
    picked = sock(pick.outputs, "Result_Color")
    if pulses:
        pulse = _pulse(nt, (-2200, 600))
        bright = node(nt, "ShaderNodeMix", (-120, 300), data_type="RGBA", blend_type="MIX")
        nt.links.new(pulse, sock(bright.inputs, "Factor_Float"))
        nt.links.new(picked, sock(bright.inputs, "A_Color"))
        sock(bright.inputs, "B_Color").default_value = (1.0, 1.0, 1.0, 1.0)
        picked = sock(bright.outputs, "Result_Color")
        strength = color_in.node.inputs["Strength"]
        nt.links.new(math_op(nt, "MULTIPLY_ADD", pulse, PULSE_GAIN * group.emission,
                             (-120, 500)), strength)
        strength.links[0].from_node.inputs[2].default_value = group.emission
    nt.links.new(picked, color_in)
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
