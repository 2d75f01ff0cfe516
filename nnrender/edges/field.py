"""Receptive fields: which input pixels one output pixel sees, layer by layer.

Walks back from a pixel of a conv/pool layer through its first inbound layers, growing the
pixel rectangle by each layer's window (kernel or pool size, stride, padding, dilation);
layers that keep the spatial size (batch norm, activations, adds) pass it on unchanged.
At each conv the frustum follows the input map most strongly connected to the current one,
so the drawing shows one real path of influence rather than every map at once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from nnrender.layout.network import LayerBlock
from nnrender.model.ir import LayerInfo

WINDOW_TYPES = {"Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D",
                "MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D"}

Rect = tuple[int, int, int, int]  # row0, row1, col0, col1 (inclusive)


def _pair(value: object, default: int) -> tuple[int, int]:
    if value is None:
        return default, default
    if isinstance(value, (list, tuple)):
        vals = [int(v) for v in value] or [default]
        return vals[0], vals[-1]
    return int(value), int(value)


def window(layer: LayerInfo) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], str]:
    """(kernel, strides, dilation, padding) of a windowed layer, from its recorded config."""
    cfg = layer.config
    if "kernel_size" in cfg:
        kernel = _pair(cfg["kernel_size"], 1)
        strides = _pair(cfg.get("strides"), 1)
    else:  # pooling: strides default to the pool size
        kernel = _pair(cfg.get("pool_size"), 2)
        strides = _pair(cfg.get("strides"), kernel[0]) if cfg.get("strides") else kernel
    dilation = _pair(cfg.get("dilation_rate"), 1)
    return kernel, strides, dilation, str(cfg.get("padding", "valid")).lower()


def back(rect: Rect, layer: LayerInfo, parent: LayerInfo) -> Rect | None:
    """The rectangle of ``parent``'s pixels that ``rect`` of ``layer``'s output sees, or
    None where the relation is not spatial (flatten, dense) or not known."""
    if parent.role != "maps" or layer.role != "maps":
        return None
    out_h, out_w = layer.output_shape[:2]
    in_h, in_w = parent.output_shape[:2]
    if layer.type in WINDOW_TYPES:
        kernel, strides, dilation, padding = window(layer)
        lo_hi = []
        for (a, b), k, s, d, n_in, n_out in (
                ((rect[0], rect[1]), kernel[0], strides[0], dilation[0], in_h, out_h),
                ((rect[2], rect[3]), kernel[1], strides[1], dilation[1], in_w, out_w)):
            pad = 0
            if padding == "same":
                pad = max((n_out - 1) * s + (k - 1) * d + 1 - n_in, 0) // 2
            lo = max(a * s - pad, 0)
            hi = min(b * s - pad + (k - 1) * d, n_in - 1)
            lo_hi += [lo, max(hi, lo)]
        return lo_hi[0], lo_hi[1], lo_hi[2], lo_hi[3]
    if (in_h, in_w) == (out_h, out_w):
        return rect
    return None


def rect_corners(block: LayerBlock, cell: int, shape: list[int], rect: Rect,
                 face: float) -> np.ndarray:
    """(4, 3) corners of a pixel rectangle on one map, on its -X (face=-1) or +X face."""
    c = block.centers[cell]
    t, sw, sh = block.sizes[cell]
    h, w = shape[0], shape[1]
    y0, y1 = c[1] + sw * (0.5 - rect[2] / w), c[1] + sw * (0.5 - (rect[3] + 1) / w)
    z0, z1 = c[2] + sh * (0.5 - rect[0] / h), c[2] + sh * (0.5 - (rect[1] + 1) / h)
    x = c[0] + face * t / 2
    return np.array([[x, y0, z0], [x, y1, z0], [x, y1, z1], [x, y0, z1]], dtype=np.float32)


def trace(layers: list[LayerInfo], blocks: list[LayerBlock], start: int, pixel: tuple[int, int],
          channel: int, stop: int | None,
          pick: Callable[[int, int, int, np.ndarray], int | None],
          animated: Collection[int] = ()
          ) -> tuple[np.ndarray, list[tuple[str, str]], list[Rect], list[str]]:
    """Frustum segments from ``pixel`` of map ``channel`` of layer ``start`` back to layer
    ``stop`` (or as far as the spatial chain goes).

    ``pick(layer, parent, out_channel, candidates)`` chooses the parent map a conv's map
    follows (None: none of the drawn ones feeds it, the trace stops); other layers keep the
    channel (a concatenation passes it to the input that holds it). The trace also stops
    where the layers sit on different rows or one of them moves (``animated``). Returns
    (quads (F, 2, 4, 3), layer pairs, rects on the earlier maps, notes).
    """
    names = {layer.name: i for i, layer in enumerate(layers)}
    notes: list[str] = []
    rect: Rect = (pixel[0], pixel[0], pixel[1], pixel[1])
    here, ch = start, channel
    drawn = (here, ch, rect)  # the last drawn map the frustum continues from
    quads, pairs, rects = [], [], []
    while here != stop and layers[here].inbound:
        parent, ch = _inbound(layers, names, here, ch)
        name = layers[parent].name
        new = back(rect, layers[here], layers[parent])
        if new is None:
            if stop is not None:
                notes.append(f"edges.field: stops at {layers[here].name}: "
                             f"{name} is not a map of the same image")
            break
        if blocks[parent].row != blocks[here].row or {parent, here} & set(animated):
            notes.append(f"edges.field: stops at {layers[here].name}: {name} sits on "
                         "another row or moves")
            break
        shown = _shown(blocks[parent], layers[parent])
        if layers[here].type in WINDOW_TYPES and "Pool" not in layers[here].type:
            ch = pick(here, parent, ch, np.array(sorted(shown)))
            if ch is None:
                notes.append(f"edges.field: stops at {layers[here].name}: no drawn map of "
                             f"{name} feeds it")
                break
        if ch not in shown:
            notes.append(f"edges.field: stops at {name}: map {ch} is not drawn")
            break
        rect, here = new, parent
        d_layer, d_ch, d_rect = drawn
        a = rect_corners(blocks[d_layer], _shown(blocks[d_layer], layers[d_layer])[d_ch],
                         layers[d_layer].output_shape, d_rect, -1.0)
        b = rect_corners(blocks[here], shown[ch], layers[here].output_shape, rect, 1.0)
        quads.append(np.stack([a, b]))
        pairs.append((layers[d_layer].name, layers[here].name))
        rects.append(rect)
        drawn = (here, ch, rect)
    out = np.stack(quads).astype(np.float32) if quads else np.zeros((0, 2, 4, 3), np.float32)
    return out, pairs, rects, notes


def _inbound(layers: list[LayerInfo], names: dict[str, int], here: int, ch: int
             ) -> tuple[int, int]:
    """The inbound layer a map comes from, and its channel there: the first inbound, or for
    a concatenation (channels last) the input whose block of channels holds ``ch``."""
    inbound = [names[n] for n in layers[here].inbound]
    if layers[here].type == "Concatenate" and len(inbound) > 1:
        for i in inbound:
            count = layers[i].output_shape[-1] if layers[i].output_shape else 0
            if ch < count:
                return i, ch
            ch -= count
    return inbound[0], ch


def _shown(block: LayerBlock, layer: LayerInfo) -> dict[int, int]:
    """Original channel index -> cell, for the maps a block draws (stage 0)."""
    out = {}
    for cell, src in enumerate(block.sources):
        if src >= 0 and np.any(block.sizes[cell] > 0):
            out[int(layer.channels[src]) if layer.channels else int(src)] = cell
    return out
