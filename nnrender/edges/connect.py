"""Dump + laid-out blocks + the scene's ``edges`` section -> edge groups for the plan.

One group per weighted layer (its inbound layer to it): dense neurons to neurons, conv maps
to maps; one group for the skip/branch arcs; and the receptive field when one is asked for.
Geometry is decided here (bundled curves, radii), so the Blender side only translates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.config.load import per_layer
from nnrender.config.schema import EdgesConfig
from nnrender.edges import bundle as bundle_mod
from nnrender.edges import field as field_mod
from nnrender.edges import route, select
from nnrender.edges.attention import attention_groups
from nnrender.edges.endpoints import FADE, Endpoints, edge_radius, endpoints
from nnrender.edges.groups import EdgeGroup, FieldPlan
from nnrender.errors import ConfigError, did_you_mean
from nnrender.layout import graph as graph_mod
from nnrender.layout.network import LayerBlock, median_wall
from nnrender.model.ir import DumpLike, LayerInfo
from nnrender.timeline.epochs import EpochTimeline, change_keys

LINK_SHARE = 0.012  # skip arcs' radius as a share of the median wall
REFINE_MAX = 200_000  # the density refinement is for groups up to this many edges (memory)
WEIGHT_ROLES = ("maps", "vector")  # weights connect maps and neurons (not tokens' features)


def _source_means(dump: DumpLike, epochs: list[int], layer: int,
                  ends: Endpoints) -> list[np.ndarray]:
    """Mean |activation| per drawn source neuron/map, per epoch (over inputs and pixels)."""
    out = []
    for e in epochs:
        act = np.abs(dump.activations(e, layer).astype(np.float32))
        flat = act.reshape(-1, act.shape[-1]).mean(axis=0) if act.ndim > 2 else act.mean(0)
        out.append(flat[ends.stored])
    return out


def _overrides(config: EdgesConfig, layers: list[LayerInfo], source: str | Path
               ) -> list[dict[str, Any]]:
    return per_layer(config.layers, [layer.name for layer in layers], "edges.layers", source)


def _no_edges(layer: LayerInfo, over: dict[str, Any], config: EdgesConfig, weighted: bool,
              targets: int) -> str | None:
    """None when edges run into ``layer`` (``targets`` neurons or maps drawn) from its
    inbound layer, before looking at where the cells are; else why not (``""`` for a layer
    that takes no weighted edges at all: a pooling layer, a merge, a token layer)."""
    if not (len(layer.inbound) == 1 and layer.type in
            select.DENSE_TYPES | select.CONV_TYPES | select.DEPTHWISE_TYPES):
        return ""
    if layer.role not in WEIGHT_ROLES:
        return f"edges join maps and neurons, not {layer.role}"
    if not config.show:
        return "edges.show: false"
    if not over.get("show", True):
        return "edges.layers: show: false"
    if not weighted:
        return "the dump holds no weights"
    if layer.type not in select.DENSE_TYPES and not config.channels:
        return "edges.channels: false"
    limit = over.get("max_targets", config.max_targets)
    if targets > limit:
        return f"it draws {targets} maps or neurons, more than edges.max_targets ({limit})"
    return None


def _unconnected(parent: LayerInfo, src: Endpoints | None, dst: Endpoints | None) -> str:
    """Why a layer that takes edges has none from ``parent``."""
    if dst is None:
        return "it is drawn as one block (folded)"
    if parent.role not in WEIGHT_ROLES:
        return f"{parent.name} draws no maps or neurons"
    return f"{parent.name} is drawn as one block (folded)"


def _draws(layer: LayerInfo, over: dict[str, Any], config: EdgesConfig, weighted: bool,
           targets: int) -> bool:
    """Whether edges run into ``layer`` (see ``_no_edges``)."""
    return _no_edges(layer, over, config, weighted, targets) is None


def edge_targets(dump: DumpLike, config: EdgesConfig, drawn: list[int],
                 source: str | Path = "scene") -> set[str]:
    """Names of the layers edges run into (``drawn``: neurons or maps each layer draws;
    attention layers with recorded scores too): the layout leaves room in front of them."""
    layers = dump.manifest.layers
    weighted = any(ep.weights is not None for ep in dump.manifest.epochs)
    overrides = _overrides(config, layers, source)
    attending = config.show and config.attention.show
    return {layer.name for layer, over, n in zip(layers, overrides, drawn, strict=True)
            if _draws(layer, over, config, weighted, n)
            or (attending and layer.attention is not None and over.get("show", True))}


def bundle_keys(config: EdgesConfig, timeline: EpochTimeline, source: str | Path
                ) -> list[tuple[float, float]]:
    """(frame, strength) keys of the animated bundling strength; empty when it is fixed."""
    if not config.changes:
        return []
    changes = sorted(enumerate(config.changes), key=lambda ic: ic[1].at)
    return change_keys(timeline, config.bundle, [(f"edges.changes[{i}]", c.at, c.over, c.to)
                                                  for i, c in changes], source)


class _Weights:
    """The dump's connection matrices for the shown epochs: an epoch recorded without
    weights shows the nearest epoch's (the earlier on a tie). One matrix in memory at a
    time."""

    def __init__(self, dump: DumpLike, epochs: list[int]) -> None:
        self.dump = dump
        self.layers = dump.manifest.layers
        self.index = {layer.name: k for k, layer in enumerate(self.layers)}
        self.epochs = epochs
        recorded = dump.manifest.epochs
        self.with_weights = [e for e in epochs if recorded[e].weights is not None]
        self.nearest = {e: min(self.with_weights, key=lambda w, e=e: (abs(w - e), w))
                        for e in epochs} if self.with_weights else {}
        self.lacking = [recorded[e].epoch for e in epochs if e not in self.with_weights]

    @property
    def any(self) -> bool:
        return bool(self.with_weights)

    def matrix(self, i: int, e: int) -> np.ndarray | None:
        """Layer ``i``'s connection matrix at epoch ``e`` (None: not element by element)."""
        layer = self.layers[i]
        parent = self.layers[self.index[layer.inbound[0]]] if layer.inbound else None
        inputs = int(parent.output_shape[-1]) if parent is not None and parent.output_shape \
            else None
        return select.connection_matrix(layer.type, self.dump.weights(self.nearest[e], i),
                                        inputs)

    def notes(self, config: EdgesConfig) -> list[str]:
        out = []
        if config.show and not self.any and any(
                layer.type in select.DENSE_TYPES | select.CONV_TYPES for layer in self.layers):
            out.append("edges: the dump holds no weights for these epochs, so only skip "
                       "connections are drawn (dump without --no-weights to see the "
                       "connections)")
        if self.any and self.lacking:
            out.append(f"edges: epochs {self.lacking} have no weights; they show the nearest "
                       "epoch's connections")
        return out


