"""The figure's legends as vector art: the colour bar (a row of thin rectangles, tick labels
under it, its title above) and, for architecture figures, a swatch per layer type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle

from nnrender.figure.labels import Measure
from nnrender.plan.types import Legend

BAR_STEPS = 96  # rectangles of the colour bar
BAR_THICK = 4.5  # pt
BAR_LENGTH = (60.0, 120.0)  # pt: at least, at most...
BAR_SHARE = 0.3  # ...and this share of the figure width
SWATCH = 6.0  # pt, a type's square
GAP = 2.0  # pt between a swatch and its name, and between lines
SPACE = 7.0  # pt between two entries


@dataclass
class Block:
    """Something of ``width`` x ``height`` pt that draws itself with its lower left at
    (x, y) in page points."""

    width: float
    height: float
    paint: Callable[[Axes, float, float], None]


def colour_bar(legend: Legend, page_width: float, size: float, measure: Measure,
               style: dict) -> Block:
    """The plan's colour bar: its colours low to high, its ticks and title."""
    length = float(np.clip(BAR_SHARE * page_width, *BAR_LENGTH))
    _, tick_h = measure("0", size)
    title_w, title_h = measure(legend.title, size) if legend.title else (0.0, 0.0)
    tick_ws = [measure(text, size)[0] for _, text in legend.ticks]
    over = max([w / 2 for w in tick_ws[-1:]] + [0.0])  # the last tick's right half
    width = max(length + over, title_w)
    height = tick_h + 1.5 + BAR_THICK + (GAP + title_h if legend.title else 0.0)
    colors = np.asarray(legend.colors, dtype=np.float64)[:, :3] / 255.0

    def paint(ax: Axes, x: float, y: float) -> None:
        x0 = x + width - over - length
        y0 = y + tick_h + 1.5
        step = length / BAR_STEPS
        picks = np.linspace(0, len(colors) - 1, BAR_STEPS).round().astype(int)
        # each rectangle reaches into the next: no hairline seams in a viewer
        quads = [[(x0 + k * step, y0), (x0 + (k + 1.6) * step, y0),
                  (x0 + (k + 1.6) * step, y0 + BAR_THICK), (x0 + k * step, y0 + BAR_THICK)]
                 for k in range(BAR_STEPS - 1)]
        quads.append([(x0 + (BAR_STEPS - 1) * step, y0), (x0 + length, y0),
                      (x0 + length, y0 + BAR_THICK), (x0 + (BAR_STEPS - 1) * step,
                                                      y0 + BAR_THICK)])
        ax.add_collection(PolyCollection(quads, facecolors=colors[picks], edgecolors="none",
                                         linewidths=0, antialiaseds=False, zorder=8),
                          autolim=False)
        ax.add_patch(Rectangle((x0, y0), length, BAR_THICK, fill=False, zorder=8.1,
                               linewidth=style["outline"], edgecolor=style["line"]))
        for pos, text in legend.ticks:
            tx = x0 + float(pos) * length
            ax.plot([tx, tx], [y0 - 1.2, y0], color=style["line"],
                    linewidth=style["outline"], zorder=8.1, solid_capstyle="butt")
            ax.text(tx, y0 - 1.5, text, ha="center", va="top", fontsize=size,
                    color=style["text"], family=style["font"], zorder=8.2)
        if legend.title:  # over the bar's middle, inside the block
            tx = min(max(x0 + length / 2, x + title_w / 2), x + width - title_w / 2)
            ax.text(tx, y0 + BAR_THICK + GAP, legend.title, ha="center",
                    va="bottom", fontsize=size, color=style["text"], family=style["font"],
                    zorder=8.2)

    return Block(width, height, paint)


def type_legend(colors: dict[str, tuple[float, float, float]], page_width: float,
                size: float, measure: Measure, style: dict) -> Block | None:
    """One swatch and name per layer type, in rows that fit the page width."""
    if not colors:
        return None
    entries = [(name, SWATCH + GAP + measure(name, size)[0]) for name in colors]
    rows: list[list[tuple[str, float]]] = [[]]
    used = 0.0
    for name, w in entries:
        if rows[-1] and used + SPACE + w > page_width:
            rows.append([])
            used = 0.0
        used += (SPACE if rows[-1] else 0.0) + w
        rows[-1].append((name, w))
    line_h = max(SWATCH, measure("Ag", size)[1]) + GAP
    width = max(sum(w for _, w in row) + SPACE * (len(row) - 1) for row in rows)
    height = line_h * len(rows) - GAP

    def paint(ax: Axes, x: float, y: float) -> None:
        for r, row in enumerate(rows):
            cx = x
            cy = y + height - (r + 1) * line_h + GAP
            for name, w in row:
                ax.add_patch(Rectangle((cx, cy + (line_h - GAP - SWATCH) / 2), SWATCH,
                                       SWATCH, facecolor=colors[name], zorder=8,
                                       edgecolor=style["line"],
                                       linewidth=style["outline"]))
                ax.text(cx + SWATCH + GAP, cy + (line_h - GAP) / 2, name, ha="left",
                        va="center", fontsize=size, color=style["text"],
                        family=style["font"], zorder=8.2)
                cx += w + SPACE

    return Block(width, height, paint)
