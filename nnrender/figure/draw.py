"""ScenePlan -> a matplotlib Figure: the projected scene (``project``) scaled to the page
width, its labels placed again at their point sizes (``labels``), and a legend where the
drawing leaves a corner free (else under it). Nothing here decides what the scene holds;
that is the plan's.

The page is one Axes filling the figure, in points: one data unit is 1/72 in, so text sizes
and coordinates agree and an annotation added by hand lands where its numbers say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from matplotlib.transforms import Affine2D, Transform

from nnrender.figure import labels as labels_mod
from nnrender.figure import legend as legend_mod
from nnrender.figure import palette
from nnrender.figure.options import FigureOptions
from nnrender.figure.project import Curves, Faces, Projected, Tiles, project, srgb
from nnrender.figure.text import LINE_SPACING, check_font, measurer
from nnrender.figure.tiles import TilesArtist
from nnrender.model.ir import LayerInfo
from nnrender.plan.types import ScenePlan

MARGIN = 4.0  # pt around the drawing
LEGEND_GAP = 6.0  # pt between the drawing and a legend under it
EDGE_WIDTH = (0.1, 0.9)  # pt: connections never thinner or wider
EDGE_SCALE = 0.6  # of the 3D curves' width at the page scale
LINK_WIDTH = 0.6  # pt: skip arcs


@dataclass
class Page:
    """Where the view's coordinates go on the page: scale (pt per world unit) and offset."""

    scale: float
    origin: tuple[float, float]  # view coordinates of the drawing's lower left
    shift: tuple[float, float] = (0.0, 0.0)  # page position of that corner

    def points(self, xy: np.ndarray) -> np.ndarray:
        return (np.asarray(xy, dtype=np.float64) - self.origin) * self.scale + self.shift

    def boxes(self, boxes: np.ndarray) -> np.ndarray:
        o = np.array([*self.origin, *self.origin])
        s = np.array([*self.shift, *self.shift])
        return (boxes - o) * self.scale + s

    def transform(self) -> Affine2D:
        return (Affine2D().translate(-self.origin[0], -self.origin[1]).scale(self.scale)
                .translate(*self.shift))


def _place(plan: ScenePlan, proj: Projected, page: Page, options: FigureOptions,
           ranks: list[float], forced: list[bool], span: tuple[float, float]
           ) -> tuple[list[labels_mod.Placed], int]:
    def to_page(world: np.ndarray) -> np.ndarray:
        x, y, _ = proj.view.project(world)
        return page.points(np.stack([x, y], axis=1))

    return labels_mod.place(plan.labels, ranks, forced, to_page, page.boxes(proj.cell_boxes),
                            proj.cell_layers, measurer(options.font), options.font_size,
                            options.small_size, span)


def _extent(proj: Projected, page: Page, placed: Sequence[labels_mod.Placed]
            ) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = proj.bounds
    (a, b), (c, d) = page.points(np.array([[x0, y0], [x1, y1]]))
    ext = labels_mod.extent(placed)
    if ext is None:
        return a, b, c, d
    return min(a, ext[0]), min(b, ext[1]), max(c, ext[2]), max(d, ext[3])


def fit(plan: ScenePlan, proj: Projected, options: FigureOptions,
        graph: Sequence[LayerInfo] | None = None
        ) -> tuple[Page, list[labels_mod.Placed], int]:
    """The scale at which the drawing fills the page width, and its labels placed at their
    point sizes inside that width."""
    width = options.width * 72.0 - 2 * MARGIN
    x0, y0, x1, y1 = proj.bounds
    page = Page(width / max(x1 - x0, 1e-9), (x0, y0))
    ranks = labels_mod.priorities(plan.labels, plan.layers, graph)
    placeholder = {lp.name for lp in plan.layers if lp.placeholder}
    forced = [lab.layer in placeholder for lab in plan.labels]
    placed, hidden = _place(plan, proj, page, options, ranks, forced, (0.0, width))
    return page, placed, hidden