@dataclass
class _Look:
    """What every group shares: the scene's edge settings and the framing's pixel size."""

    config: EdgesConfig
    pixel: float
    seed: int
    omitted: dict[str, str]  # target layer -> why it gets no edges


def _layer_group(i: int, p: int, kind: str, over: dict[str, Any], src: Endpoints,
                 dst: Endpoints, weights: _Weights, look: _Look, notes: list[str]
                 ) -> EdgeGroup | None:
    """The edges from layer ``p`` into layer ``i``, or None (with a note when the user
    would wonder why)."""
    config, epochs, dump = look.config, weights.epochs, weights.dump
    layers = weights.layers
    label = f"{layers[p].name}->{layers[i].name}"
    first = weights.matrix(i, epochs[0])
    if first is None:
        look.omitted[layers[i].name] = "its weights are not a connection matrix"
        return None
    n_in, n_out = first.shape
    if src.index.max() >= n_in or dst.index.max() >= n_out:
        notes.append(f"edges: {label} not drawn: weights {n_in}x{n_out} do not match "
                     "the layers' sizes")
        look.omitted[layers[i].name] = f"weights {n_in}x{n_out} do not match the layers' sizes"
        return None

    def drawn_part() -> Iterator[np.ndarray]:
        rows, cols = np.ix_(src.index, dst.index)
        for e in epochs:
            m = first if e == epochs[0] else weights.matrix(i, e)
            yield (m if m is not None and m.shape == first.shape
                   else np.zeros_like(first))[rows, cols]

    scale = (_source_means(dump, epochs, p, src) if config.select == "weight_activation"
             else None)
    a, b, values = select.select_edges(
        drawn_part(), over.get("top_k", config.top_k), over.get("threshold", config.threshold),
        scale, config.max_per_group)
    if not len(a):
        look.omitted[layers[i].name] = "no edge passes edges.top_k and edges.threshold"
        return None
    start = src.center[a] + np.stack([src.half[a], 0 * a, 0 * a], axis=1)
    end = dst.center[b] - np.stack([dst.half[b], 0 * b, 0 * b], axis=1)
    radius = edge_radius(config.width, src, dst, look.pixel)
    refine = config.refine and len(a) <= REFINE_MAX
    if config.refine and not refine:
        notes.append(f"edges: {label}: {len(a):,} edges, refined only up to "
                     f"{REFINE_MAX:,}: bundled without the density pass")
    return EdgeGroup(
        label, kind, layers[p].name, layers[i].name,
        straight=bundle_mod.straight(start, end, config.samples),
        bundled=bundle_mod.bundle(start, end, samples=config.samples, refine=refine,
                                  seed=look.seed),
        weights=values, radius=radius, min_radius=FADE * radius, opacity=config.opacity,
        positive=tuple(config.positive), negative=tuple(config.negative),
        src_index=src.index[a], dst_index=dst.index[b])


