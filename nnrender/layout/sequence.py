"""Cells of sequence and volume layers: token strips (T, D) and rows of map stacks
(T, H, W, C). Pure numpy; the same cell model as the maps (``network.LayerBlock``): every
stage holds the same cells, so arrangements animate.

A token is one cell whose tile shows its D features: a column D pixels tall, or, for tokens
that came from image patches, a near-square tile of the D features row by row, the cells
then sitting where their patches were in the image. Arrangements: ``line`` (a row of token
columns with gaps), ``slab`` (the same row without gaps: one T x D heat slab), ``grid`` (the
patch grid, or the tokens wrapped into rows like text), ``circle`` and ``fold`` (one block
of the mean token).

A volume is T steps (time or depth) of C maps: each step a small wall of its maps, the steps
side by side, ``show`` capping the maps of each step and ``steps`` the steps.
"""

from __future__ import annotations

import math

import numpy as np

from nnrender.layout import cells as network
from nnrender.layout.cells import LayerBlock, LayerStyle
from nnrender.model.ir import LayerInfo

TOKEN_WIDTH = (0.16, 0.12, 0.4)  # a token column's width: at least, share of its height, most
TOKEN_GAP = 0.06  # between token columns in a line
STEP_GAP = 0.45  # between the walls of a volume's steps, a share of one wall


def patch_grid(tokens: int) -> tuple[int, int, int] | None:
    """(rows, cols, extra) when ``tokens`` fill a square patch grid, with ``extra`` leading
    tokens beyond it (ViT's class token); None otherwise."""
    for extra in (0, 1):
        side = math.isqrt(tokens - extra)
        if side >= 2 and side * side == tokens - extra:
            return side, side, extra
    return None


def column_height(features: int) -> float:
    """World height of a token's feature column: grows with the square root of D, like a
    map's side with its resolution."""
    return min(6.0, max(0.45, 0.36 * math.sqrt(features)))


def square_tile(features: int) -> tuple[int, int]:
    """(rows, cols) of a near-square tile holding ``features`` values row by row."""
    cols = max(1, math.ceil(math.sqrt(features)))
    return max(1, math.ceil(features / cols)), cols


def _row(m: int, pitch: float) -> np.ndarray:
    """Centres of ``m`` cells in one row along -Y (the screen's right), centred."""
    y = -(np.arange(m) - (m - 1) / 2.0) * pitch
    return np.stack([np.zeros(m), y, np.zeros(m)], axis=1)


