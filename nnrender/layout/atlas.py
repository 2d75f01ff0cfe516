"""Texture atlas: every cell's pixels for every epoch, on one or more atlas pages.

A page is one image. It holds whole layers, and each epoch gets one block of that page with
the same packing; the blocks are arranged in a grid so neither side of the page passes
``max_side`` (Eevee and GPUs refuse larger textures). A network that does not fit one page
spills onto more pages instead of losing more resolution.

Two limits decide the tile sizes. ``max_tile`` caps a map's side. ``budget_px`` caps the
pixels of all pages together, because the atlas is held several times over while a scene is
built (uint8 blocks here, then Blender's copy of each page). When the budget binds, the
layers that cost the most pixels are downsampled first, so one huge layer loses resolution
before a hundred small ones do.

Each tile has a one-pixel border copied from its edge, so 'Closest' sampling at a face's edge
never bleeds into a neighbour. Everything here is deterministic pure numpy.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from nnrender.layout.srgb import to_linear, to_srgb

MAX_SIDE = 16384
BUDGET_PX = 48_000_000
_OPEN_SHELVES = 32  # shelves still offered to later layers when packing
_BLEND_CHUNK_PX = 1 << 20  # pixels per slice when blending: bounds its float32 temporaries


@dataclass
class AtlasPage:
    """One atlas image: ``grid_cols`` x ``grid_rows`` epoch blocks of the same packing."""

    JSON_EXTRA = ("width", "height")

    block_w: int
    block_h: int
    grid_cols: int
    grid_rows: int

    @property
    def width(self) -> int:
        return self.block_w * self.grid_cols

    @property
    def height(self) -> int:
        return self.block_h * self.grid_rows


@dataclass
class AtlasLayout:
    """Where each layer's tiles live; the per-layer lists are indexed by global layer index."""

    epochs: int
    pages: list[AtlasPage]
    layer_page: list[int]
    # (x, y) of the layer's sub-grid in its page's block, rows top-down
    layer_origin: list[tuple[int, int]]
    layer_cols: list[int]
    # tile (w, h) including the one-pixel border on each side
    tile_size: list[tuple[int, int]]
    # downsampling factor applied to both axes of the layer's maps (see ``downsample``)
    factor: list[int]

    # page 0's figures, for code written when there was only one page
    @property
    def block_w(self) -> int:
        return self.pages[0].block_w

    @property
    def block_h(self) -> int:
        return self.pages[0].block_h

    @property
    def grid_cols(self) -> int:
        return self.pages[0].grid_cols

    @property
    def grid_rows(self) -> int:
        return self.pages[0].grid_rows

    @property
    def width(self) -> int:
        return self.pages[0].width

    @property
    def height(self) -> int:
        return self.pages[0].height

    @property
    def total_px(self) -> int:
        """Pixels of all pages together: what ``budget_px`` bounds."""
        return sum(p.width * p.height for p in self.pages)

    def layers_on(self, page: int) -> list[int]:
        return [i for i, p in enumerate(self.layer_page) if p == page]

    def cell_rects(self, layer: int, count: int) -> np.ndarray:
        """(count, 4) interior rects x, y, w, h in the layer's page block (rows top-down)."""
        tw, th = self.tile_size[layer]
        x0, y0 = self.layer_origin[layer]
        cols = self.layer_cols[layer]
        idx = np.arange(count)
        x = x0 + (idx % cols) * tw + 1
        y = y0 + (idx // cols) * th + 1
        return np.stack([x, y, np.full(count, tw - 2), np.full(count, th - 2)], axis=1)

    def block_origin(self, epoch: int, page: int = 0) -> tuple[int, int]:
        """Top-left pixel of an epoch's block in its page image."""
        p = self.pages[page]
        return (epoch % p.grid_cols) * p.block_w, (epoch // p.grid_cols) * p.block_h


# ----------------------------------------------------------------------------- planning


def _tile(h: int, w: int, f: int) -> tuple[int, int]:
    """Tile (w, h) with border for maps of h x w downsampled by ``f`` (as ``downsample``)."""
    return math.ceil(w / f) + 2, math.ceil(h / f) + 2


def _next_factor(h: int, w: int, f: int) -> int | None:
    """The smallest factor above ``f`` that shrinks the longer side; None at 1 px already."""
    m = max(h, w)
    side = math.ceil(m / f)
    if side <= 1:
        return None
    return math.ceil(m / (side - 1))


def _fit_budget(shapes: list[tuple[int, int, int]], epochs: int, factor: list[int],
                target: int) -> list[int] | None:
    """Raise factors, costliest layer first, until all tiles of all epochs fit ``target`` px
    (None if they cannot even at 1 px).

    Greedy on the current cost, so the biggest layers shrink until they cost about what the
    next ones do, and small layers keep their resolution as long as possible.
    """
    factor = list(factor)
    cost = []
    for (c, h, w), f in zip(shapes, factor, strict=True):
        tw, th = _tile(h, w, f)
        cost.append(c * tw * th * epochs)
    total = sum(cost)
    heap = [(-k, i) for i, k in enumerate(cost) if k > 0]
    heapq.heapify(heap)
    while total > target:
        if not heap:
            return None  # every layer at 1 px and still too big
        _, i = heapq.heappop(heap)
        c, h, w = shapes[i]
        nxt = _next_factor(h, w, factor[i])
        if nxt is None:
            continue  # at 1 px: cannot shrink, the others must
        factor[i] = nxt
        tw, th = _tile(h, w, nxt)
        total += c * tw * th * epochs - cost[i]
        cost[i] = c * tw * th * epochs
        heapq.heappush(heap, (-cost[i], i))
    return factor


def _pack(tiles: list[tuple[int, int, int]], width: int,
          square: bool) -> tuple[list[tuple[int, int]], list[int], int, int]:
    """Shelf-pack each layer's sub-grid of uniform (count, tw, th) tiles into ``width``.

    First fit, tallest tiles first. A layer opening a shelf takes as few rows as the width
    allows, or with ``square`` is laid out near-square so the layers after it line up beside
    it (which wins depends on the network, so callers try both). A layer joining a shelf takes
    as many rows as the shelf's height holds, so short tiles fill tall shelves instead of
    leaving gaps. Returns the origins, the columns per layer, and the packed width and height.
    """
    n = len(tiles)
    origins: list[tuple[int, int]] = [(0, 0)] * n
    cols_out = [1] * n
    shelves: list[list[int]] = []  # open shelves: [y, height, x used]
    min_tw = min((tw for c, tw, _ in tiles if c), default=1)
    top = used_w = 0
    for i in sorted(range(n), key=lambda k: (-tiles[k][2], -tiles[k][0] * tiles[k][1], k)):
        count, tw, th = tiles[i]
        if count == 0:
            continue
        for shelf in shelves:
            y, shelf_h, x = shelf
            rows = min(count, shelf_h // th)
            if rows == 0:
                continue
            cols = math.ceil(count / rows)
            if x + cols * tw <= width:
                origins[i], cols_out[i] = (x, y), cols
                shelf[2] = x + cols * tw
                used_w = max(used_w, shelf[2])
                if width - shelf[2] < min_tw:
                    shelves.remove(shelf)  # full: no need to look at it again
                break
        else:
            rows = min(count, max(1, round(math.sqrt(count * tw / th)))) if square else 1
            cols = min(math.ceil(count / rows), max(1, width // tw))
            rows = math.ceil(count / cols)
            cols = math.ceil(count / rows)  # balanced: no nearly empty last row
            origins[i], cols_out[i] = (0, top), cols
            if width - cols * tw >= min_tw:
                shelves.append([top, rows * th, cols * tw])
                if len(shelves) > _OPEN_SHELVES:
                    shelves.pop(0)  # bounds the cost for thousands of layers
            top += rows * th
            used_w = max(used_w, cols * tw)
    return origins, cols_out, used_w, top


@dataclass
class _Packed:
    page: AtlasPage
    origins: list[tuple[int, int]]
    cols: list[int]


_WIDTH_SCALES = (1.0, 1.05, 1.1, 1.2, 1.35, 1.5)  # block widths tried, times sqrt(area)


def _pack_page(tiles: list[tuple[int, int, int]], epochs: int, max_side: int) -> _Packed | None:
    """Pack layers' tiles into one page of ``epochs`` blocks, or None if they cannot fit.

    Tries a few near-square block widths, each in a near-square grid of blocks, and keeps the
    smallest page; failing those, every grid shape with blocks as wide as the page allows.
    """
    max_tw = max(tw for _, tw, _ in tiles)
    if max_tw > max_side or max(th for _, _, th in tiles) > max_side:
        return None
    area = sum(c * tw * th for c, tw, th in tiles)
    if area * epochs > max_side * max_side:
        return None  # more tile pixels than the page has: no packing can help
    best: _Packed | None = None

    def keep(page: AtlasPage, origins: list[tuple[int, int]], cols: list[int]) -> None:
        nonlocal best
        if best is None or page.width * page.height < best.page.width * best.page.height:
            best = _Packed(page, origins, cols)

    for scale, square in itertools.product(_WIDTH_SCALES, (False, True)):
        target = max(max_tw, math.ceil(math.sqrt(area) * scale))
        origins, cols, width, height = _pack(tiles, target, square)
        width, height = max(width, 1), max(height, 1)
        grid_cols = max(1, round(math.sqrt(epochs * height / width)))
        grid_cols = min(grid_cols, epochs, max(1, max_side // width))
        grid_rows = math.ceil(epochs / grid_cols)
        if width * grid_cols <= max_side and height * grid_rows <= max_side:
            keep(AtlasPage(width, height, grid_cols, grid_rows), origins, cols)
    if best is not None:
        return best
    for gc in range(1, epochs + 1):
        gr = math.ceil(epochs / gc)
        if gc > 1 and math.ceil(epochs / (gc - 1)) == gr:
            continue  # same rows, narrower blocks: never better
        limit_w, limit_h = max_side // gc, max_side // gr
        if limit_w < max_tw:
            break
        for square in (False, True):
            origins, cols, width, height = _pack(tiles, limit_w, square)
            if height <= limit_h:
                keep(AtlasPage(max(width, 1), max(height, 1), gc, gr), origins, cols)
    return best


def _paginate(shapes: list[tuple[int, int, int]], epochs: int, factor: list[int],
              max_side: int) -> tuple[list[int], list[_Packed], list[list[int]]]:
    """Split consecutive layers into pages; shrink a layer that alone overflows a page.

    Consecutive layers stay together, so a page covers one stretch of the network.
    """
    factor = list(factor)

    def tiles(lo: int, hi: int) -> list[tuple[int, int, int]]:
        return [(shapes[i][0], *_tile(shapes[i][1], shapes[i][2], factor[i]))
                for i in range(lo, hi)]

    n = len(shapes)
    packed: list[_Packed] = []
    members: list[list[int]] = []
    whole = _pack_page(tiles(0, n), epochs, max_side)
    if whole is not None:
        return factor, [whole], [list(range(n))]
    start = 0
    while start < n:
        alone = _pack_page(tiles(start, start + 1), epochs, max_side)
        while alone is None:
            c, h, w = shapes[start]
            nxt = _next_factor(h, w, factor[start])
            if nxt is None:
                raise ValueError(
                    f"layer {start}: {c} maps over {epochs} epochs do not fit a "
                    f"{max_side} px atlas page even at 1 px per map"
                )
            factor[start] = nxt
            alone = _pack_page(tiles(start, start + 1), epochs, max_side)
        # largest end such that layers start..end-1 fit: bisect below the end that the
        # page's pixel count allows at best
        good, good_pack, pixels, bad = start + 1, alone, 0, n + 1
        for end in range(start + 1, n + 1):
            c, tw, th = tiles(end - 1, end)[0]
            pixels += c * tw * th * epochs
            if pixels > max_side * max_side:
                bad = end
                break
        while bad - good > 1:
            mid = (good + bad) // 2
            trial = _pack_page(tiles(start, mid), epochs, max_side)
            if trial is None:
                bad = mid
            else:
                good, good_pack = mid, trial
        packed.append(good_pack)
        members.append(list(range(start, good)))
        start = good
    return factor, packed, members


def plan_atlas(shapes: list[tuple[int, int, int]], epochs: int, max_tile: int,
               budget_px: int = BUDGET_PX, max_side: int = MAX_SIDE) -> AtlasLayout:
    """Lay out tiles for layers of (count, h, w) maps over ``epochs`` blocks.

    Factors start where ``max_tile`` puts them, grow (costliest layer first) until every
    page's pixels together fit ``budget_px``, and the layers are split into as few pages of at
    most ``max_side`` per side as packing allows: one page whenever everything fits one.
    Raises ValueError when even 1 px tiles cannot fit.
    """
    if not shapes:
        raise ValueError("no layers to lay out in the atlas")
    if epochs < 1 or max_tile < 1 or budget_px < 1 or max_side < 3:
        raise ValueError(f"atlas: need epochs, max_tile, budget_px >= 1 and max_side >= 3 "
                         f"(got {epochs}, {max_tile}, {budget_px}, {max_side})")
    factor = [max(1, math.ceil(max(h, w) / max_tile)) for _, h, w in shapes]
    target = budget_px
    while True:
        fitted = _fit_budget(shapes, epochs, factor, target)
        if fitted is None:
            raise ValueError(
                f"{sum(c for c, _, _ in shapes):,} maps over {epochs} epochs do not fit the "
                f"atlas memory budget of {budget_px:,} px even at 1 px per map"
            )
        factor, packed, members = _paginate(shapes, epochs, fitted, max_side)
        total = sum(p.page.width * p.page.height for p in packed)
        if total <= budget_px:
            break
        # packing waste (shelf gaps, empty grid cells) pushed it over: aim lower
        target = min(target - 1, target * budget_px // total)
    n = len(shapes)
    layer_page = [0] * n
    origins: list[tuple[int, int]] = [(0, 0)] * n
    cols = [1] * n
    for p, (pk, idx) in enumerate(zip(packed, members, strict=True)):
        for k, i in enumerate(idx):
            layer_page[i] = p
            origins[i] = pk.origins[k]
            cols[i] = pk.cols[k]
    return AtlasLayout(
        epochs=epochs,
        pages=[pk.page for pk in packed],
        layer_page=layer_page,
        layer_origin=origins,
        layer_cols=cols,
        tile_size=[_tile(h, w, f) for (_, h, w), f in zip(shapes, factor, strict=True)],
        factor=factor,
    )


# ------------------------------------------------------------------------------- pixels


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


def _put(grid: np.ndarray, tiles: np.ndarray) -> None:
    """Tiles (..., h, w, 4) into bordered slots (..., h+2, w+2, 4), edges copied outwards."""
    grid[..., 1:-1, 1:-1, :] = tiles
    grid[..., 0, 1:-1, :] = tiles[..., 0, :, :]
    grid[..., -1, 1:-1, :] = tiles[..., -1, :, :]
    grid[..., :, 0, :] = grid[..., :, 1, :]
    grid[..., :, -1, :] = grid[..., :, -2, :]


def _as_pixels(a: np.ndarray) -> np.ndarray:
    """uint8 RGBA (..., 4) as one uint32 per pixel (..., 1) when the memory allows a view:
    copying whole pixels is several times faster than copying bytes."""
    if a.dtype == np.uint8 and a.strides[-1] == 1 and a.strides[-2] == 4 and a.ctypes.data % 4 == 0:
        return a.view(np.uint32)
    return a


def fill_layer(block: np.ndarray, layout: AtlasLayout, layer: int, rgba: np.ndarray) -> None:
    """Write one layer's tiles (count, h, w, 4 uint8, already downsampled) into its page's
    ``block`` (one epoch, rows top-down), straight into a view: no padded copy of the layer.
    Slots past ``count`` in the last row are left as they are."""
    count, h, w, _ = rgba.shape
    tw, th = layout.tile_size[layer]
    if (tw - 2, th - 2) != (w, h):
        raise ValueError(f"layer {layer}: tiles of {w}x{h} px, the atlas expects "
                         f"{tw - 2}x{th - 2}")
    if count == 0:
        return
    cols = layout.layer_cols[layer]
    rows = math.ceil(count / cols)
    x0, y0 = layout.layer_origin[layer]
    region = block[y0:y0 + rows * th, x0:x0 + cols * tw]
    src = rgba
    if region.dtype == rgba.dtype:
        region, src = _as_pixels(region), _as_pixels(rgba)
        if (region.shape[-1] == 1) != (src.shape[-1] == 1):  # only one could be viewed
            region, src = block[y0:y0 + rows * th, x0:x0 + cols * tw], rgba
    k = region.shape[-1]
    grid = region.reshape(rows, th, cols, tw, k).transpose(0, 2, 1, 3, 4)  # a view
    full = count // cols
    if full:
        _put(grid[:full], src[:full * cols].reshape(full, cols, h, w, k))
    if count > full * cols:
        _put(grid[full, :count - full * cols], src[full * cols:])


@dataclass
class AtlasPlan:
    """The atlas pixels: per page, every epoch's block (uint8, rows top-down)."""

    JSON_AS = "layout"  # plan.json: where the tiles are, not the pixels

    layout: AtlasLayout
    # per page: (epochs, block_h, block_w, 4) uint8; pixels stay out of plan.json
    blocks: list[np.ndarray] = field(metadata={"json": False})

    @classmethod
    def empty(cls, layout: AtlasLayout) -> AtlasPlan:
        return cls(layout, [np.zeros((layout.epochs, p.block_h, p.block_w, 4), dtype=np.uint8)
                            for p in layout.pages])

    def fill(self, slot: int, layer: int, rgba: np.ndarray) -> None:
        """Write one layer's downsampled tiles (count, h, w, 4 uint8) for epoch ``slot``."""
        fill_layer(self.blocks[self.layout.layer_page[layer]][slot], self.layout, layer, rgba)

    def image(self, page: int = 0) -> np.ndarray:
        """A page's whole image (height, width, 4) uint8, epoch blocks in their grid.

        With a single block (one epoch) this is a read-only view of it, not a copy: pages
        can be hundreds of MB.
        """
        p = self.layout.pages[page]
        if p.grid_cols == p.grid_rows == 1:
            view = self.blocks[page][0].view()
            view.flags.writeable = False
            return view
        return self.rows(page, 0, p.height)

    def rows(self, page: int, y0: int, y1: int) -> np.ndarray:
        """Rows ``y0:y1`` of a page's image, assembled from its epoch blocks: a big page can
        be handed over band by band without ever existing whole."""
        p = self.layout.pages[page]
        blocks = self.blocks[page]
        bw, bh = p.block_w, p.block_h
        out = np.zeros((y1 - y0, p.width, 4), dtype=np.uint8)
        for gr in range(y0 // bh, (y1 - 1) // bh + 1):
            a, b = max(y0, gr * bh), min(y1, (gr + 1) * bh)
            for gc in range(p.grid_cols):
                e = gr * p.grid_cols + gc
                if e < self.layout.epochs:
                    out[a - y0:b - y0, gc * bw:(gc + 1) * bw] = blocks[e, a - gr * bh:b - gr * bh]
        return out

    def blend(self, value: float, page: int = 0) -> np.ndarray:
        """One block at a fractional epoch, mixed in linear light like the shader does.

        Computed in row slices, so the float temporaries stay small whatever the page size.
        """
        lo = int(math.floor(value))
        hi = min(lo + 1, self.layout.epochs - 1)
        t = value - lo
        blocks = self.blocks[page]
        if t == 0 or lo == hi:  # on an epoch (every hold frame): nothing to mix
            return blocks[lo].copy()
        out = np.empty(blocks.shape[1:], dtype=np.uint8)
        rows = max(1, _BLEND_CHUNK_PX // max(1, blocks.shape[2]))
        for r in range(0, blocks.shape[1], rows):
            a = to_linear(blocks[lo, r:r + rows])
            b = to_linear(blocks[hi, r:r + rows])
            out[r:r + rows] = to_srgb(a * (1 - t) + b * t)
        return out
