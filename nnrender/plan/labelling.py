"""Stage 6: layer labels, sized to the framing and placed so that none overlaps another
from any point of the orbit; then the camera is framed again with them."""

from __future__ import annotations

import numpy as np

from nnrender.layout.labels import label_priority, place_labels, text_extent
from nnrender.layout.network import LayerBlock, median_wall
from nnrender.model.ir import LayerInfo
from nnrender.plan.context import PlanContext
from nnrender.plan.framing import Framing, frame, orbit
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
            if block.role in ("maps", "vector") and block.shown < block.total:
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


def label(ctx: PlanContext, blocks: list[LayerBlock], framing: Framing,
          keep_in_view: list[np.ndarray]) -> tuple[list[Label], Framing, list[str]]:
    """Labels placed for the camera that frames them, that camera (framing ``keep_in_view``
    and the labels), and a note when some are hidden."""
    config = ctx.config
    size = label_size(ctx, blocks, framing)
    texts: list[str | None] = []
    forced: list[bool] = []
    for layer, block, choice in zip(ctx.layers, blocks, ctx.choices, strict=True):
        on = choice.label if choice.label is not None else config.labels.show
        texts.append(label_text(block, layer, config.labels.fields) if on else None)
        forced.append(on and (choice.label is True or not config.labels.auto_hide))
    priority = label_priority(ctx.layers, blocks)
    az0, az1, _ = orbit(config)
    elevation = config.camera.elevation
    # twice: the second pass places the labels for the camera that frames them (framing
    # with the labels moves it, and with it which labels overlap or hide behind a layer)
    for _ in range(2):
        views = [framing.view(az, elevation) for az in (az0, (az0 + az1) / 2, az1)]
        spots = place_labels(blocks, texts, size, priority, forced, views)
        labels = [Label(text, tuple(float(v) for v in pos), size, block.name)
                  for text, pos, block in zip(texts, spots, blocks, strict=True)
                  if text is not None and pos is not None]
        boxes = list(keep_in_view)
        for lab in labels:
            w, h = text_extent(lab.text, lab.size)
            p = np.array(lab.position)
            boxes.append(np.array([p + [w / 2, w / 2, h], p - [w / 2, w / 2, 0]]))
        framing = frame(np.concatenate(boxes), config)
    notes = []
    hidden = sum(1 for t, p in zip(texts, spots, strict=True) if t is not None and p is None)
    if hidden:
        notes.append(f"{hidden} of {sum(t is not None for t in texts)} layer labels hidden "
                     "where they would overlap (labels.auto_hide: false shows them all)")
    return labels, framing, notes
