"""The cell model every layer's drawing shares: a ``LayerBlock`` of cells (per-stage
centres and sizes, and what each cell shows), a ``LayerStyle``, and the slot maths of the
arrangements. Pure numpy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nnrender.model.ir import LayerInfo

NEURON = 0.16
NEURON_GAP = 0.07

# special cell sources (non-negative sources index the stored channel axis)
SUMMARY_MEAN, SUMMARY_MAX, ELLIPSIS, IMAGE, PLACEHOLDER = -1, -2, -3, -4, -5

STAGES = ("line", "grid", "circle", "fold", "slab")
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
    steps: int | None = None  # volumes: steps (time, depth) drawn; None draws all
    attention: bool = True  # attention layers: per-head maps beside the layer


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
    # blocks drawn with this one (an attention layer's per-head maps): they move and scale
    # with it, and its room in the layout holds them
    attached: list[LayerBlock] = field(default_factory=list)

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
        holds every arrangement it animates through (and its attached blocks)."""
        lo, hi = self.own_bounds()
        for extra in self.attached:
            a, b = extra.bounds()
            lo, hi = np.minimum(lo, a), np.maximum(hi, b)
        return lo, hi

    def own_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) of this block's own cells, over all stages."""
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
        for extra in self.attached:
            extra.translate(offset)

    def scale(self, factor: float, mid: np.ndarray | None = None) -> None:
        """Shrink or grow about the layer's centre (aspect and gaps stay proportional)."""
        if mid is None:
            lo, hi = self.bounds()
            mid = (lo + hi) / 2
        for extra in self.attached:
            extra.scale(factor, mid)
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


def grid_cells(n: int, cols: int, cell_w: float, cell_h: float, gap: float) -> np.ndarray:
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


def slots(kind: str, m: int, cw: float, ch: float, gap: float, column: bool
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
    if kind == "slab":  # a row without gaps: the cells make one slab
        return grid_cells(m, m, cw, ch, 0.0), np.tile([0.0, -1.0, 0.0], (m, 1))
    if kind == "line":
        cols = 1 if column else m
    else:  # grid
        cols = grid_shape(m, cw / ch)[0]
    direction = [0.0, 0.0, -1.0] if cols == 1 and column else [0.0, -1.0, 0.0]
    return grid_cells(m, cols, cw, ch, gap), np.tile(direction, (m, 1))


def stage_names(style: LayerStyle) -> list[str]:
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


def single_cell(layer: LayerInfo, role: str, stages: int, source: int, size: list[float],
            tile: tuple[int, int], shown: int, total: int) -> LayerBlock:
    return LayerBlock(
        layer.name, layer.type, role, list(layer.output_shape),
        sources=np.array([source]),
        stage_centers=np.zeros((stages, 1, 3)),
        stage_sizes=np.tile(np.asarray(size, dtype=np.float64), (stages, 1, 1)),
        tile_hw=tile, shown=shown, total=total,
    )
