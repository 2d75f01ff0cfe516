"""Attention as edges: from the key tokens to the query tokens, weighted by the recorded
score, the strongest ``top_k`` keys per query at every epoch (as weights are selected), and
bundled like dense edges. Pure numpy.

The heads are one group of their mean (or max) score, or one group per head in its own
hue (``edges.attention.heads: each``).
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterator

import numpy as np

from nnrender.config.schema import EdgesConfig
from nnrender.edges import bundle as bundle_mod
from nnrender.edges import select
from nnrender.edges.endpoints import FADE, Endpoints, edge_radius
from nnrender.edges.groups import EdgeGroup
from nnrender.layout.network import LayerBlock
from nnrender.model.ir import DumpLike


def head_colour(base: tuple[float, float, float], head: int, heads: int
                ) -> tuple[float, float, float]:
    """Head ``head`` of ``heads``: the base colour's hue turned evenly round the wheel."""
    h, lum, sat = colorsys.rgb_to_hls(*base)
    r, g, b = colorsys.hls_to_rgb((h + head / max(heads, 1)) % 1.0, lum, max(sat, 0.6))
    return float(r), float(g), float(b)


def _scores(dump: DumpLike, epochs: list[int], layer: int, states: list[tuple[int, int]],
            heads: str, head: int | None) -> Iterator[np.ndarray]:
    """Per (epoch slot, input) state, the (keys, queries) score matrix: one head, or the
    heads' mean or max (one state in memory at a time)."""
    for slot, sample in states:
        att = dump.attention(epochs[slot], layer)[sample].astype(np.float32)  # (H, T, S)
        if head is not None:
            m = att[head]
        else:
            m = att.max(axis=0) if heads == "max" else att.mean(axis=0)
        yield m.T


def attention_groups(dump: DumpLike, blocks: list[LayerBlock], epochs: list[int],
                     config: EdgesConfig, ends: list[Endpoints | None], *, pixel: float,
                     seed: int, states: list[tuple[int, int]], animated: set[int],
                     omitted: dict[str, str] | None = None
                     ) -> tuple[list[EdgeGroup], list[str]]:
    """Edge groups of every attention layer with recorded scores whose key and query
    tokens are both drawn, and notes on those left out (``omitted``, when given: each
    such layer and why)."""
    omitted = omitted if omitted is not None else {}
    ac = config.attention
    layers = dump.manifest.layers
    names = {layer.name: i for i, layer in enumerate(layers)}
    groups: list[EdgeGroup] = []
    notes: list[str] = []
    if not (config.show and ac.show):
        return groups, notes
    for i, layer in enumerate(layers):
        att = layer.attention
        if att is None:
            continue
        key = names.get(att.get("key") or (layer.inbound[0] if layer.inbound else ""))
        if key is None:
            continue
        src, dst = ends[key], ends[i]
        label = f"{layers[key].name}->{layer.name}"
        if src is None or dst is None:
            continue
        why = None
        if blocks[key].row != blocks[i].row:
            why = "the layers sit on different rows"
        elif key in animated or i in animated:
            why = "a layer's arrangement is animated"
        elif src.index.max() >= att["keys"] or dst.index.max() >= att["queries"]:
            why = f"scores {att['queries']}x{att['keys']} do not match the drawn tokens"
        if why is not None:
            notes.append(f"edges: attention {label} not drawn: {why}")
            omitted[layer.name] = f"attention: {why}"
            continue
        per_head = range(int(att["heads"])) if ac.heads == "each" else [None]
        for head in per_head:
            group = _group(dump, epochs, key, i, head, src, dst, config, pixel, seed, states)
            if group is not None:
                groups.append(group)
    return groups, notes


def _group(dump: DumpLike, epochs: list[int], key: int, layer: int, head: int | None,
           src: Endpoints, dst: Endpoints, config: EdgesConfig, pixel: float, seed: int,
           states: list[tuple[int, int]]) -> EdgeGroup | None:
    ac = config.attention
    layers = dump.manifest.layers
    rows, cols = np.ix_(src.stored, dst.stored)
    part = (m[rows, cols] for m in _scores(dump, epochs, layer, states, ac.heads, head))
    a, b, values = select.select_edges(part, ac.top_k, config.threshold, None,
                                       config.max_per_group)
    if not len(a):
        return None
    start = src.center[a] + np.stack([src.half[a], 0 * a, 0 * a], axis=1)
    end = dst.center[b] - np.stack([dst.half[b], 0 * b, 0 * b], axis=1)
    radius = edge_radius(config.width, src, dst, pixel)
    heads = int(layers[layer].attention["heads"])
    color = tuple(ac.color) if head is None else head_colour(tuple(ac.color), head, heads)
    suffix = "" if head is None else f"#h{head}"
    return EdgeGroup(
        f"{layers[key].name}->{layers[layer].name}{suffix}", "attention", layers[key].name,
        layers[layer].name, straight=bundle_mod.straight(start, end, config.samples),
        bundled=bundle_mod.bundle(start, end, samples=config.samples, seed=seed),
        weights=values, radius=radius, min_radius=FADE * radius, opacity=config.opacity,
        positive=color, negative=color, src_index=src.index[a], dst_index=dst.index[b])