def _free(rect: tuple[float, float, float, float], boxes: np.ndarray,
          points: np.ndarray) -> bool:
    x0, y0, x1, y1 = rect
    g = labels_mod.GAP
    if len(boxes) and np.any((boxes[:, 0] < x1 + g) & (x0 - g < boxes[:, 2])
                             & (boxes[:, 1] < y1 + g) & (y0 - g < boxes[:, 3])):
        return False
    return not (len(points) and np.any((points[:, 0] > x0 - g) & (points[:, 0] < x1 + g)
                                       & (points[:, 1] > y0 - g) & (points[:, 1] < y1 + g)))


def legend_spot(block: legend_mod.Block, extent: tuple[float, float, float, float],
                boxes: np.ndarray, points: np.ndarray, right: bool) -> tuple[float, float]:
    """Lower left of a legend: a free corner of the drawing (lower right first), else
    under it (right-aligned for the colour bar, left for the types)."""
    x0, y0, x1, y1 = extent
    w, h = block.width, block.height
    corners = [(x1 - w, y0), (x1 - w, y1 - h), (x0, y0), (x0, y1 - h)]
    if not right:
        corners = [corners[2], corners[0], corners[3], corners[1]]
    if w <= x1 - x0 and h <= 0.45 * (y1 - y0):
        for cx, cy in corners:
            if _free((cx, cy, cx + w, cy + h), boxes, points):
                return cx, cy
    return (x1 - w if right else x0), y0 - LEGEND_GAP - h


def _style(plan: ScenePlan, options: FigureOptions) -> dict:
    text = tuple(float(c) for c in srgb(plan.look.label_color))
    back = tuple(float(c) for c in srgb(plan.look.background))
    return {"text": text, "line": (*text, 0.9), "outline": options.outline,
            "font": options.font, "background": back}


ARROW = (3.2, 2.4)  # pt: an architecture arrow's head, length and width


def _arrows(ax: Axes, curves: Curves, trans: Transform, style: dict, z: float) -> None:
    """Straight arrows on the page (a connector's head drawn in 2D, so it is never seen
    edge-on)."""
    to_page = trans - ax.transData
    for seg in curves.points:
        a, b = to_page.transform(seg[[0, -1]])
        d = b - a
        length = float(np.hypot(*d))
        if length < 1.5 * ARROW[0]:
            continue
        u = d / length
        n = np.array([-u[1], u[0]])
        tip, base = b, b - u * ARROW[0]
        ax.add_collection(LineCollection([[a, base]], colors=[style["text"]],
                                         linewidths=0.5, zorder=z, capstyle="butt"),
                          autolim=False)
        ax.add_patch(Polygon([tip, base + n * ARROW[1] / 2, base - n * ARROW[1] / 2],
                             closed=True, facecolor=style["text"], edgecolor="none",
                             zorder=z))


def _artists(fig: Figure, proj: Projected, page: Page, style: dict, options: FigureOptions,
             trans: Transform) -> None:
    ax = fig.axes[0]
    for n, item in enumerate(proj.items):
        what, z = item.what, 1.0 + n * 1e-5
        if isinstance(what, Faces):
            face = what.colors if what.colors[:, 3].any() else "none"
            edges = np.tile(style["line"], (len(what.points), 1))
            if what.outlined is not None:
                edges[~what.outlined] = what.colors[~what.outlined]
            ax.add_collection(PolyCollection(
                what.points, facecolors=face, edgecolors=edges,
                linewidths=options.outline, joinstyle="round", transform=trans, zorder=z,
                gid=f"cells {item.layer}"), autolim=False)
        elif isinstance(what, Tiles):
            ax.add_artist(TilesArtist(what.images, what.corners, trans, zorder=z,
                                      gid=f"maps {item.layer}"))
        elif isinstance(what, Curves):
            if what.kind == "connector":
                _arrows(ax, what, trans, style, z)
                continue
            if what.kind == "link":
                widths = np.full(len(what.widths), LINK_WIDTH)
            else:
                widths = np.clip(EDGE_SCALE * what.widths * page.scale, *EDGE_WIDTH)
            ax.add_collection(LineCollection(
                what.points, colors=what.colors, linewidths=widths * options.edges,
                capstyle="round", joinstyle="round", transform=trans, zorder=z,
                gid=f"edges {item.layer}"), autolim=False)