def _links(blocks: list[LayerBlock], layers: list[LayerInfo], drawn: set[tuple[int, int]],
           look: _Look, epochs: int, link_color: tuple[float, float, float]
           ) -> EdgeGroup | None:
    """Skip connections and branches as arcs routed around the blocks (one group)."""
    config = look.config
    pairs = route.link_pairs(blocks, graph_mod.graph_edges(layers), drawn)
    if not pairs:
        return None
    wall = median_wall(blocks)
    bounds = [blk.bounds() for blk in blocks]
    curves = np.stack([route.link_curve(blocks, p, c, 0.25 * wall, config.samples, bounds)
                       for p, c in pairs]).astype(np.float32)
    radius = config.width * max(LINK_SHARE * wall, 1.2 * look.pixel)
    color = tuple(config.link_color) if config.link_color else link_color
    return EdgeGroup(
        "links", "link", "", "", straight=curves, bundled=curves.copy(),
        weights=np.ones((len(pairs), epochs), np.float32), radius=radius,
        min_radius=radius, opacity=config.opacity, positive=color, negative=color,
        src_index=np.array([p for p, _ in pairs]), dst_index=np.array([c for _, c in pairs]))


def plan_edges(dump: DumpLike, blocks: list[LayerBlock], epochs: list[int], config: EdgesConfig,
               *, pixel: float, seed: int, sample: int, link_color: tuple[float, float, float],
               animated: set[int], source: str | Path = "scene",
               states: list[tuple[int, int]] | None = None,
               omitted: dict[str, str] | None = None
               ) -> tuple[list[EdgeGroup], FieldPlan | None, list[str]]:
    """Edge groups, the receptive field (or None), and notes on what was left out and why;
    ``omitted`` (when given) is filled with each layer that gets no edges and why.

    ``pixel``: world size of one pixel at the network (radii never fall below a visible
    width); ``animated``: layers whose arrangement moves (edges would not follow them).
    ``states``: the (epoch slot, input) states the video shows; every group's ``weights``
    then has one column per state (by default one per epoch of ``sample``).
    """
    states = states if states is not None else [(k, sample) for k in range(len(epochs))]
    layers = dump.manifest.layers
    names = {layer.name: i for i, layer in enumerate(layers)}
    overrides = _overrides(config, layers, source)
    weights = _Weights(dump, epochs)
    look = _Look(config, pixel, seed, omitted if omitted is not None else {})
    notes = weights.notes(config)
    groups: list[EdgeGroup] = []
    drawn: set[tuple[int, int]] = set()
    ends = [endpoints(b, layer) for b, layer in zip(blocks, layers, strict=True)]
    crowded = []
    for i, layer in enumerate(layers):
        targets = len(ends[i].index) if ends[i] is not None else 0
        why = _no_edges(layer, overrides[i], config, weights.any, targets)
        if why is not None:
            if why:
                look.omitted[layer.name] = why
            if _draws(layer, overrides[i], config, weights.any, 0):
                crowded.append(layer.name)
            continue
        p = names[layer.inbound[0]]
        if ends[p] is None or ends[i] is None or layers[p].role not in WEIGHT_ROLES:
            look.omitted[layer.name] = _unconnected(layers[p], ends[p], ends[i])
            continue
        label = f"{layers[p].name}->{layer.name}"
        if blocks[p].row != blocks[i].row:
            notes.append(f"edges: {label} not drawn: the layers sit on different rows")
            look.omitted[layer.name] = f"it and {layers[p].name} sit on different rows"
            continue
        if p in animated or i in animated:
            notes.append(f"edges: {label} not drawn: a layer's arrangement is animated")
            look.omitted[layer.name] = "a layer's arrangement is animated"
            continue
        kind = "dense" if layer.type in select.DENSE_TYPES else "channel"
        group = _layer_group(i, p, kind, overrides[i], ends[p], ends[i], weights, look, notes)
        if group is not None:
            groups.append(group)
            drawn.add((p, i))
    if crowded:
        notes.append(f"edges: {len(crowded)} layers draw more than {config.max_targets} "
                     f"maps or neurons and get no edges ({', '.join(crowded[:3])}"
                     f"{', ...' if len(crowded) > 3 else ''}): thousands of curves would "
                     "hide the maps; raise edges.max_targets or draw fewer maps (layout.show)")
    columns = [slot for slot, _ in states]  # weights depend on the epoch, not the input
    for group in groups:
        group.weights = np.ascontiguousarray(group.weights[:, columns])
    attention, more = attention_groups(dump, blocks, epochs, config, ends, pixel=pixel,
                                       seed=seed, states=states, animated=animated,
                                       omitted=look.omitted)
    groups += attention
    notes += more
    drawn.update((names[g.source], names[g.target]) for g in attention)
    if config.show and config.links:
        links = _links(blocks, layers, drawn, look, len(states), link_color)
        if links is not None:
            groups.append(links)
    frustum = None
    if config.field is not None:
        last = (lambda i: weights.matrix(i, epochs[-1])) if weights.any else None
        frustum, more = _field(dump, blocks, epochs, config, ends, last, sample, animated,
                               source)
        notes += more
    return groups, frustum, notes


