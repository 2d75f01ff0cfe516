"""Stage 6: layer labels, sized to the framing and placed so that none overlaps another
from any point of the orbit; then the camera is framed again with them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnrender.layout.labels import label_priority, place_labels, text_extent
from nnrender.layout.network import LayerBlock, median_wall
from nnrender.model.ir import LayerInfo
from nnrender.plan.context import PlanContext
from nnrender.plan.framing import Framing, frame, orbit
from nnrender.plan.groups import choose_groups, group_block
from nnrender.plan.tokens import token_box, token_labels
from nnrender.plan.types import Label

LABEL_HEIGHT = 0.021  # label text size, at least this share of the frame height...
LABEL_MAX = 0.04  # ...and at most this


def label_text(block: LayerBlock, layer: LayerInfo, fields: list[str]) -> str:
    lines = []
    for f in fields:
        if f == "name":
            lines.append(block.name)
        elif f == "type":
            lines.append(block.type)
        elif f == "shape":
            shape = "×".join(str(d) for d in block.shape)
            if (block.role in ("maps", "vector", "tokens", "volume")
                    and 0 < block.shown < block.total):  # a folded layer shows no "0 of N"
                shape += f" ({block.shown} of {block.total})"
            lines.append(shape)
        elif f == "params" and layer.params:
            lines.append(count_text(layer.params) + " params")
    return "\n".join(lines) or block.name


def count_text(n: int) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def label_size(ctx: PlanContext, blocks: list[LayerBlock], framing: Framing) -> float:
    """A small network gets labels in proportion to its walls; a big one as big as fits."""
    view_h = framing.view_height
    return ctx.config.labels.scale * float(np.clip(0.1 * median_wall(blocks),
                                                   LABEL_HEIGHT * view_h, LABEL_MAX * view_h))


BADGE_SIZE = 1.6  # a ×N badge's text, of a layer label's size


def badge_labels(ctx: PlanContext, blocks: list[LayerBlock], size: float) -> list[Label]:
    """"×N" under each drawn block of a folded run of N identical blocks, at its near edge
    (the input side, where the camera is) so the walls do not hide it."""
    index = {b.name: b for b in blocks}
    out = []
    for names, count in ctx.badges:
        group = [index[n] for n in names if n in index]
        if not group:
            continue
        bounds = [b.bounds() for b in group]
        lo = np.min([a for a, _ in bounds], axis=0)
        hi = np.max([b for _, b in bounds], axis=0)
        own = BADGE_SIZE * size
        spot = (lo[0], (lo[1] + hi[1]) / 2, lo[2] - 0.4 * own - own)
        out.append(Label(f"×{count}", tuple(float(v) for v in spot), own, names[0],
                         kind="badge"))
    return out


def _box(lab: Label) -> np.ndarray:
    """Two corners of the space an upright label takes (for framing)."""
    w, h = text_extent(lab.text, lab.size)
    p = np.array(lab.position)
    return np.array([p + [w / 2, w / 2, h], p - [w / 2, w / 2, 0]])


@dataclass
class _Targets:
    """What gets a label: a layer's block, or a group's stand-in block, with its text."""

    blocks: list[LayerBlock]
    texts: list[str | None]
    forced: list[bool]
    priority: list[float]
    names: list[str]
    kinds: list[str]
    members: list[list[str]]


def _layer_targets(ctx: PlanContext, blocks: list[LayerBlock]) -> _Targets:
    config = ctx.config
    texts: list[str | None] = []
    forced: list[bool] = []
    for layer, block, choice in zip(ctx.layers, blocks, ctx.choices, strict=True):
        on = choice.label if choice.label is not None else config.labels.show
        texts.append(label_text(block, layer, config.labels.fields) if on else None)
        # a placeholder's label says what the grey block is: never the one hidden
        forced.append(on and (choice.label is True or not config.labels.auto_hide
                              or block.role == "other"))
    return _Targets(list(blocks), texts, forced, label_priority(ctx.layers, blocks),
                    [b.name for b in blocks], ["layer"] * len(blocks),
                    [[b.name] for b in blocks])


def _group_targets(ctx: PlanContext, blocks: list[LayerBlock], layer_level: _Targets,
                   budget: int) -> _Targets | None:
    """One label per group of layers (placeholders keep their own), or None when the
    names do not group."""
    found = choose_groups(ctx.layers, budget)
    if found is None:
        return None
    out = _Targets([], [], [], [], [], [], [])
    shape = "shape" in ctx.config.labels.fields
    for g in found:
        own = [i for i in g.members if blocks[i].role == "other"]
        rest = [i for i in g.members if i not in own and layer_level.texts[i] is not None]
        for i in own:
            out.blocks.append(blocks[i])
            out.texts.append(layer_level.texts[i])
            out.forced.append(layer_level.forced[i])
            out.priority.append(layer_level.priority[i] + 1.0)
            out.names.append(blocks[i].name)
            out.kinds.append("layer")
            out.members.append([blocks[i].name])
        if not rest:
            continue
        if len(rest) == 1 and len(g.members) == 1:
            text = layer_level.texts[rest[0]]
        else:
            last = blocks[rest[-1]]
            text = g.key + ("\n" + "×".join(str(d) for d in last.shape) if shape else "")
        out.blocks.append(group_block(blocks, rest, g.key))
        out.texts.append(text)
        out.forced.append(any(layer_level.forced[i] for i in rest))
        out.priority.append(max(layer_level.priority[i] for i in rest) + 0.1 * len(rest))
        out.names.append(blocks[rest[0]].name)
        out.kinds.append("group" if len(g.members) > 1 else "layer")
        out.members.append([blocks[i].name for i in rest])
    return out


def _place(ctx: PlanContext, targets: _Targets, size: float, framing: Framing
           ) -> list[tuple[float, float, float] | None]:
    az0, az1, _ = orbit(ctx.config)
    views = [framing.view(az, ctx.config.camera.elevation) for az in (az0, (az0 + az1) / 2,
                                                                     az1)]
    return place_labels(targets.blocks, targets.texts, size, targets.priority, targets.forced,
                        views)


def label(ctx: PlanContext, blocks: list[LayerBlock], framing: Framing,
          keep_in_view: list[np.ndarray], hidden: list[str] | None = None
          ) -> tuple[list[Label], Framing, list[str]]:
    """Labels placed for the camera that frames them, that camera (framing ``keep_in_view``
    and the labels), and a note when some are hidden; ``hidden`` (when given) gets the
    layers whose labels were hidden for room."""
    config = ctx.config
    size = label_size(ctx, blocks, framing)
    targets = _layer_targets(ctx, blocks)
    wanted = sum(t is not None for t in targets.texts)
    level = config.labels.level
    if level != "layer" and wanted:
        spots = _place(ctx, targets, size, framing)
        shown = sum(p is not None for p in spots)
        if level == "group" or shown < 0.5 * wanted:
            # group labels sit over wider spans than layer labels: half as many again fit
            grouped = _group_targets(ctx, blocks, targets, int(1.5 * shown))
            if grouped is not None:
                targets = grouped
    extra = token_labels(ctx, blocks, size) + badge_labels(ctx, blocks, size)
    extra_boxes = [token_box(t) if t.vertical else _box(t) for t in extra]
    # twice: the second pass places the labels for the camera that frames them (framing
    # with the labels moves it, and with it which labels overlap or hide behind a layer)
    for _ in range(2):
        spots = _place(ctx, targets, size, framing)
        labels = [Label(text, tuple(float(v) for v in pos), size, name, kind=kind,
                        priority=float(rank), forced=bool(force), members=list(members))
                  for text, pos, name, kind, rank, force, members in zip(
                      targets.texts, spots, targets.names, targets.kinds, targets.priority,
                      targets.forced, targets.members, strict=True)
                  if text is not None and pos is not None]
        boxes = [*keep_in_view, *extra_boxes, *(_box(lab) for lab in labels)]
        framing = frame(np.concatenate(boxes), config)
    notes = []
    lost = [members for t, p, members in zip(targets.texts, spots, targets.members,
                                              strict=True) if t is not None and p is None]
    if hidden is not None:
        hidden.extend(name for members in lost for name in members)
    if lost:
        notes.append(f"{len(lost)} of {sum(t is not None for t in targets.texts)} "
                     f"{'group' if targets.kinds.count('group') else 'layer'} labels hidden "
                     "where they would overlap (labels.auto_hide: false shows them all)")
    return labels + extra, framing, notes
