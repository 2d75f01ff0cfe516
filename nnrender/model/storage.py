"""What a dump keeps of each layer's activations: the storage reductions, pure numpy.

Big models are made small on disk by ``max_maps`` (keep at most that many channels, the last
axis, per layer of rank 2 or more: evenly spaced or the first ones), ``max_side``
(block-average the spatial axes, H and W of (H, W, C) maps and of (T, H, W, C) volumes,
when a side exceeds it, one factor for both so the aspect stays; never the token axis of
(T, D)) and ``max_tokens`` (a (T, D) tokens layer or a (T, H, W, C) volume longer than it
keeps that many evenly spaced positions of its first axis; default 4096, so a sequence of a
million tokens stays small). The choice is made once per layer, from the first epoch's
shapes, and applied to every epoch, so epochs stay comparable; the manifest records it as
``stored_shape``, ``channels`` and ``positions``. Outputs of rank above 4 (drawn as
placeholders) are block-averaged on every axis but the last, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnrender.errors import ModelError
from nnrender.model.ir import LayerInfo

MAPS_SELECT = ("even", "first")
DEFAULT_MAX_TOKENS = 4096


def keep_channels(total: int, max_maps: int, select: str) -> list[int]:
    """Indices of the channels kept when a layer has more than ``max_maps``."""
    if select == "first":
        return list(range(max_maps))
    return sorted({int(round(v)) for v in np.linspace(0, total - 1, max_maps)})


def spatial_axes(rank: int) -> tuple[int, ...]:
    """The axes ``max_side`` averages (batch excluded): H, W of maps and volumes; all but
    the last for ranks above 4; none for vectors and tokens."""
    if rank == 3:
        return (0, 1)
    if rank == 4:
        return (1, 2)
    if rank > 4:
        return tuple(range(rank - 1))
    return ()


def positions_warning(infos: list[LayerInfo], max_tokens: int | None) -> str | None:
    """One warning for every layer whose first axis was cut to ``max_tokens`` positions."""
    cut = [f"{info.name} ({info.output_shape[0]})" for info in infos
           if info.positions is not None]
    if not cut:
        return None
    shown = ", ".join(cut[:6]) + (f" and {len(cut) - 6} more" if len(cut) > 6 else "")
    return (f"{len(cut)} layer(s) longer than {max_tokens} tokens or time steps keep "
            f"{max_tokens} evenly spaced positions: {shown}; raise --max-tokens "
            "(max_tokens) to keep more")


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
    max_tokens: int | None = DEFAULT_MAX_TOKENS

    def __post_init__(self) -> None:
        """Refuse bad options before any work: they come straight from the user."""
        for name, value in (("max_maps", self.max_maps), ("max_side", self.max_side),
                            ("max_tokens", self.max_tokens)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ModelError(None, f"{name}: expected a positive integer, got {value!r}")
        if self.select not in MAPS_SELECT:
            raise ModelError(None,
                             f"maps_select: expected 'even' or 'first', got {self.select!r}")

    def _factor(self, shape: list[int]) -> int:
        """The block-average factor of the spatial axes (1: none)."""
        axes = spatial_axes(len(shape))
        if self.max_side is None or not axes or max(shape[a] for a in axes) <= self.max_side:
            return 1
        return -(-max(shape[a] for a in axes) // self.max_side)

    def plan(self, info: LayerInfo) -> None:
        """Set ``stored_shape``/``channels``/``positions`` on ``info`` from its shape."""
        shape = info.output_shape
        if len(shape) < 2:  # vectors (Dense, pooled features) are kept whole
            return
        stored = list(shape)
        if self.max_maps is not None and shape[-1] > self.max_maps:
            info.channels = keep_channels(shape[-1], self.max_maps, self.select)
            stored[-1] = len(info.channels)
        if len(shape) in (2, 4) and self.max_tokens is not None and shape[0] > self.max_tokens:
            info.positions = keep_channels(shape[0], self.max_tokens, "even")
            stored[0] = len(info.positions)
        factor = self._factor(shape)
        for axis in spatial_axes(len(shape)) if factor > 1 else ():
            stored[axis] = -(-shape[axis] // factor)
        if stored != shape:
            info.stored_shape = stored

    def apply(self, act: np.ndarray, info: LayerInfo) -> np.ndarray:
        """One epoch's activations of the layer ``info``, reduced as ``plan`` decided."""
        if info.stored_shape is None:
            return act
        if info.positions is not None:
            act = np.take(act, info.positions, axis=1)
        if info.channels is not None:
            act = act[..., info.channels]
        factor = self._factor(info.output_shape)
        if factor > 1:
            act = act.astype(np.float32, copy=False)
            for axis in spatial_axes(len(info.output_shape)):
                act = block_mean(act, axis + 1, factor)
        return act

    def options(self) -> dict[str, int | str]:
        """The settings for the manifest's ``model["storage"]`` (unset ones left out)."""
        found = (("max_maps", self.max_maps), ("max_side", self.max_side),
                 ("maps_select", self.select if self.max_maps else None),
                 ("max_tokens", self.max_tokens))
        return {k: v for k, v in found if v is not None}
