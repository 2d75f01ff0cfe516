"""Repeated blocks folded into one: N identical consecutive blocks (transformer blocks, the
identity blocks of a ResNet stage) drawn once, with a "×N" badge.

Blocks are found from the graph alone, never from names: a layer's signature is its type,
its output shape and where its inputs come from relative to it (``i - j`` for an input
``j``), so consecutive runs of the same signatures, wired the same way, repeat. The longest
runs covering the most layers win. The first block of a run is drawn; the later ones are
left out and whatever read the last block reads the first one's matching layer instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnrender.model.ir import DumpLike, LayerInfo, Manifest

MAX_PERIOD = 64  # layers in one block at most


@dataclass(frozen=True)
class Run:
    """``count`` consecutive blocks of ``period`` layers from layer ``start``."""

    start: int
    period: int
    count: int

    @property
    def stop(self) -> int:
        return self.start + self.period * self.count

    def first(self) -> range:
        return range(self.start, self.start + self.period)


def signatures(layers: list[LayerInfo]) -> list[tuple]:
    index = {layer.name: i for i, layer in enumerate(layers)}
    return [(layer.type, tuple(layer.output_shape),
             tuple(sorted(i - index[p] for p in layer.inbound if p in index)))
            for i, layer in enumerate(layers)]


def _count(sig: list[tuple], i: int, period: int) -> int:
    """How many blocks of ``period`` layers repeat from layer ``i``."""
    count = 1
    while (i + (count + 1) * period <= len(sig)
           and sig[i + count * period:i + (count + 1) * period] == sig[i:i + period]):
        count += 1
    return count


def _is_block(layers: list[LayerInfo], sig: list[tuple], run: Run) -> bool:
    """A block of several layers must hold a merge (a residual add, a concatenation): a
    chain like conv-bn-relu twice inside a bottleneck is not a block anyone folds. Single
    layers fold when each feeds the next (three equal convs, twelve custom transformer
    blocks), not when two equal layers merely sit side by side."""
    if run.period == 1:
        return sig[run.start][2] == (1,)
    return any(len(layers[i].inbound) > 1 for i in run.first())


def _entry(layers: list[LayerInfo], run: Run) -> tuple[int, int]:
    """How the first block is entered: (distinct layers before it that it reads, edges in
    from them). Where a periodic sequence could be cut in several places, the natural cut
    enters through one tensor, read in several places (a residual block's input)."""
    index = {layer.name: i for i, layer in enumerate(layers)}
    sources, edges = set(), 0
    for i in run.first():
        for p in layers[i].inbound:
            j = index.get(p)
            if j is not None and j < run.start:
                sources.add(j)
                edges += 1
    return len(sources), edges


def find_repeats(layers: list[LayerInfo], allowed: list[bool] | None = None) -> list[Run]:
    """Non-overlapping runs of at least two identical consecutive blocks, in layer order,
    chosen to fold as many layers as possible. ``allowed[i]``: layer i may be folded
    (every layer of a run must be)."""
    sig = signatures(layers)
    n = len(sig)
    ok = allowed or [True] * n
    by_stop: dict[int, list[tuple[Run, tuple[int, int, int]]]] = {}
    for i in range(n):
        for period in range(1, min(MAX_PERIOD, (n - i) // 2) + 1):
            count = _count(sig, i, period)
            run = Run(i, period, count)
            if (count >= 2 and all(ok[i:run.stop]) and _is_block(layers, sig, run)
                    and _closed(layers, run)):
                sources, edges = _entry(layers, run)
                by_stop.setdefault(run.stop, []).append((run, (-sources, edges, run.start)))
    # weighted interval scheduling: the most layers hidden, then the most natural cuts
    best: list[tuple[tuple, list[Run]]] = [((0, 0, 0, 0), [])] * (n + 1)
    for stop in range(1, n + 1):
        best[stop] = best[stop - 1]
        for run, quality in by_stop.get(stop, []):
            (hidden, a, b, c), chosen = best[run.start]
            score = (hidden + run.period * (run.count - 1), a + quality[0], b + quality[1],
                     c + quality[2])
            if score > best[stop][0]:
                best[stop] = (score, [*chosen, run])
    return best[n][1]


def _closed(layers: list[LayerInfo], run: Run) -> bool:
    """Every layer after the run reads at most the last block's output (else folding would
    cut a wire into the middle of a hidden block)."""
    index = {layer.name: i for i, layer in enumerate(layers)}
    hidden = set(range(run.start + run.period, run.stop))
    last = run.stop - 1
    for layer in layers[run.stop:]:
        for p in layer.inbound:
            j = index.get(p)
            if j in hidden and j != last:
                return False
    return True


class DumpView:
    """A dump seen with some entries left out, with the same reading methods as ``Dump``
    (indices into the entries left). Whatever read a left-out entry reads its stand-in
    (``rename``: left-out name -> drawn name) instead."""

    def __init__(self, dump: DumpLike, hidden: set[int], rename: dict[str, str]) -> None:
        self.dump = dump
        self.path: Path = dump.path
        layers = dump.manifest.layers
        self.keep = [i for i in range(len(layers)) if i not in hidden]
        kept = []
        for i in self.keep:
            layer = layers[i]
            inbound = list(dict.fromkeys(rename.get(p, p) for p in layer.inbound))
            kept.append(dataclasses.replace(layer, inbound=inbound))
        self.manifest: Manifest = dataclasses.replace(dump.manifest, layers=kept)
        self.badges: list[tuple[list[str], int]] = []

    @property
    def layers(self) -> list[LayerInfo]:
        return self.manifest.layers

    def activations(self, epoch_index: int, layer: int) -> np.ndarray:
        return self.dump.activations(epoch_index, self.keep[layer])

    def weights(self, epoch_index: int, layer: int) -> list[np.ndarray]:
        return self.dump.weights(epoch_index, self.keep[layer])

    def attention(self, epoch_index: int, layer: int) -> np.ndarray | None:
        return self.dump.attention(epoch_index, self.keep[layer])

    def input_array(self, index: int = 0) -> np.ndarray | None:
        return self.dump.input_array(index)


class CollapsedDump(DumpView):
    """The dump with its repeated blocks folded: each run's first block is drawn, and
    ``badges`` lists, per run, the names of that block's layers and its count."""

    def __init__(self, dump: DumpLike, runs: list[Run]) -> None:
        layers = dump.manifest.layers
        hidden: set[int] = set()
        rename: dict[str, str] = {}
        for run in runs:
            for k in range(1, run.count):
                for j in range(run.period):
                    src = run.start + k * run.period + j
                    hidden.add(src)
                    rename[layers[src].name] = layers[run.start + j].name
        super().__init__(dump, hidden, rename)
        self.runs = runs
        self.badges = [([layers[i].name for i in run.first()], run.count) for run in runs]


def without_duplicates(dump: DumpLike) -> DumpLike:
    """The dump without the entries that repeat another one's output (a custom block whose
    output is its last nested layer's: the reader marks it ``same_as``); their readers read
    the nested layer. The dump itself when there are none."""
    layers = dump.manifest.layers
    names = {layer.name: i for i, layer in enumerate(layers)}
    hidden, rename = set(), {}
    for i, layer in enumerate(layers):
        twin = layer.config.get("same_as")
        if isinstance(twin, str) and names.get(twin, i) < i:
            hidden.add(i)
            rename[layer.name] = rename.get(twin, twin)
    return DumpView(dump, hidden, rename) if hidden else dump
