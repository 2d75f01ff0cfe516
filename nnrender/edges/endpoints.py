"""Where a layer's neurons, maps or tokens sit, for edges to start and end on, and how thick
an edge between two layers is drawn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnrender.layout.network import LayerBlock
from nnrender.model.ir import LayerInfo

EDGE_SHARE = 0.03  # strongest curve's radius, as a share of the smaller cell side
MIN_PX = 0.7  # ...but at least this many pixels (radius) on screen
FADE = 0.3  # weakest curve's radius as a share of the strongest


@dataclass
class Endpoints:
    """Where a layer's neurons or maps sit, for edges: index -> position on a face."""

    index: np.ndarray  # (n,) original neuron/channel indices, increasing
    stored: np.ndarray  # (n,) positions on the stored (possibly reduced) last axis
    center: np.ndarray  # (n, 3) centres (of the cell, or of the pixel in an image slab)
    half: np.ndarray  # (n,) half the cell's thickness along X
    side: float  # the smaller side of one cell (or one pixel) in world units


def endpoints(block: LayerBlock, layer: LayerInfo) -> Endpoints | None:
    """The drawn neurons/maps of a layer (stage 0), or None when it draws none one by one
    (placeholders, folded layers)."""
    channels = layer.channels
    if block.role == "image":
        rows, cols = block.tile_hw
        n = int(layer.array_shape[0])
        stored = np.arange(n)
        c, (t, sw, sh) = block.centers[0], block.sizes[0]
        y = c[1] + sw * (0.5 - (stored % cols + 0.5) / cols)
        z = c[2] + sh * (0.5 - (stored // cols + 0.5) / rows)
        center = np.stack([np.full(n, c[0]), y, z], axis=1)
        index = np.asarray(channels, dtype=np.int64) if channels else stored
        return Endpoints(index, stored, center, np.full(n, t / 2), min(sw / cols, sh / rows))
    if block.role not in ("maps", "vector", "tokens"):
        return None
    if block.role == "tokens":  # a cell per token: indices along the first axis
        channels = layer.positions
    cells = np.nonzero((block.sources >= 0) & np.any(block.sizes > 0, axis=1))[0]
    if not len(cells):
        return None
    stored = block.sources[cells].astype(np.int64)
    index = np.asarray(channels, dtype=np.int64)[stored] if channels else stored
    order = np.argsort(index, kind="stable")
    cells, stored, index = cells[order], stored[order], index[order]
    sizes = block.sizes[cells]
    return Endpoints(index, stored, block.centers[cells], sizes[:, 0] / 2,
                     float(sizes[:, 1:].min()))



def edge_radius(width: float, src: Endpoints, dst: Endpoints, pixel: float) -> float:
    """The strongest curve's radius: a share of the smaller cell, never under a visible
    share of a pixel (``pixel``: its world size at the network)."""
    return width * max(EDGE_SHARE * min(src.side, dst.side), MIN_PX * pixel)
