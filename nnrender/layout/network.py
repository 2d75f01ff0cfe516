"""Where every feature map, neuron and label sits. Pure numpy.

The network runs along +X. Each layer is a wall in the YZ plane: conv/pool layers as thin
slabs (one per shown channel, size from the spatial shape), vector layers as small cubes (or
one image slab when very long), and any other rank as a labelled placeholder block. Grid
columns run towards -Y, which is the screen's right for the default camera, so maps read left
to right, top to bottom.

A layer may have several *stages* (``LayerStyle.arrange``), e.g. a grid that folds into one
summary block: every stage holds the same cells so the renderer can interpolate between them;
a cell hidden in a stage has size 0 and sits at the layer's centre.

``arrange`` places the layer blocks on the model's graph (see ``graph.py``): depth columns
along +X, side branches in lanes above and below the main path, long networks wrapped into
rows like lines of text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nnrender.layout import graph as graph_mod
from nnrender.model.ir import LayerInfo

NEURON = 0.16
NEURON_GAP = 0.07

# special cell sources (non-negative sources index the stored channel axis)
SUMMARY_MEAN, SUMMARY_MAX, ELLIPSIS, IMAGE, PLACEHOLDER = -1, -2, -3, -4, -5

STAGES = ("line", "grid", "circle", "fold")
ELLIPSIS_DOTS = 3
MAX_WALL = 1.6  # no wall's larger side beyond this many median walls (readability)
INPUT_SIDE = 0.5  # input images (<= 4 channels) get maps at least this many median walls


@dataclass
class LayerStyle:
    """How one layer is drawn.

    ``arrange`` lists stages in order ('line' | 'grid' | 'circle' | 'fold'); more than one
    entry means the renderer animates between them. For vector layers 'grid' means the
    default wall, which ``dense`` decides ('auto': a column up to 16 neurons, a grid beyond).
    ``show`` draws k evenly spaced maps/neurons (first and last included) plus an ellipsis.
    """

    arrange: list[str] = field(default_factory=lambda: ["grid"])
    show: int | None = None
    summary: str = "mean"
    dense: str = "auto"
    dense_limit: int = 512


@dataclass
class LayerBlock:
    """One layer's cells: per-stage centres and full box sizes (x thickness, y width, z
    height) plus what every cell shows (``sources``) and where the layer sits in the graph."""

    name: str
    type: str
    role: str
    shape: list[int]
    sources: np.ndarray
    stage_centers: np.ndarray
    stage_sizes: np.ndarray
    tile_hw: tuple[int, int]
    shown: int
    total: int
    column: int = 0
    row: int = 0
    lane: int = 0

    @property
    def centers(self) -> np.ndarray:
        """Cell centres of the first stage (the one a still shows)."""
        return self.stage_centers[0]

    @property
    def sizes(self) -> np.ndarray:
        return self.stage_sizes[0]

    @property
    def count(self) -> int:
        return int(self.sources.shape[0])

    @property
    def stages(self) -> int:
        return int(self.stage_centers.shape[0])

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) over all stages, ignoring hidden cells, so a layer's room in the scene
        holds every arrangement it animates through."""
        c = self.stage_centers.reshape(-1, 3)
        s = self.stage_sizes.reshape(-1, 3)
        visible = s.any(axis=1)
        if not visible.all():
            if not visible.any():
                return c.min(axis=0), c.max(axis=0)
            c, s = c[visible], s[visible]
        half = s / 2
        return (c - half).min(axis=0), (c + half).max(axis=0)

    @property
    def extent(self) -> np.ndarray:
        lo, hi = self.bounds()
        return hi - lo

    def translate(self, offset: np.ndarray) -> None:
        self.stage_centers += np.asarray(offset, dtype=np.float64)

    def scale(self, factor: float) -> None:
        """Shrink or grow about the layer's centre (aspect and gaps stay proportional)."""
        lo, hi = self.bounds()
        mid = (lo + hi) / 2
        hidden = ~np.any(self.stage_sizes > 0, axis=2)
        self.stage_centers = mid + (self.stage_centers - mid) * factor
        self.stage_sizes = self.stage_sizes * factor
        self.stage_centers[hidden] = mid


def map_side(h: int, w: int) -> tuple[float, float]:
    """World size of one feature map: grows with the square root of its resolution, so a
    224 px map is bigger than a 7 px one without dwarfing it."""
    s = min(6.0, max(0.45, 0.36 * math.sqrt(max(h, w))))
    return s * w / max(h, w), s * h / max(h, w)