def _patch_slots(grid: tuple[int, int, int], cw: float, ch: float, gap: float) -> np.ndarray:
    """Token centres on the patch grid, row by row; extra leading tokens sit left of the
    first row, a gap apart."""
    rows, cols, extra = grid
    idx = np.arange(rows * cols)
    y = -((idx % cols) - (cols - 1) / 2.0) * (cw + gap)
    z = ((rows - 1) / 2.0 - idx // cols) * (ch + gap)
    cells = np.stack([np.zeros(len(idx)), y, z], axis=1)
    if extra:
        lead = np.zeros((extra, 3))
        lead[:, 1] = (cols - 1) / 2.0 * (cw + gap) + (np.arange(extra)[::-1] + 1.5) * (cw + gap)
        lead[:, 2] = cells[0, 2]
        cells = np.concatenate([lead, cells])
    return cells


def token_block(layer: LayerInfo, style: LayerStyle, stages: list[str],
                patches: bool) -> LayerBlock:
    """A token layer's cells; ``patches``: its tokens came from image patches (a patch
    grid is used when every token is shown and T fits one)."""
    stored = layer.array_shape
    available, features = int(stored[0]), int(stored[1])
    total = int(layer.output_shape[0])
    picked = network.pick_shown(available, style.show)
    ellipsis = len(picked) < available
    grid = patch_grid(available) if patches and not ellipsis and layer.positions is None \
        else None
    if grid is not None:
        tile = square_tile(features)
        cw, ch = network.map_side(*tile)
        cw, ch = 0.6 * cw, 0.6 * ch
        gap = 0.12 * max(cw, ch)
    else:
        tile = (features, 1)
        ch = column_height(features)
        low, share, high = TOKEN_WIDTH
        cw = min(max(low, share * ch), high)  # wide enough to read a token's label
        gap = TOKEN_GAP
    thick = 0.05 + 0.02 * max(cw, ch)
    cell = np.array([thick, cw, ch])
    fold = np.array([thick + 0.1 * ch * math.log2(max(total, 2)), cw, ch])
    summary = network.SUMMARY_MEAN if style.summary == "mean" else network.SUMMARY_MAX
    folded = [s == "fold" for s in stages]
    if all(folded):
        return network.single_cell(layer, "tokens", len(stages), summary, list(fold), tile, 0,
                                   total)
    k = len(picked)
    m = k + (1 if ellipsis else 0)
    dots = network.ELLIPSIS_DOTS if ellipsis else 0
    n = k + dots + (1 if any(folded) else 0)
    sources = np.concatenate([picked, np.full(dots, network.ELLIPSIS),
                              np.full(1 if any(folded) else 0, summary)]).astype(int)
    centers = np.zeros((len(stages), n, 3))
    sizes = np.zeros((len(stages), n, 3))
    dot = 0.3 * min(cw, ch)
    for si, kind in enumerate(stages):
        if kind == "fold":
            sizes[si, -1] = fold
            continue
        direction = np.array([0.0, -1.0, 0.0])
        if kind in ("line", "slab"):
            pitch = cw + (0.0 if kind == "slab" else gap)
            along = np.arange(k) * pitch
            # the dots follow the last token, clear of it, a dot apart
            dots_at = along[-1] + cw / 2 + gap + dot / 2 + 2 * dot * np.arange(dots)
            span = np.concatenate([along, dots_at]) if dots else along
            shift = (span.min() + span.max()) / 2
            centers[si, :k + dots, 1] = -(span - shift)
            sizes[si, :k] = cell
            sizes[si, k:k + dots] = dot
            continue
        if kind == "grid" and grid is not None:
            slots = _patch_slots(grid, cw, ch, gap)
        else:
            slots, dirs = network.slots(kind if kind == "circle" else "grid", m, cw, ch, gap,
                                        False)
            direction = dirs[min(k, m - 1)]
        centers[si, :k] = slots[:k]
        sizes[si, :k] = cell
        if ellipsis:
            offsets = (np.arange(dots) - (dots - 1) / 2) * 2 * dot
            centers[si, k:k + dots] = slots[k] + offsets[:, None] * direction
            sizes[si, k:k + dots] = dot
    return network.LayerBlock(layer.name, layer.type, "tokens", list(layer.output_shape),
                              sources, centers, sizes, tile, k, total)


def volume_block(layer: LayerInfo, style: LayerStyle, stages: list[str],
                 min_side: float = 0.0) -> LayerBlock:
    """A volume's cells: per shown step, a wall of its shown maps; the steps in a row.
    Cell sources index the stored (step, channel) pairs as ``step * C + channel``."""
    stored = layer.array_shape
    steps, h, w, channels = (int(d) for d in stored)
    total_steps, total = int(layer.output_shape[0]), int(layer.output_shape[-1])
    sw, sh = network.map_side(h, w)
    grow = max(1.0, min_side / max(sw, sh))
    sw, sh = sw * grow, sh * grow
    gap = 0.16 * max(sw, sh)
    thick = 0.05 + 0.02 * max(sw, sh)
    cell = np.array([thick, sw, sh])
    summary = network.SUMMARY_MEAN if style.summary == "mean" else network.SUMMARY_MAX
    if all(s == "fold" for s in stages):
        fold = [min(max(sw, sh), thick + 0.15 * max(sw, sh) * math.log2(max(total, 2))),
                sw, sh]
        return network.single_cell(layer, "volume", len(stages), summary, fold, (h, w), 0,
                                   total)
    shown_steps = network.pick_shown(steps, style.steps)
    shown_maps = network.pick_shown(channels, style.show)
    more_maps = len(shown_maps) < channels
    per = len(shown_maps) + (network.ELLIPSIS_DOTS if more_maps else 0)
    n = len(shown_steps) * per
    sources = np.concatenate([
        np.concatenate([s * channels + shown_maps,
                        np.full(network.ELLIPSIS_DOTS if more_maps else 0, network.ELLIPSIS)])
        for s in shown_steps]).astype(int)
    centers = np.zeros((len(stages), n, 3))
    sizes = np.zeros((len(stages), n, 3))
    dot = 0.15 * min(sw, sh)
    m = len(shown_maps) + (1 if more_maps else 0)
    for si, kind in enumerate(stages):
        column = kind == "line"
        local, dirs = network.slots("line" if column else "grid", m, sw, sh, gap, column)
        span = (local[:, 1].max() - local[:, 1].min()) + sw
        offsets = _row(len(shown_steps), span * (1 + STEP_GAP))
        for j, offset in enumerate(offsets):
            base = j * per
            k = len(shown_maps)
            centers[si, base:base + k] = local[:k] + offset
            sizes[si, base:base + k] = cell
            if more_maps:
                pos = (np.arange(network.ELLIPSIS_DOTS) - (network.ELLIPSIS_DOTS - 1) / 2) * 2 * dot
                centers[si, base + k:base + per] = (local[k] + offset
                                                    + pos[:, None] * dirs[k])
                sizes[si, base + k:base + per] = dot
    return network.LayerBlock(layer.name, layer.type, "volume", list(layer.output_shape),
                              sources, centers, sizes, (h, w), n - (len(shown_steps) * (
                                  network.ELLIPSIS_DOTS if more_maps else 0)), total_steps * total)


ATTENTION_GAP = 0.25  # between a layer's top and its row of attention maps, of one map


def attention_block(owner: LayerBlock, layer: LayerInfo, stages: int) -> LayerBlock:
    """An attention layer's per-head maps (queries x keys each) in a small grid above its
    tokens, as wide as the tokens' wall. Cell ``h`` shows head ``h``."""
    att = layer.attention or {}
    heads, queries, keys = int(att["heads"]), int(att["queries"]), int(att["keys"])
    cols, rows = network.grid_shape(heads, keys / queries)
    lo, hi = owner.own_bounds()
    side = max(hi[1] - lo[1], 1e-3) / (cols + 0.16 * (cols - 1))  # the wall's width
    sw, sh = (side, side * queries / keys) if keys >= queries else (side * keys / queries,
                                                                     side)
    gap = 0.16 * max(sw, sh)
    grid = network.grid_cells(heads, cols, sw, sh, gap)
    grid[:, 0] = (lo[0] + hi[0]) / 2
    grid[:, 1] += (lo[1] + hi[1]) / 2
    grid[:, 2] += hi[2] + ATTENTION_GAP * sh + (rows * sh + (rows - 1) * gap) / 2
    thick = 0.05 + 0.02 * max(sw, sh)
    centers = np.repeat(grid[None], stages, axis=0)
    sizes = np.tile(np.array([thick, sw, sh]), (stages, heads, 1))
    return network.LayerBlock(f"{layer.name}/attention", "Attention", "attention",
                              [heads, queries, keys], np.arange(heads), centers, sizes,
                              (queries, keys), heads, heads)
