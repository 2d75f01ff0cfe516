"""Texture atlas: every cell's pixels for every epoch in one image.

Each epoch gets one block with the same packing; blocks are arranged in a grid so neither
side of the image passes ``MAX_SIDE`` (Eevee and GPUs refuse larger textures). Each tile has a
one-pixel border copied from its edge, so 'Closest' sampling at a face's edge never bleeds
into a neighbour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_SIDE = 16384


@dataclass
class AtlasLayout:
    block_w: int
    block_h: int
    grid_cols: int
    grid_rows: int
    epochs: int
    # per layer: (x, y) of the layer's sub-grid in a block, its columns, tile w/h incl. border
    layer_origin: list[tuple[int, int]]
    layer_cols: list[int]
    tile_size: list[tuple[int, int]]
    # per layer: downsampling factor applied to its maps
    factor: list[int]

    @property
    def width(self) -> int:
        return self.block_w * self.grid_cols

    @property
    def height(self) -> int:
        return self.block_h * self.grid_rows

    def cell_rects(self, layer: int, count: int) -> np.ndarray:
        """(count, 4) interior rects x, y, w, h in block pixels (rows top-down)."""
        tw, th = self.tile_size[layer]
        x0, y0 = self.layer_origin[layer]
        cols = self.layer_cols[layer]
        idx = np.arange(count)
        x = x0 + (idx % cols) * tw + 1
        y = y0 + (idx // cols) * th + 1
        return np.stack([x, y, np.full(count, tw - 2), np.full(count, th - 2)], axis=1)

    def block_origin(self, epoch: int) -> tuple[int, int]:
        return (epoch % self.grid_cols) * self.block_w, (epoch // self.grid_cols) * self.block_h


def _pack(tiles: list[tuple[int, int, int]], width: int) -> tuple[list[tuple[int, int]],
                                                                     list[int], int]:
    """Shelf-pack each layer's rectangle of uniform tiles into a block ``width`` wide."""
    origins: list[tuple[int, int]] = [(0, 0)] * len(tiles)
    cols_out = [1] * len(tiles)
    rects = []
    for i, (count, tw, th) in enumerate(tiles):
        cols = max(1, min(count, width // tw))
        rows = math.ceil(count / cols)
        cols_out[i] = cols
        rects.append((i, cols * tw, rows * th))
    order = sorted(rects, key=lambda r: -r[2])
    x = y = shelf_h = 0
    for i, w, h in order:
        if x + w > width:
            x, y = 0, y + shelf_h
            shelf_h = 0
        origins[i] = (x, y)
        x += w
        shelf_h = max(shelf_h, h)
    return origins, cols_out, y + shelf_h


def plan_atlas(shapes: list[tuple[int, int, int]], epochs: int, max_tile: int) -> AtlasLayout:
    """Lay out tiles for layers of (count, h, w) maps. Halves the tile cap until it fits."""
    cap = max_tile
    while True:
        factor = [max(1, math.ceil(max(h, w) / cap)) for _, h, w in shapes]
        tiles = [(c, math.ceil(w / f) + 2, math.ceil(h / f) + 2)
                 for (c, h, w), f in zip(shapes, factor, strict=True)]
        area = sum(c * tw * th for c, tw, th in tiles)
        width = max(max(tw for _, tw, _ in tiles), math.ceil(math.sqrt(area) * 1.02))
        origins, cols, height = _pack(tiles, width)
        width = max(o[0] + c * t[1] for o, c, t in zip(origins, cols, tiles, strict=True))
        grid_cols = max(1, round(math.sqrt(epochs * height / max(width, 1))))
        grid_cols = min(grid_cols, epochs, max(1, MAX_SIDE // width))
        grid_rows = math.ceil(epochs / grid_cols)
        if width * grid_cols <= MAX_SIDE and height * grid_rows <= MAX_SIDE:
            return AtlasLayout(width, height, grid_cols, grid_rows, epochs, origins, cols,
                               [(t[1], t[2]) for t in tiles], factor)
        if cap == 1:
            raise ValueError(
                f"{sum(c for c, _, _ in shapes)} maps over {epochs} epochs do not fit a "
                f"{MAX_SIDE} px atlas even at 1 px per map"
            )
        cap = max(1, cap // 2)


def downsample(maps: np.ndarray, factor: int) -> np.ndarray:
    """Block-mean (count, h, w) maps by ``factor``, padding ragged edges by repetition."""
    if factor == 1:
        return maps
    c, h, w = maps.shape
    ph, pw = -h % factor, -w % factor
    if ph or pw:
        maps = np.pad(maps, ((0, 0), (0, ph), (0, pw)), mode="edge")
    h2, w2 = maps.shape[1] // factor, maps.shape[2] // factor
    return maps.reshape(c, h2, factor, w2, factor).mean(axis=(2, 4))


def fill_layer(block: np.ndarray, layout: AtlasLayout, layer: int, rgba: np.ndarray) -> None:
    """Write one layer's tiles (count, h, w, 4 uint8, already downsampled) into ``block``."""
    count, h, w, _ = rgba.shape
    tw, th = layout.tile_size[layer]
    assert (tw - 2, th - 2) == (w, h), "tile size does not match the layout"
    cols = layout.layer_cols[layer]
    rows = math.ceil(count / cols)
    padded = np.pad(rgba, ((0, rows * cols - count), (1, 1), (1, 1), (0, 0)), mode="edge")
    grid = padded.reshape(rows, cols, th, tw, 4).transpose(0, 2, 1, 3, 4)
    x0, y0 = layout.layer_origin[layer]
    block[y0:y0 + rows * th, x0:x0 + cols * tw] = grid.reshape(rows * th, cols * tw, 4)
