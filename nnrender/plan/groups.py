"""Group labels: when most layer labels would be hidden (ResNet-50: 150 of 177), one label
per group of consecutive layers instead: their nested-model path (``block/...``) or the name
prefix they share (``conv3_block2``), at the deepest level whose groups still fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from nnrender.layout.network import LayerBlock
from nnrender.model.ir import LayerInfo

SEPARATORS = re.compile(r"[_.\-]")


@dataclass
class Group:
    """Consecutive layers ``members`` (indices) sharing the name prefix ``key``."""

    key: str
    members: list[int]


def _segments(name: str, nested: bool) -> list[str]:
    if nested:
        return name.split("/")
    return [s for s in SEPARATORS.split(name) if s]


def _key(name: str, depth: int, nested: bool) -> str | None:
    """The first ``depth`` segments of a name (fewer for a shorter name: ``conv1_bn`` is
    in ``conv1`` at any depth), or None for a name of one segment (its own label)."""
    parts = _segments(name, nested)
    if len(parts) < 2:
        return None
    depth = min(depth, len(parts) - 1)
    if nested:
        return "/".join(parts[:depth])
    # the prefix as written, separators included: the name up to the depth-th separator
    found = [m.start() for m in SEPARATORS.finditer(name)]
    seps = [i for i in found if i > 0 and name[i - 1] not in "_.-"]
    return name[:seps[depth - 1]] if len(seps) >= depth else None


def groups_at(layers: list[LayerInfo], depth: int) -> list[Group]:
    """Runs of consecutive layers with the same prefix of ``depth`` segments; a layer with
    no such prefix is a group of one, keyed by its own name."""
    nested = any("/" in layer.name for layer in layers)
    out: list[Group] = []
    for i, layer in enumerate(layers):
        key = _key(layer.name, depth, nested)
        if key is not None and out and out[-1].key == key and out[-1].members[-1] == i - 1:
            out[-1].members.append(i)
        else:
            out.append(Group(key if key is not None else layer.name, [i]))
    return out


def choose_groups(layers: list[LayerInfo], budget: int) -> list[Group] | None:
    """The deepest grouping with at most ``budget`` groups that groups something, or None
    when no name prefix groups the layers."""
    best = None
    for depth in range(1, 8):
        found = groups_at(layers, depth)
        if not any(len(g.members) > 1 for g in found):
            break
        if len(found) <= max(budget, 3):
            best = found
        if best is not None and len(found) == len(best) and found is not best:
            break  # deeper prefixes group nothing more
    return best


def group_block(blocks: list[LayerBlock], members: list[int], name: str) -> LayerBlock:
    """A stand-in block whose one cell is the box around the members' blocks (what a group
    label sits on and must not hide behind)."""
    bounds = [blocks[i].bounds() for i in members]
    lo = np.min([a for a, _ in bounds], axis=0)
    hi = np.max([b for _, b in bounds], axis=0)
    first = blocks[members[0]]
    return LayerBlock(name, "group", "group", [], np.zeros(1, dtype=int),
                      ((lo + hi) / 2)[None, None], (hi - lo)[None, None], (1, 1), 1, 1,
                      column=first.column, row=first.row, lane=first.lane)
