"""Layer labels that never overlap on screen. Pure numpy.

A label is a billboard facing the camera with its anchor at the bottom centre, by default just
above its layer's top centre. With 170 layers there is not room for every name, so labels are
placed in priority order (inputs and outputs first, then merges and stage changes, then the
rest); each tries a few heights above its layer and is dropped (unless forced) when every
height overlaps an accepted label, or sits behind a nearer block, in some camera view of the
orbit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnrender.layout.camera import View, basis, offset_direction
from nnrender.layout.network import LayerBlock
from nnrender.model.ir import LayerInfo

CHAR_WIDTH = 0.55  # Blender's default font: ~0.5 x size per character, with a little margin
LINE_PITCH = 0.9
LINE_HEIGHT = 0.95
PIXEL_GAP = 4.0  # pixels kept free around every label
STEP_GAP = 0.3  # extra rise (in sizes) between two label heights


def text_extent(text: str, size: float) -> tuple[float, float]:
    """World (width, height) of ``text`` in Blender's default font at curve size ``size``."""
    lines = text.split("\n")
    width = CHAR_WIDTH * size * max(len(line) for line in lines)
    height = size * (LINE_PITCH * (len(lines) - 1) + LINE_HEIGHT)
    return width, height


def label_priority(layers: Sequence[LayerInfo], blocks: Sequence[LayerBlock]) -> list[float]:
    """Higher first: inputs and outputs, then merges and resolution changes, then channel
    changes, then the rest; within a class the main path (lane 0) before side branches,
    then earlier layers first."""
    names = {layer.name: i for i, layer in enumerate(layers)}
    parents = [[names[p] for p in layer.inbound if p in names and names[p] != i]
               for i, layer in enumerate(layers)]
    if all(not p for p in parents):  # an old dump without inbound lists: a chain
        parents = [[i - 1] if i else [] for i in range(len(layers))]
    has_child = [False] * len(layers)
    for ps in parents:
        for p in ps:
            has_child[p] = True
    n = len(layers)
    out = []
    for i, layer in enumerate(layers):
        shape = list(layer.output_shape)
        ins = [list(layers[p].output_shape) for p in parents[i]]
        if not parents[i] or not has_child[i]:
            rank = 4.0
        elif len(parents[i]) > 1:
            rank = 3.0
        elif ins[0][:-1] != shape[:-1]:
            rank = 2.5  # resolution or rank changes: a new stage of the network
        elif ins[0] != shape:
            rank = 2.0
        else:
            rank = 1.0
        main = 0.2 if i < len(blocks) and blocks[i].lane == 0 else 0.0
        out.append(rank + main - 0.1 * i / (n + 1))
    return out


def anchor(block: LayerBlock, size: float) -> np.ndarray:
    """Default anchor: the bottom centre of a label just above the block's top centre."""
    lo, hi = block.bounds()
    return np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2] + 0.5 * size])


def _rects(view: View, points: np.ndarray, width: np.ndarray | float,
           height: np.ndarray | float) -> np.ndarray:
    """Screen rectangles (x0, y0, x1, y1) in pixels of billboards anchored at ``points``."""
    px, py, depth = view.project(points)
    k = np.asarray(view.pixels_per_unit(depth), dtype=np.float64) * np.ones_like(px)
    half = width * k / 2
    return np.stack([px - half, py, px + half, py + height * k], axis=1)