def grid_shape(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """(columns, rows) for n cells of width/height ``aspect``, close to a square wall."""
    cols = max(1, math.ceil(math.sqrt(n / max(aspect, 1e-6))))
    rows = math.ceil(n / cols)
    return cols, rows


def _grid(n: int, cols: int, cell_w: float, cell_h: float, gap: float) -> np.ndarray:
    idx = np.arange(n)
    col = idx % cols
    row = idx // cols
    rows = math.ceil(n / cols) if n else 0
    y = -(col - (cols - 1) / 2.0) * (cell_w + gap)
    z = ((rows - 1) / 2.0 - row) * (cell_h + gap)
    return np.stack([np.zeros(n), y, z], axis=1)


def pick_shown(available: int, show: int | None) -> np.ndarray:
    """Stored indices drawn: all, or ``show`` evenly spaced with first and last included."""
    if show is None or show >= available:
        return np.arange(available)
    if show < 1:
        raise ValueError(f"show must be at least 1, got {show}")
    if show == 1:
        return np.zeros(1, dtype=int)
    return np.floor(np.linspace(0, available - 1, show) + 0.5).astype(int)


def _slots(kind: str, m: int, cw: float, ch: float, gap: float, column: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """Centres of ``m`` slots of ``cw`` x ``ch`` for one arrangement, and each slot's
    reading direction (where an ellipsis continues)."""
    if kind == "circle":
        if m == 1:
            return np.zeros((1, 3)), np.array([[0.0, -1.0, 0.0]])
        pitch = math.hypot(cw, ch) + gap  # neighbours this far apart never touch
        radius = pitch / (2 * math.sin(math.pi / m))
        t = 2 * math.pi * np.arange(m) / m  # from the top, clockwise as the viewer sees it
        centers = np.stack([np.zeros(m), -radius * np.sin(t), radius * np.cos(t)], axis=1)
        tangent = np.stack([np.zeros(m), -np.cos(t), -np.sin(t)], axis=1)
        return centers, tangent
    if kind == "line":
        cols = 1 if column else m
    else:  # grid
        cols = grid_shape(m, cw / ch)[0]
    direction = [0.0, 0.0, -1.0] if cols == 1 and column else [0.0, -1.0, 0.0]
    return _grid(m, cols, cw, ch, gap), np.tile(direction, (m, 1))


def _stage_names(style: LayerStyle) -> list[str]:
    stages = list(style.arrange) or ["grid"]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise ValueError(f"unknown arrangement {bad[0]!r} (expected one of {', '.join(STAGES)})")
    if style.summary not in ("mean", "max"):
        raise ValueError(f"summary must be 'mean' or 'max', got {style.summary!r}")
    if style.dense not in ("line", "grid", "auto"):
        raise ValueError(f"dense must be 'line', 'grid' or 'auto', got {style.dense!r}")
    if style.dense_limit < 1:
        raise ValueError(f"dense_limit must be at least 1, got {style.dense_limit}")
    return stages


def _single(layer: LayerInfo, role: str, stages: int, source: int, size: list[float],
            tile: tuple[int, int], shown: int, total: int) -> LayerBlock:
    return LayerBlock(
        layer.name, layer.type, role, list(layer.output_shape),
        sources=np.array([source]),
        stage_centers=np.zeros((stages, 1, 3)),
        stage_sizes=np.tile(np.asarray(size, dtype=np.float64), (stages, 1, 1)),
        tile_hw=tile, shown=shown, total=total,
    )


def layer_block(layer: LayerInfo, style: LayerStyle | None = None,
                min_side: float = 0.0) -> LayerBlock:
    """Cells of one layer centred on the origin; maps are at least ``min_side`` tall."""
    style = style or LayerStyle()
    stages = _stage_names(style)
    n_stages = len(stages)
    role = layer.role
    stored = layer.array_shape
    if role == "vector":
        available = int(stored[0])
        if available > style.dense_limit and (style.show is None
                                               or style.show > style.dense_limit):
            cols = math.ceil(math.sqrt(available))
            rows = math.ceil(available / cols)
            sw, sh = map_side(rows, cols)
            return _single(layer, "image", n_stages, IMAGE,
                           [0.05 + 0.02 * max(sw, sh), sw, sh], (rows, cols), available,
                           available)
    elif role != "maps":
        return _single(layer, "other", n_stages, PLACEHOLDER, [0.6, 0.9, 0.9], (1, 1), 1, 1)

    available = int(stored[-1])
    total = int(layer.output_shape[-1])
    picked = pick_shown(available, style.show)
    ellipsis = len(picked) < available
    summary = SUMMARY_MEAN if style.summary == "mean" else SUMMARY_MAX
    if role == "maps":
        h, w = int(layer.output_shape[0]), int(layer.output_shape[1])
        sw, sh = map_side(h, w)
        grow = max(1.0, min_side / max(sw, sh))
        sw, sh = sw * grow, sh * grow
        gap = 0.16 * max(sw, sh)
        thick = 0.05 + 0.02 * max(sw, sh)
        cell = np.array([thick, sw, sh])
        dot = 0.15 * min(sw, sh)
        # a stack of the maps, squashed: thickness grows with the log of the count
        fold = np.array([min(max(sw, sh), thick + 0.15 * max(sw, sh) * math.log2(total)),
                         sw, sh])
        tile = (int(stored[0]), int(stored[1]))
        column = False
    else:
        sw = sh = NEURON
        gap = NEURON_GAP
        cell = np.array([NEURON, NEURON, NEURON])
        dot = 0.3 * NEURON
        fold = np.full(3, NEURON * (1 + 0.5 * math.log2(max(total, 2))))
        tile = (1, 1)
        column = True

    folded = [s == "fold" for s in stages]
    if all(folded):
        return _single(layer, role, n_stages, summary, list(fold), tile, 0, total)

    k = len(picked)
    m = k + (1 if ellipsis else 0)
    n = k + (ELLIPSIS_DOTS if ellipsis else 0) + (1 if any(folded) else 0)
    sources = np.concatenate([picked, np.full(ELLIPSIS_DOTS if ellipsis else 0, ELLIPSIS),
                              np.full(1 if any(folded) else 0, summary)]).astype(int)
    centers = np.zeros((n_stages, n, 3))
    sizes = np.zeros((n_stages, n, 3))
    for si, kind in enumerate(stages):
        if kind == "fold":
            sizes[si, -1] = fold
            continue
        if role == "vector" and kind == "grid":
            dense = style.dense if style.dense != "auto" else ("line" if m <= 16 else "grid")
            if dense == "line":
                kind = "line"
        slots, direction = _slots(kind, m, sw, sh, gap, column)
        centers[si, :k] = slots[:k]
        sizes[si, :k] = cell
        if ellipsis:
            pitch = 2 * dot
            offsets = (np.arange(ELLIPSIS_DOTS) - (ELLIPSIS_DOTS - 1) / 2) * pitch
            centers[si, k:k + ELLIPSIS_DOTS] = slots[k] + offsets[:, None] * direction[k]
            sizes[si, k:k + ELLIPSIS_DOTS] = dot
    return LayerBlock(layer.name, layer.type, role, list(layer.output_shape), sources,
                      centers, sizes, tile, k, total)


def wall(block: LayerBlock) -> float:
    """The larger side of a layer's wall (its YZ extent)."""
    ext = block.extent
    return float(max(ext[1], ext[2]))


def median_wall(blocks: list[LayerBlock]) -> float:
    """The typical wall of laid-out blocks: what label sizes and arc heights scale with."""
    return float(np.median([wall(b) for b in blocks]))


def arrange(layers: list[LayerInfo], styles: list[LayerStyle] | None = None, *,
            spacing: float = 1.0, wrap: str | int = "auto", aspect: float = 16 / 9,
            camera: tuple[float, float, float, float] = graph_mod.DEFAULT_CAMERA,
            wide: set[str] | None = None) -> list[LayerBlock]:
    """Blocks placed on the model graph and centred on the origin.

    Columns (graph depth) run along +X with gaps that grow with the walls on either side;
    side branches sit in lanes above/below the main path; a long network wraps into rows
    stacked downwards (``wrap``: 'auto', 'none' or a row count) to fill a frame of
    ``aspect`` as seen by ``camera`` (azimuth, elevation, orbit, lens: the scene's camera).
    Layers named in ``wide`` (edges run into them) get a wider gap in front.
    """
    if styles is None:
        styles = [LayerStyle() for _ in layers]
    if len(styles) != len(layers):
        raise ValueError(f"{len(styles)} styles for {len(layers)} layers")
    if not layers:
        return []
    blocks = [layer_block(layer, style) for layer, style in zip(layers, styles, strict=True)]
    walls = [wall(b) for b in blocks]
    maps = [w for w, b in zip(walls, blocks, strict=True) if b.role == "maps"]
    if maps:
        # a layer of a few maps (the input image, say) is drawn large enough to read
        side = INPUT_SIDE * float(np.median(maps))
        for i, (layer, style) in enumerate(zip(layers, styles, strict=True)):
            if blocks[i].role == "maps" and blocks[i].shape[2] <= 4:
                blocks[i] = layer_block(layer, style, side)
                walls[i] = wall(blocks[i])
    roles = [b.role for b in blocks]
    ref = ([w for w, r in zip(walls, roles, strict=True) if r == "maps"]
           or [w for w, r in zip(walls, roles, strict=True) if r != "other"] or walls)
    median = float(np.median(ref))
    # very large walls (thousands of channels as a full grid) shrink so none dwarfs the rest
    cap = MAX_WALL * median
    for b, own in zip(blocks, walls, strict=True):
        if own > cap:
            b.scale(cap / own)

    bounds = [b.bounds() for b in blocks]
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    edges = graph_mod.graph_edges(layers)
    place = graph_mod.layout_graph(
        len(layers), edges, lo, hi, spacing=spacing, wrap=wrap, aspect=aspect,
        label_room=0.3 * median, gap=spacing * (0.6 + 0.1 * median), camera=camera,
        wide=np.array([layer.name in wide for layer in layers]) if wide else None,
    )
    for i, b in enumerate(blocks):
        b.translate(place.offset[i])
        b.column, b.row, b.lane = int(place.column[i]), int(place.row[i]), int(place.lane[i])
    return blocks
