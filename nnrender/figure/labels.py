"""The plan's labels placed again for the page: sizes in points, and none overlapping
another label or covering a cell. The same rule as ``layout/labels.py`` for the 3D labels:
in priority order (inputs and outputs, merges, stage changes, then the rest), each tries a
few heights above its spot and is dropped when all of them collide, unless forced (a
placeholder's). Token labels hang below their tokens, read bottom to top, shrunk to the
tokens' pitch; "×N" badges always show. Pure numpy: text is measured by a callable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nnrender.layout.labels import label_priority
from nnrender.model.ir import LayerInfo
from nnrender.plan.types import Label, LayerPlan

Measure = Callable[[str, float], tuple[float, float]]  # (text, size pt) -> (width, height)
ToPage = Callable[[np.ndarray], np.ndarray]  # view (n, 2) -> page points (n, 2)
GAP = 2.5  # pt kept free around every label
LIFT = 2.5  # a label rises at most this many of its heights above its spot to find room
GROUP_BONUS = 0.5  # a group label spans several layers: before the single layers
TOKEN_MIN = 4.0  # pt: token labels never smaller (every other one is dropped instead)
BADGE_SCALE = 1.2  # a badge's text, of the label size


@dataclass
class Lane:
    """Stands in for a ``LayerBlock`` where ``label_priority`` reads one."""

    lane: int = 0


@dataclass
class Placed:
    """A label on the page: its anchor (pt), alignment and the box it takes."""

    text: str
    x: float
    y: float
    size: float
    kind: str
    layer: str
    ha: str = "center"
    va: str = "bottom"
    rotation: float = 0.0
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def priorities(labels: Sequence[Label], layers: Sequence[LayerPlan],
               graph: Sequence[LayerInfo] | None = None) -> list[float]:
    """Each label's rank, as the 3D labels are ranked: from the model graph when given
    (the dump's layers), else from the drawn layers as a chain."""
    if graph:
        by_name = {info.name: info for info in graph}
        infos = [by_name[lp.name] for lp in layers if lp.name in by_name]
    else:
        infos = []
        for k, lp in enumerate(layers):
            infos.append(LayerInfo(lp.name, lp.type, list(lp.shape) or [1],
                                   inbound=[layers[k - 1].name] if k else []))
    ranks = dict(zip([i.name for i in infos],
                     label_priority(infos, [Lane() for _ in infos]), strict=True))
    return [ranks.get(lab.layer, 1.0) + (GROUP_BONUS if lab.kind == "group" else 0.0)
            for lab in labels]


def _hits(rect: np.ndarray, others: np.ndarray, gap: float) -> bool:
    if not len(others):
        return False
    return bool(np.any((rect[0] < others[:, 2] + gap) & (others[:, 0] < rect[2] + gap)
                       & (rect[1] < others[:, 3] + gap) & (others[:, 1] < rect[3] + gap)))


class _Taken:
    """Rectangles already on the page (grown in chunks: hundreds of labels)."""

    def __init__(self) -> None:
        self.rects = np.zeros((0, 4))

    def add(self, rect: tuple[float, float, float, float]) -> None:
        self.rects = np.concatenate([self.rects, np.asarray(rect, dtype=np.float64)[None]])

    def free(self, rect: np.ndarray, gap: float = GAP) -> bool:
        return not _hits(rect, self.rects, gap)


def _tokens(labels: list[tuple[int, Label]], spots: np.ndarray, size: float,
            measure: Measure) -> list[Placed]:
    """Vertical token labels, per layer shrunk to the pitch of its tokens' spots."""
    out: list[Placed] = []
    by_layer: dict[str, list[int]] = {}
    for k, (_, lab) in enumerate(labels):
        by_layer.setdefault(lab.layer, []).append(k)
    for layer, members in by_layer.items():
        xs = spots[members, 0]
        pitch = float(np.median(np.abs(np.diff(np.sort(xs))))) if len(members) > 1 else size
        own = min(size, 0.85 * pitch)
        step = 1
        while own < TOKEN_MIN and step < len(members):  # too dense: every other one
            step *= 2
            own = min(size, 0.85 * pitch * step)
        for n, k in enumerate(sorted(members, key=lambda m: spots[m, 0])):
            if n % step:
                continue
            lab = labels[k][1]
            w, h = measure(lab.text, own)
            x, y = spots[k]
            out.append(Placed(lab.text, float(x), float(y), own, "token", layer, "right",
                              "center", 90.0, (x - h / 2, y - w, x + h / 2, y)))
    return out


def _own(lab: Label, cell_layers: Sequence[str]) -> np.ndarray:
    """Which cells are the label's own: its layer's, or its group's (the layers named with
    the group's key, its first line)."""
    if lab.kind == "group":
        key = lab.text.split("\n")[0]
        return np.array([n == lab.layer or n.startswith(key) for n in cell_layers], dtype=bool)
    return np.array([n == lab.layer or n.startswith(lab.layer + "/") for n in cell_layers],
                    dtype=bool)


def _clear(x: float, y: float, width: float, own: np.ndarray) -> float:
    """The label's baseline raised above its own cells under it (a group's later layers
    rise into a label centred on the group, in an oblique view)."""
    if not len(own):
        return y
    under = (own[:, 0] < x + width / 2) & (own[:, 2] > x - width / 2)
    if not under.any():
        return y
    return max(y, float(own[under, 3].max()) + GAP)


SHIFTS = (0.0, -0.35, 0.35)  # label slides tried, of its width


FOLDED = re.compile(r" \(0 of \d+\)$")  # the plan's note on a folded layer's shape line


def _variants(text: str) -> list[tuple[str, float]]:
    # a layer folded into one box draws none of its maps one by one: "(0 of 64)" is noise
    lines = [FOLDED.sub("", line) for line in text.split("\n")]
    text = "\n".join(lines)
    texts = list(dict.fromkeys([text, "  ".join(lines), lines[0]]))
    return [(t, shift) for t in texts for shift in SHIFTS]


def _rise(x: float, y: float, w: float, h: float, labels: np.ndarray, cells: np.ndarray
          ) -> np.ndarray | None:
    """The lowest free rectangle for a label at ``x`` from ``y`` up: raised over whatever it
    hits, at most ``LIFT`` label heights; None when nothing that low is free."""
    top = y + LIFT * h
    while y <= top:
        rect = np.array([x - w / 2, y, x + w / 2, y + h])
        hit = [other[_touching(rect, other, gap)] for other, gap in ((labels, GAP),
                                                                    (cells, 0.5 * GAP))]
        if not any(len(a) for a in hit):
            return rect
        y = max(float(a[:, 3].max()) + g for a, g in zip(hit, (GAP, 0.5 * GAP), strict=True)
                if len(a))
    return None


def _touching(rect: np.ndarray, others: np.ndarray, gap: float) -> np.ndarray:
    if not len(others):
        return np.zeros(0, dtype=bool)
    return ((rect[0] < others[:, 2] + gap) & (others[:, 0] < rect[2] + gap)
            & (rect[1] < others[:, 3] + gap) & (others[:, 1] < rect[3] + gap))


def place(labels: Sequence[Label], rank: Sequence[float], forced: Sequence[bool],
          to_page: ToPage, cells: np.ndarray, cell_layers: Sequence[str], measure: Measure,
          size: float, small: float, span: tuple[float, float] = (-np.inf, np.inf)
          ) -> tuple[list[Placed], int]:
    """Labels on the page (``size`` pt for layer and group labels, ``small`` for tokens) and
    how many were left out. ``cells``: (n, 4) page boxes of the drawn cells, of the layers
    ``cell_layers``; ``span``: the page's left and right edge (labels stay inside)."""
    if not labels:
        return [], 0
    spots = to_page(np.array([lab.position for lab in labels], dtype=np.float64))
    taken = _Taken()
    out: list[Placed] = []
    tokens = [(k, lab) for k, lab in enumerate(labels) if lab.kind == "token"]
    if tokens:
        for p in _tokens(tokens, spots[[k for k, _ in tokens]], small, measure):
            out.append(p)
            taken.add(p.box)
    for k, lab in enumerate(labels):
        if lab.kind == "badge":
            own = BADGE_SCALE * size
            w, h = measure(lab.text, own)
            x, y = spots[k]
            box = (x - w / 2, y, x + w / 2, y + h)
            out.append(Placed(lab.text, float(x), float(y), own, "badge", lab.layer,
                              box=box))
            taken.add(box)
    hidden = 0
    todo = [k for k, lab in enumerate(labels) if lab.kind in ("layer", "group")]
    for k in sorted(todo, key=lambda k: (not forced[k], -rank[k], k)):
        lab = labels[k]
        x, y = spots[k]
        own = cells[_own(lab, cell_layers)] if len(cells) else cells
        found = None
        # as planned (name over shape), else on one line (flatter: it fits between rows),
        # else the name alone; centred on its spot, else slid along its own cells
        text = lab.text
        for text, shift in _variants(lab.text):
            w, h = measure(text, size)
            if w > span[1] - span[0]:
                continue
            # slid inwards where it would stick out of the page
            cx = float(np.clip(x + shift * w, span[0] + w / 2, span[1] - w / 2))
            found = _rise(cx, _clear(cx, y, w, own), w, h, taken.rects, cells)
            if found is not None:
                x = cx
                break
        if found is None:
            if not forced[k]:
                hidden += 1
                continue
            text = _variants(lab.text)[0][0]
            w, h = measure(text, size)
            found = np.array([x - w / 2, y, x + w / 2, y + h])
        box = tuple(float(v) for v in found)
        out.append(Placed(text, float(x), box[1], size, lab.kind, lab.layer, box=box))
        taken.add(box)
    return out, hidden


def extent(placed: Sequence[Placed]) -> tuple[float, float, float, float] | None:
    """The page box around every placed label."""
    if not placed:
        return None
    boxes = np.array([p.box for p in placed])
    return (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()),
            float(boxes[:, 3].max()))
