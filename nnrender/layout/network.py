"""Where every feature map, neuron and label sits. Pure numpy.

The network runs along +X. Each layer is a wall in the YZ plane: conv/pool layers as thin
slabs (one per shown channel, size from the spatial shape), vector layers as small cubes (or
one image slab when very long), and any other rank as a labelled placeholder block. Grid
columns run towards -Y, which is the screen's right for the default camera, so maps read left
to right, top to bottom.

A layer may have several *stages* (``LayerStyle.arrange``), e.g. a grid that folds into one
summary block: every stage holds the same cells so the renderer can interpolate between them;
a cell hidden in a stage has size 0 and sits at the layer's centre.

``arrange`` places the layer blocks on the model's graph (see ``graph.py``): depth columns
along +X, side branches in lanes above and below the main path, long networks wrapped into
rows like lines of text.
"""

from __future__ import annotations

import math

import numpy as np

from nnrender.layout import graph as graph_mod
from nnrender.layout.cells import (
    ELLIPSIS,
    ELLIPSIS_DOTS,
    IMAGE,
    INPUT_SIDE,
    MAX_WALL,
    NEURON,
    NEURON_GAP,
    PLACEHOLDER,
    STAGES,
    SUMMARY_MAX,
    SUMMARY_MEAN,
    LayerBlock,
    LayerStyle,
    grid_shape,
    map_side,
    pick_shown,
    single_cell,
    slots,
    stage_names,
)
from nnrender.layout.sequence import attention_block, token_block, volume_block
from nnrender.model.ir import LayerInfo

__all__ = ["ELLIPSIS", "ELLIPSIS_DOTS", "IMAGE", "NEURON", "PLACEHOLDER", "STAGES",
           "SUMMARY_MAX", "SUMMARY_MEAN", "LayerBlock", "LayerStyle", "arrange", "grid_shape",
           "layer_block", "map_side", "median_wall", "pick_shown", "wall"]

def layer_block(layer: LayerInfo, style: LayerStyle | None = None,
                min_side: float = 0.0, patches: bool = False) -> LayerBlock:
    """Cells of one layer centred on the origin; maps are at least ``min_side`` tall.
    ``patches``: a token layer's tokens came from image patches (see ``sequence``)."""
    style = style or LayerStyle()
    stages = stage_names(style)
    n_stages = len(stages)
    role = layer.role
    stored = layer.array_shape
    if role == "tokens":
        block = token_block(layer, style, stages, patches)
        if layer.attention is not None and style.attention:
            block.attached.append(attention_block(block, layer, n_stages))
        return block
    if role == "volume":
        return volume_block(layer, style, stages, min_side)
    if role == "vector":
        available = int(stored[0])
        if available > style.dense_limit and (style.show is None
                                               or style.show > style.dense_limit):
            cols = math.ceil(math.sqrt(available))
            rows = math.ceil(available / cols)
            sw, sh = map_side(rows, cols)
            return single_cell(layer, "image", n_stages, IMAGE,
                           [0.05 + 0.02 * max(sw, sh), sw, sh], (rows, cols), available,
                           available)
    elif role != "maps":
        return single_cell(layer, "other", n_stages, PLACEHOLDER, [0.6, 0.9, 0.9], (1, 1), 1, 1)

    available = int(stored[-1])
    total = int(layer.output_shape[-1])
    picked = pick_shown(available, style.show)
    ellipsis = len(picked) < available
    summary = SUMMARY_MEAN if style.summary == "mean" else SUMMARY_MAX
    if role == "maps":
        h, w = int(layer.output_shape[0]), int(layer.output_shape[1])
        sw, sh = map_side(h, w)
        grow = max(1.0, min_side / max(sw, sh))
        sw, sh = sw * grow, sh * grow
        gap = 0.16 * max(sw, sh)
        thick = 0.05 + 0.02 * max(sw, sh)
        cell = np.array([thick, sw, sh])
        dot = 0.15 * min(sw, sh)
        # a stack of the maps, squashed: thickness grows with the log of the count
        fold = np.array([min(max(sw, sh), thick + 0.15 * max(sw, sh) * math.log2(total)),
                         sw, sh])
        tile = (int(stored[0]), int(stored[1]))
        column = False
    else:
        sw = sh = NEURON
        gap = NEURON_GAP
        cell = np.array([NEURON, NEURON, NEURON])
        dot = 0.3 * NEURON
        fold = np.full(3, NEURON * (1 + 0.5 * math.log2(max(total, 2))))
        tile = (1, 1)
        column = True

    folded = [s == "fold" for s in stages]
    if all(folded):
        return single_cell(layer, role, n_stages, summary, list(fold), tile, 0, total)

    k = len(picked)
    m = k + (1 if ellipsis else 0)
    n = k + (ELLIPSIS_DOTS if ellipsis else 0) + (1 if any(folded) else 0)
    sources = np.concatenate([picked, np.full(ELLIPSIS_DOTS if ellipsis else 0, ELLIPSIS),
                              np.full(1 if any(folded) else 0, summary)]).astype(int)
    centers = np.zeros((n_stages, n, 3))
    sizes = np.zeros((n_stages, n, 3))
    for si, kind in enumerate(stages):
        if kind == "fold":
            sizes[si, -1] = fold
            continue
        if role == "vector" and kind == "grid":
            dense = style.dense if style.dense != "auto" else ("line" if m <= 16 else "grid")
            if dense == "line":
                kind = "line"
        spots, direction = slots(kind, m, sw, sh, gap, column)
        centers[si, :k] = spots[:k]
        sizes[si, :k] = cell
        if ellipsis:
            pitch = 2 * dot
            offsets = (np.arange(ELLIPSIS_DOTS) - (ELLIPSIS_DOTS - 1) / 2) * pitch
            centers[si, k:k + ELLIPSIS_DOTS] = spots[k] + offsets[:, None] * direction[k]
            sizes[si, k:k + ELLIPSIS_DOTS] = dot
    return LayerBlock(layer.name, layer.type, role, list(layer.output_shape), sources,
                      centers, sizes, tile, k, total)


