"""What a dump keeps of each layer's activations: the storage reductions, pure numpy.

Big models are made small on disk by ``max_maps`` (keep at most that many channels, the last
axis, per layer: evenly spaced or the first ones) and ``max_side`` (block-average maps whose
spatial sides exceed it, one factor for all spatial axes so the aspect stays). The choice is
made once per layer, from the first epoch's shapes, and applied to every epoch, so epochs
stay comparable; the manifest records it as ``stored_shape`` and ``channels``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnrender.errors import ModelError
from nnrender.model.ir import LayerInfo

MAPS_SELECT = ("even", "first")


def keep_channels(total: int, max_maps: int, select: str) -> list[int]:
    """Indices of the channels kept when a layer has more than ``max_maps``."""
    if select == "first":
        return list(range(max_maps))
    return sorted({int(round(v)) for v in np.linspace(0, total - 1, max_maps)})


def block_mean(arr: np.ndarray, axis: int, factor: int) -> np.ndarray:
    """Mean over blocks of ``factor`` along ``axis``; the last block may be shorter."""
    size = arr.shape[axis]
    starts = np.arange(0, size, factor)
    sums = np.add.reduceat(arr, starts, axis=axis)
    counts = np.minimum(starts + factor, size) - starts
    shape = [1] * arr.ndim
    shape[axis] = len(counts)
    return sums / counts.reshape(shape).astype(sums.dtype)


def check_dtype(dtype: str) -> np.dtype:
    """The activations' storage dtype; a one-line error unless it is a float type."""
    try:
        if np.dtype(dtype).kind != "f":
            raise TypeError
    except TypeError:
        raise ModelError(None,
                         f"dtype: {dtype!r} is not a float type (float32, float16)") from None
    return np.dtype(dtype)


@dataclass
class Storage:
    """What to keep of each layer's activations (one choice per layer for every epoch)."""

    max_maps: int | None = None
    max_side: int | None = None
    select: str = "even"

    def __post_init__(self) -> None:
        """Refuse bad options before any work: they come straight from the user."""
        for name, value in (("max_maps", self.max_maps), ("max_side", self.max_side)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ModelError(None, f"{name}: expected a positive integer, got {value!r}")
        if self.select not in MAPS_SELECT:
            raise ModelError(None,
                             f"maps_select: expected 'even' or 'first', got {self.select!r}")

    def plan(self, info: LayerInfo) -> None:
        """Set ``stored_shape``/``channels`` on ``info`` from its output shape."""
        shape = info.output_shape
        if len(shape) < 2:  # vectors (Dense, pooled features) are kept whole
            return
        stored = list(shape)
        if self.max_maps is not None and shape[-1] > self.max_maps:
            info.channels = keep_channels(shape[-1], self.max_maps, self.select)
            stored[-1] = len(info.channels)
        if self.max_side is not None and max(shape[:-1]) > self.max_side:
            factor = -(-max(shape[:-1]) // self.max_side)
            stored[:-1] = [-(-d // factor) for d in shape[:-1]]
        if stored != shape:
            info.stored_shape = stored

    def apply(self, act: np.ndarray, info: LayerInfo) -> np.ndarray:
        """One epoch's activations of the layer ``info``, reduced as ``plan`` decided."""
        if info.stored_shape is None:
            return act
        if info.channels is not None:
            act = act[..., info.channels]
        shape = info.output_shape
        if info.stored_shape[:-1] != shape[:-1]:
            factor = -(-max(shape[:-1]) // self.max_side)  # type: ignore[operator]
            act = act.astype(np.float32, copy=False)
            for axis in range(1, act.ndim - 1):
                act = block_mean(act, axis, factor)
        return act

    def options(self) -> dict[str, int | str]:
        """The settings for the manifest's ``model["storage"]`` (unset ones left out)."""
        found = (("max_maps", self.max_maps), ("max_side", self.max_side),
                 ("maps_select", self.select if self.max_maps else None))
        return {k: v for k, v in found if v is not None}