def _legends(plan: ScenePlan, proj: Projected, options: FigureOptions, style: dict
             ) -> tuple[legend_mod.Block | None, bool]:
    measure = measurer(options.font)
    width = options.width * 72.0 - 2 * MARGIN
    if proj.types:
        colours = palette.type_colors(proj.types)
        return legend_mod.type_legend(colours, width, options.small_size, measure, style), False
    if plan.legend is not None:
        return legend_mod.colour_bar(plan.legend, width, options.small_size, measure,
                                     style), True
    return None, True


def draw(plan: ScenePlan, options: FigureOptions | None = None,
         graph: Sequence[LayerInfo] | None = None, activations: bool | None = None
         ) -> Figure:
    """The plan drawn flat on a page ``options.width`` inches wide (its height follows).
    ``graph``: the dump's layers, to rank labels as the 3D ones are; ``activations``:
    override ``plan.look.activations`` (False: boxes coloured by layer type)."""
    options = options or FigureOptions()
    check_font(options.font)
    proj = project(plan, options.epoch, activations, graph)
    page, placed, hidden = fit(plan, proj, options, graph)
    style = _style(plan, options)
    extent = _extent(proj, page, placed)
    block, right = _legends(plan, proj, options, style)
    spot = None
    if block is not None:
        boxes = np.concatenate([page.boxes(proj.cell_boxes),
                                np.array([p.box for p in placed]).reshape(-1, 4)])
        curve_pts = [page.points(it.what.points.reshape(-1, 2)) for it in proj.items
                     if isinstance(it.what, Curves)]
        pts = np.concatenate(curve_pts) if curve_pts else np.zeros((0, 2))
        spot = legend_spot(block, extent, boxes, pts, right)
        extent = (min(extent[0], spot[0]), min(extent[1], spot[1]),
                  max(extent[2], spot[0] + block.width), max(extent[3], spot[1] + block.height))
    width = options.width * 72.0
    height = extent[3] - extent[1] + 2 * MARGIN
    dx = MARGIN + (width - 2 * MARGIN - (extent[2] - extent[0])) / 2 - extent[0]
    dy = MARGIN - extent[1]
    fig = Figure(figsize=(options.width, height / 72.0), dpi=options.dpi)
    back = "none" if plan.look.transparent else style["background"]
    fig.patch.set_facecolor(back)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal", adjustable="box")
    final = Page(page.scale, page.origin, (page.shift[0] + dx, page.shift[1] + dy))
    _artists(fig, proj, final, style, options, final.transform() + ax.transData)
    for p in placed:
        ax.text(p.x + dx, p.y + dy, p.text, fontsize=p.size, ha=p.ha, va=p.va,
                rotation=p.rotation, rotation_mode="anchor", linespacing=LINE_SPACING,
                family=options.font, color=style["text"], zorder=9,
                fontweight="bold" if p.kind == "badge" else "normal",
                gid=f"label {p.layer}")
    if block is not None and spot is not None:
        block.paint(ax, spot[0] + dx, spot[1] + dy)
    shown = sum(1 for p in placed if p.kind in ("layer", "group"))
    fig.nnrender_labels = placed  # what was placed, for tests and annotations
    fig.nnrender_notes = ([f"figure: {hidden} of {hidden + shown} labels hidden where they "
                           "would overlap at this size"] if hidden else [])
    return fig