def wall(block: LayerBlock) -> float:
    """The larger side of a layer's wall (its YZ extent)."""
    ext = block.extent
    return float(max(ext[1], ext[2]))


def median_wall(blocks: list[LayerBlock]) -> float:
    """The typical wall of laid-out blocks: what label sizes and arc heights scale with."""
    return float(np.median([wall(b) for b in blocks]))


def patch_tokens(layers: list[LayerInfo]) -> set[int]:
    """Token layers whose tokens came from an image: a layer of maps (or volumes) lies
    upstream. Their tokens are patches, drawn on the patch grid where T fits one."""
    index = {layer.name: i for i, layer in enumerate(layers)}
    from_image = [False] * len(layers)
    for i, layer in enumerate(layers):
        from_image[i] = layer.role in ("maps", "volume") or any(
            from_image[index[p]] for p in layer.inbound if p in index)
    return {i for i, layer in enumerate(layers) if layer.role == "tokens" and from_image[i]}


def arrange(layers: list[LayerInfo], styles: list[LayerStyle] | None = None, *,
            spacing: float = 1.0, wrap: str | int = "auto", aspect: float = 16 / 9,
            camera: tuple[float, float, float, float] = graph_mod.DEFAULT_CAMERA,
            wide: set[str] | None = None) -> list[LayerBlock]:
    """Blocks placed on the model graph and centred on the origin.

    Columns (graph depth) run along +X with gaps that grow with the walls on either side;
    side branches sit in lanes above/below the main path; a long network wraps into rows
    stacked downwards (``wrap``: 'auto', 'none' or a row count) to fill a frame of
    ``aspect`` as seen by ``camera`` (azimuth, elevation, orbit, lens: the scene's camera).
    Layers named in ``wide`` (edges run into them) get a wider gap in front.
    """
    if styles is None:
        styles = [LayerStyle() for _ in layers]
    if len(styles) != len(layers):
        raise ValueError(f"{len(styles)} styles for {len(layers)} layers")
    if not layers:
        return []
    patchy = patch_tokens(layers)
    blocks = [layer_block(layer, style, patches=i in patchy)
              for i, (layer, style) in enumerate(zip(layers, styles, strict=True))]
    walls = [wall(b) for b in blocks]
    # walls of maps, token strips and volumes set the scale (vectors are tiny cubes)
    walled = ("maps", "tokens", "volume")
    maps = [w for w, b in zip(walls, blocks, strict=True) if b.role in walled]
    if maps:
        # a layer of a few maps (the input image, say) is drawn large enough to read
        side = INPUT_SIDE * float(np.median(maps))
        for i, (layer, style) in enumerate(zip(layers, styles, strict=True)):
            if blocks[i].role == "maps" and blocks[i].shape[2] <= 4:
                blocks[i] = layer_block(layer, style, side)
                walls[i] = wall(blocks[i])
    roles = [b.role for b in blocks]
    ref = ([w for w, r in zip(walls, roles, strict=True) if r in walled]
           or [w for w, r in zip(walls, roles, strict=True) if r != "other"] or walls)
    median = float(np.median(ref))
    # very large walls (thousands of channels as a full grid) shrink so none dwarfs the rest
    cap = MAX_WALL * median
    for b, own in zip(blocks, walls, strict=True):
        if own > cap:
            b.scale(cap / own)

    bounds = [b.bounds() for b in blocks]
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    edges = graph_mod.graph_edges(layers)
    place = graph_mod.layout_graph(
        len(layers), edges, lo, hi, spacing=spacing, wrap=wrap, aspect=aspect,
        label_room=0.3 * median, gap=spacing * (0.6 + 0.1 * median), camera=camera,
        wide=np.array([layer.name in wide for layer in layers]) if wide else None,
    )
    for i, b in enumerate(blocks):
        b.translate(place.offset[i])
        b.column, b.row, b.lane = int(place.column[i]), int(place.row[i]), int(place.lane[i])
    return blocks
