"""Stage 3: activations -> colours in the texture atlas, one layer (all its epochs) at a time.

Each layer gets one normalisation fixed across all epochs and inputs (robust percentiles),
so a brightness means the same thing at epoch 1 and epoch 8.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnrender import colormaps
from nnrender.errors import DumpError
from nnrender.layout import atlas as atlas_mod
from nnrender.layout import network
from nnrender.layout.atlas import AtlasPlan
from nnrender.layout.network import LayerBlock
from nnrender.plan.context import PlanContext
from nnrender.plan.types import LayerPlan

NORM_SAMPLE = 250_000  # values per layer for the percentiles; beyond that a seeded sample
DIVERGING = {"coolwarm"}
PLACEHOLDER_GREY = 90
PAD_GREY = 40


def layer_values(acts: list[np.ndarray], seed: int) -> np.ndarray:
    """The values a layer's range is taken from: all of them, or a fixed random sample of
    every epoch (seeded, so deterministic; percentiles of 250k values are stable to ~0.1%).
    Not a stride: a stride that shares a factor with the channel count sees some maps only."""
    total = sum(a.size for a in acts)
    if total <= NORM_SAMPLE:
        return np.concatenate([a.ravel() for a in acts]).astype(np.float32)
    rng = np.random.default_rng(seed)
    per = -(-NORM_SAMPLE // len(acts))
    return np.concatenate([a.ravel()[rng.integers(0, a.size, per)] for a in acts]).astype(
        np.float32)


def symmetric(norm: str, cmap: str) -> bool:
    return norm == "symmetric" or (norm == "auto" and cmap in DIVERGING)


def normalisation(values: np.ndarray, percentiles: tuple[float, float],
                  symmetric: bool = False) -> tuple[float, float]:
    """(low, high) from robust percentiles; never a zero-width range. Symmetric ranges are
    centred on zero so a diverging map's middle colour means zero."""
    lo, hi = np.percentile(values, percentiles)
    lo, hi = float(lo), float(hi)
    if symmetric:
        m = max(abs(lo), abs(hi))
        lo, hi = -m, m
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def stored_cells(act: np.ndarray, block: LayerBlock) -> np.ndarray:
    """One input's activation as (stored cells, h, w): maps, neurons, the vector image,
    tokens (a D x 1 column each, or their features row by row in a square tile) or a
    volume's (step, channel) maps, step-major."""
    if block.role == "maps":
        return np.moveaxis(act, -1, 0)
    if block.role == "tokens":
        rows, cols = block.tile_hw
        if cols == 1:
            return act[:, :, None]
        flat = np.full((act.shape[0], rows * cols), np.nan, dtype=np.float32)
        flat[:, : act.shape[1]] = act
        return flat.reshape(-1, rows, cols)
    if block.role == "attention":  # (heads, queries, keys): one map per head
        return act
    if block.role == "volume":
        steps, h, w, channels = act.shape
        return np.moveaxis(act, -1, 1).reshape(steps * channels, h, w)
    if block.role == "image":
        rows, cols = block.tile_hw
        flat = np.full(rows * cols, np.nan, dtype=np.float32)
        flat[: act.size] = act.ravel()
        return flat.reshape(1, rows, cols)
    if block.role == "vector":
        return act.reshape(-1, 1, 1)
    return np.full((1, 1, 1), float(np.mean(act)), dtype=np.float32)