def _field(dump: DumpLike, blocks: list[LayerBlock], epochs: list[int], config: EdgesConfig,
           ends: list[Endpoints | None], last_matrix: Callable[[int], np.ndarray | None] | None,
           sample: int, animated: set[int], source: str | Path
           ) -> tuple[FieldPlan | None, list[str]]:
    fc = config.field
    assert fc is not None
    layers = dump.manifest.layers
    names = {layer.name: i for i, layer in enumerate(layers)}
    for key in ("layer", "to"):
        name = getattr(fc, key)
        if name is not None and name not in names:
            raise ConfigError(source, f"edges.field.{key}: no layer {name!r}"
                                      + did_you_mean(name, list(names)))
    start = names[fc.layer]
    layer = layers[start]
    if layer.role != "maps" or ends[start] is None or blocks[start].role != "maps":
        raise ConfigError(source, f"edges.field.layer: {fc.layer} does not draw feature maps")
    h, w = layer.output_shape[:2]
    pixel = fc.pixel if fc.pixel is not None else (h // 2, w // 2)
    if not (0 <= pixel[0] < h and 0 <= pixel[1] < w):
        raise ConfigError(source, f"edges.field.pixel: {list(pixel)} outside {fc.layer}'s "
                                  f"{h}x{w} maps")

    def most_active(i: int, candidates: np.ndarray) -> int:
        """The drawn map of layer ``i`` that lights up most for the input, at the last
        epoch."""
        shown = ends[i]
        assert shown is not None
        act = dump.activations(epochs[-1], i)[sample].astype(np.float32)
        means = act.reshape(-1, act.shape[-1]).mean(axis=0)[shown.stored]
        means = np.where(np.isin(shown.index, candidates), means, -np.inf)
        return int(shown.index[int(np.argmax(means))])

    if fc.channel is not None:
        if fc.channel not in set(ends[start].index.tolist()):
            raise ConfigError(source, f"edges.field.channel: map {fc.channel} of {fc.layer} "
                                      "is not drawn")
        channel = fc.channel
    else:
        channel = most_active(start, ends[start].index)

    def pick(i: int, parent: int, out_ch: int, candidates: np.ndarray) -> int | None:
        """The input map a conv's map ``out_ch`` follows: the most strongly connected drawn
        one (None: no drawn map feeds it); without weights, the most active one."""
        m = last_matrix(i) if last_matrix is not None else None
        if m is None or out_ch >= m.shape[1] or m.shape[0] <= candidates.max():
            return most_active(parent, candidates)
        col = np.abs(m[candidates, out_ch])
        return int(candidates[int(np.argmax(col))]) if col.max() > 0 else None

    stop = names[fc.to] if fc.to is not None else None
    quads, pairs, rects, notes = field_mod.trace(layers, blocks, start, pixel, channel, stop,
                                                 pick, animated)
    if last_matrix is None:
        notes.append("edges.field: no weights: the field follows the most active maps")
    if stop is not None and pairs and pairs[-1][1] != fc.to:
        notes.append(f"edges.field: did not reach {fc.to}")
    if not len(quads):
        notes.append(f"edges.field: nothing to draw before {fc.layer}")
        return None, notes
    return FieldPlan(fc.layer, channel, (int(pixel[0]), int(pixel[1])), quads, pairs, rects,
                     tuple(fc.color), fc.opacity), notes