def place_labels(
    blocks: Sequence[LayerBlock],
    texts: Sequence[str | None],
    size: float,
    priority: Sequence[float],
    forced: Sequence[bool],
    views: Sequence[View],
    levels: int = 3,
) -> list[tuple[float, float, float] | None]:
    """Anchor position per layer, or None where the label is left out.

    Labels go in order of ``priority`` (highest first); each tries ``levels`` heights above
    its default anchor and takes the first whose rectangle overlaps no accepted label in any
    view. A forced label that fits nowhere is put at its default height regardless.
    """
    n = len(blocks)
    if not (len(texts) == len(priority) == len(forced) == n):
        raise ValueError("blocks, texts, priority and forced must have the same length")
    out: list[tuple[float, float, float] | None] = [None] * n
    todo = [i for i in range(n) if texts[i] is not None]
    if not todo:
        return out
    levels = max(levels, 1)
    # every candidate position of every label, projected once per view
    extents = {i: text_extent(texts[i], size) for i in todo}  # type: ignore[arg-type]
    bases = {i: anchor(blocks[i], size) for i in todo}
    tries = np.array([bases[i] + [0.0, 0.0, k * (extents[i][1] + STEP_GAP * size)]
                      for i in todo for k in range(levels)])
    widths = np.repeat([extents[i][0] for i in todo], levels)
    heights = np.repeat([extents[i][1] for i in todo], levels)
    rects = [_rects(view, tries, widths, heights) for view in views]
    boxes = _boxes(blocks)
    slot = {i: j for j, i in enumerate(todo)}
    taken = [np.zeros((len(todo), 4)) for _ in views]
    count = 0
    order = sorted(todo, key=lambda i: (not forced[i], -priority[i], i))
    for i in order:
        rows = slot[i] * levels + np.arange(levels)
        chosen = None
        for k, r in enumerate(rows):
            free = all(not _overlaps(rv[r], tv[:count]) for rv, tv in zip(rects, taken,
                                                                        strict=True))
            if free and not any(_hidden(view, tries[r], widths[r], heights[r], boxes, i)
                                for view in views):
                chosen = k
                break
        if chosen is None:
            if not forced[i]:
                continue
            chosen = 0
        r = rows[chosen]
        out[i] = tuple(float(c) for c in tries[r])
        for rv, tv in zip(rects, taken, strict=True):
            tv[count] = rv[r]
        count += 1
    return out


def _boxes(blocks: Sequence[LayerBlock]) -> tuple[np.ndarray, np.ndarray]:
    bounds = [b.bounds() for b in blocks]
    return (np.array([lo for lo, _ in bounds], dtype=np.float64),
            np.array([hi for _, hi in bounds], dtype=np.float64))


def _hidden(view: View, base: np.ndarray, width: float, height: float,
            boxes: tuple[np.ndarray, np.ndarray], own: int) -> bool:
    """Whether any other layer's box lies between the camera and a point of the label:
    sight lines to 27 points of the billboard, clipped against every box (slab test)."""
    right, up, _ = basis(offset_direction(view.azimuth, view.elevation))
    grid = [(u, v) for u in np.linspace(-0.5, 0.5, 9) for v in (0.1, 0.5, 0.9)]
    points = np.array([base + right * (u * width) + up * (v * height) for u, v in grid])
    if view.ortho_scale is not None:  # parallel sight lines, from well in front
        eyes = points + offset_direction(view.azimuth, view.elevation) * (2 * view.distance)
    else:
        eyes = np.broadcast_to(view.position, points.shape)
    d = points - eyes  # (p, 3): the segment eye -> point is t in [0, 1]
    lo, hi = boxes
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d[:, None, :]  # (p, 1, 3)
        t0 = (lo[None] - eyes[:, None]) * inv
        t1 = (hi[None] - eyes[:, None]) * inv
    near = np.nanmax(np.minimum(t0, t1), axis=2)  # (p, n)
    far = np.nanmin(np.maximum(t0, t1), axis=2)
    hit = (near < far) & (near > 0) & (near < 0.999)
    hit[:, own] = False
    return bool(hit.any())


def _overlaps(rect: np.ndarray, others: np.ndarray) -> bool:
    if not len(others):
        return False
    g = PIXEL_GAP
    return bool(np.any((rect[0] < others[:, 2] + g) & (others[:, 0] < rect[2] + g)
                       & (rect[1] < others[:, 3] + g) & (others[:, 1] < rect[3] + g)))