def cell_values(stored: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """(n, h, w) values per cell; NaN where the cell has no value (specials, padding)."""
    h, w = stored.shape[1:]
    out = np.full((len(sources), h, w), np.nan, dtype=np.float32)
    direct = sources >= 0
    if direct.any():
        out[direct] = stored[sources[direct]]
    image = sources == network.IMAGE
    if image.any():
        out[image] = stored[0]
    return out


def summary(stored: np.ndarray, kind: int) -> np.ndarray:
    return stored.mean(axis=0) if kind == network.SUMMARY_MEAN else stored.max(axis=0)


def colours(values: np.ndarray, norm: tuple[float, float], cmap: str,
            fill: tuple[int, int, int]) -> np.ndarray:
    rgba = colormaps.apply_rgba(cmap, (values - np.float32(norm[0]))
                                / np.float32(norm[1] - norm[0]))
    empty = np.isnan(values)
    if empty.any():
        rgba[empty, :3] = fill
    return rgba


@dataclass
class Painted:
    """One block to paint: the layer whose choices it follows, and what it shows at an
    epoch (the layer's activations, or its attention scores for the attached maps)."""

    block: LayerBlock
    layer: int
    read: Callable[[int], np.ndarray]


def painted_blocks(ctx: PlanContext, blocks: list[LayerBlock]) -> list[Painted]:
    """The layers' blocks in order, then every attached block (attention maps)."""
    jobs = [Painted(b, i, lambda e, i=i: ctx.dump.activations(e, i))
            for i, b in enumerate(blocks)]
    for i, b in enumerate(blocks):
        jobs += [Painted(extra, i, lambda e, i=i: ctx.dump.attention(e, i))
                 for extra in b.attached]
    return jobs


def _norms(ctx: PlanContext, seed: int, block: LayerBlock, acts: list[np.ndarray], cmap: str
           ) -> tuple[tuple[float, float], tuple[float, float]]:
    """The layer's range, and the one of its folded mean (averaging narrows the range)."""
    if block.role == "other":
        return (0.0, 1.0), (0.0, 1.0)
    look = ctx.config.look
    sym = symmetric(look.norm, cmap)
    norm = normalisation(layer_values(acts, seed), look.percentiles, sym)
    if not np.any(block.sources == network.SUMMARY_MEAN):
        return norm, norm
    means = [a.astype(np.float32).mean(axis=-1) for a in acts]
    return norm, normalisation(layer_values(means, seed), look.percentiles, sym)


def paint(ctx: PlanContext, blocks: list[LayerBlock]) -> tuple[list[LayerPlan], AtlasPlan]:
    """Every block's cells as plan layers (the layers', then the attached ones), and their
    tiles for every shown epoch in the atlas; each layer's arrays are read once, for its
    range and its tiles."""
    jobs = painted_blocks(ctx, blocks)
    states = ctx.story.states  # one atlas block per (shown epoch slot, input) state
    try:
        layout = atlas_mod.plan_atlas([(j.block.count, *j.block.tile_hw) for j in jobs],
                                      len(states), ctx.config.look.max_tile)
    except ValueError as exc:
        raise DumpError(ctx.dump.path, str(exc)) from None
    atlas = AtlasPlan.empty(layout)
    dots = tuple(int(round(255 * (0.35 + 0.4 * c))) for c in ctx.label_color)
    layers: list[LayerPlan] = []
    for i, job in enumerate(jobs):
        block, choice = job.block, ctx.choices[job.layer]
        acts = [job.read(e) for e in ctx.epoch_ids]
        sources = block.sources
        norm, mean_norm = _norms(ctx, ctx.config.seed + i, block, acts, choice.colormap)
        factor = layout.factor[i]
        for slot, (epoch, sample) in enumerate(states):
            act = acts[epoch][sample].astype(np.float32)  # float16 dumps: sum safely
            stored = stored_cells(act, block)
            values = atlas_mod.downsample(cell_values(stored, sources), factor)
            rgba = colours(values, norm, choice.colormap, (PAD_GREY,) * 3)
            for kind, rng in ((network.SUMMARY_MEAN, mean_norm), (network.SUMMARY_MAX, norm)):
                pick = sources == kind
                if pick.any():
                    folded = atlas_mod.downsample(summary(stored, kind)[None], factor)
                    rgba[pick] = colours(folded, rng, choice.colormap, (PAD_GREY,) * 3)
            rgba[sources == network.ELLIPSIS, ..., :3] = dots
            rgba[sources == network.PLACEHOLDER, ..., :3] = PLACEHOLDER_GREY
            atlas.fill(slot, i, rgba)
        own = job.block is blocks[job.layer]
        animated = own and len(block.stage_centers) > 1 and bool(choice.stage_keys)
        layers.append(LayerPlan(
            block.name, block.type, block.role, block.shape,
            block.stage_centers[0], block.stage_sizes[0], layout.cell_rects(i, block.count),
            norm, placeholder=block.role == "other", page=layout.layer_page[i],
            sources=sources,
            stage_centers=block.stage_centers if animated else None,
            stage_sizes=block.stage_sizes if animated else None,
            stage_keys=choice.stage_keys if animated else [],
            stages=list(choice.style.arrange) if own else [],
            depth=float(blocks[job.layer].column),
            inbound=list(ctx.layers[job.layer].inbound) if own else [ctx.layers[job.layer].name],
            shown=block.shown, total=block.total))
    return layers, atlas
