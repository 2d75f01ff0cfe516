"""Where every feature map, neuron and label sits. Pure numpy.

The network runs along +X. Each layer is a wall in the YZ plane: conv/pool layers as a grid of
thin slabs (one per channel, size from the spatial shape), vector layers as small cubes, and
any other rank as a labelled placeholder block. Grid columns run towards -Y, which is the
screen's right for the default camera, so maps read left to right, top to bottom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nnrender.model.ir import LayerInfo

NEURON = 0.16
NEURON_GAP = 0.07


@dataclass
class LayerBlock:
    """One layer's cells: centres and full box sizes (x thickness, y width, z height)."""

    name: str
    type: str
    role: str
    shape: list[int]
    centers: np.ndarray
    sizes: np.ndarray
    extent: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def count(self) -> int:
        return int(self.centers.shape[0])

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo = (self.centers - self.sizes / 2).min(axis=0)
        hi = (self.centers + self.sizes / 2).max(axis=0)
        return lo, hi


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
    rows = math.ceil(n / cols)
    y = -(col - (cols - 1) / 2.0) * (cell_w + gap)
    z = ((rows - 1) / 2.0 - row) * (cell_h + gap)
    return np.stack([np.zeros(n), y, z], axis=1)


def shown_count(layer: LayerInfo) -> int:
    """Cells drawn: every channel, or the ones the dump kept (``channels``)."""
    return len(layer.channels) if layer.channels else int(layer.output_shape[-1])


def layer_block(layer: LayerInfo, min_side: float = 0.0) -> LayerBlock:
    """Cells of one layer centred on the origin; maps are at least ``min_side`` tall."""
    role = layer.role
    if role == "maps":
        h, w, _ = layer.output_shape
        c = shown_count(layer)
        sw, sh = map_side(h, w)
        grow = max(1.0, min_side / max(sw, sh))
        sw, sh = sw * grow, sh * grow
        gap = 0.16 * max(sw, sh)
        thick = 0.05 + 0.02 * max(sw, sh)
        cols, _ = grid_shape(c, sw / sh)
        centers = _grid(c, cols, sw, sh, gap)
        sizes = np.tile([thick, sw, sh], (c, 1))
    elif role == "vector":
        n = shown_count(layer)
        cols = 1 if n <= 16 else grid_shape(n)[0]
        centers = _grid(n, cols, NEURON, NEURON, NEURON_GAP)
        sizes = np.tile([NEURON, NEURON, NEURON], (n, 1))
    else:
        centers = np.zeros((1, 3))
        sizes = np.array([[0.6, 0.9, 0.9]])
    block = LayerBlock(layer.name, layer.type, role, list(layer.output_shape),
                       centers.astype(np.float64), sizes.astype(np.float64))
    lo, hi = block.bounds()
    block.extent = hi - lo
    return block


def arrange(layers: list[LayerInfo], spacing: float = 1.0) -> list[LayerBlock]:
    """Blocks placed along +X with gaps that grow with the walls on either side, centred
    on the origin."""
    blocks = [layer_block(layer) for layer in layers]
    # a layer of a few maps (the input image, say) is drawn large enough to read
    walls = [max(b.extent[1:]) for b in blocks if b.role == "maps"]
    if walls:
        median = float(np.median(walls))
        blocks = [layer_block(layer, 0.5 * median) if b.role == "maps" and b.shape[2] <= 4
                  else b for layer, b in zip(layers, blocks, strict=True)]
    x = 0.0
    for i, block in enumerate(blocks):
        if i > 0:
            prev = blocks[i - 1]
            wall = max(prev.extent[1:].max(), block.extent[1:].max())
            x += (prev.extent[0] + block.extent[0]) / 2 + spacing * (1.2 + 0.3 * wall)
        block.centers[:, 0] += x
    total = blocks[-1].centers[:, 0].max() if blocks else 0.0
    for block in blocks:
        block.centers[:, 0] -= total / 2
    return blocks
