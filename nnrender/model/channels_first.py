"""Channels-first frameworks (PyTorch, ONNX) brought to the dump's conventions. Pure numpy.

The dump draws maps channels-last with the batch axis first, as Keras computes them; PyTorch
and ONNX compute NCHW (NCL for 1-D convolutions, NCDHW for 3-D ones) and pass tensors
through views and permutations that move both axes. So every value the readers trace gets
a ``Tag``:

- ``batch``: the axis that holds the inputs (None: lost, e.g. merged with the heads of an
  attention as ``(N * H, T, d)``); a seq-first LSTM's output has it at 1.
- ``channel``: the axis of features (channels) when it is not the last one (None: the
  features are last already, or the value has no axes beside them).

The graph walks derive each value's tag from its producer (``spatial`` for convolutions,
norms and pooling; ``permuted``, ``reshaped`` and ``reduced`` for the ops that move axes;
the first input's tag for element-wise ops), and ``drawn`` turns a traced array into the
dump's layout: batch first, features last ((N, C, H, W) -> (N, H, W, C); (T, N, E) ->
(N, T, E)). ``traced_batch`` checks a tag against the traced batch size and otherwise finds
the batch axis by size.

Weights go to the Keras layouts the renderer reads connections from (``edges/select.py``):
a Linear's (out, in) weight is a Dense kernel (in, out), a convolution's (out, in / groups,
*k) weight is (*k, in / groups, out), a depthwise one (*k, in, multiplier), a transposed one
(*k, out, in); recurrent weights are regrouped into Keras' gate order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tag:
    """Where a traced value keeps its inputs (batch) and its features (see the docstring)."""

    batch: int | None = 0
    channel: int | None = None


FEATURES_LAST = Tag(0, None)
MASK_TAIL = "recorded with them at each array's finite minimum and maximum"


def spatial(rank: int) -> Tag:
    """The tag of a convolution's, norm's or pooling's output (N, C, ...)."""
    return Tag(0, 1 if rank >= 3 else None)


def _feature_axis(tag: Tag, rank: int) -> int:
    return tag.channel if tag.channel is not None else rank - 1


def _channel(axis: int | None, rank: int) -> int | None:
    return None if axis is None or axis == rank - 1 else axis


def permuted(tag: Tag, perm: Sequence[int]) -> Tag:
    """The tag after ``x.permute(perm)`` (a transpose is a permutation of two axes)."""
    rank = len(perm)
    perm = [p % rank for p in perm]
    batch = perm.index(tag.batch) if tag.batch is not None and tag.batch < rank else None
    feature = _feature_axis(tag, rank)
    return Tag(batch, _channel(perm.index(feature) if feature < rank else None, rank))


def transposed(tag: Tag, rank: int, a: int, b: int) -> Tag:
    """The tag after ``x.transpose(a, b)``."""
    perm = list(range(rank))
    a, b = a % rank, b % rank
    perm[a], perm[b] = perm[b], perm[a]
    return permuted(tag, perm)


def _find_axis(axis: int, before: Sequence[int], after: Sequence[int]) -> int | None:
    """Where axis ``axis`` of shape ``before`` is, intact, in shape ``after`` (a reshape
    keeps an axis when the product of the axes before it and its size are unchanged)."""
    if axis >= len(before):
        return None
    prefix = math.prod(before[:axis])
    found = None
    for j in range(len(after)):
        if math.prod(after[:j]) == prefix and after[j] == before[axis]:
            found = j
            if before[axis] != 1:
                break
    return found


def reshaped(tag: Tag, before: Sequence[int], after: Sequence[int]) -> Tag:
    """The tag after a view, reshape, flatten, squeeze or unsqueeze from ``before`` to
    ``after``: each axis is kept where it survives intact."""
    before, after = [int(d) for d in before], [int(d) for d in after]
    batch = _find_axis(tag.batch, before, after) if tag.batch is not None else None
    channel = None
    if tag.channel is not None:
        channel = _channel(_find_axis(tag.channel, before, after), len(after))
        if channel is not None and channel == batch:
            channel = None
    return Tag(batch, channel)


def reduced(tag: Tag, dims: Sequence[int], rank: int, keepdim: bool) -> Tag:
    """The tag after reducing (mean, sum, max) or selecting over ``dims``."""
    dims = sorted({d % rank for d in dims}) if dims else list(range(rank))
    out_rank = rank if keepdim else rank - len(dims)

    def moved(axis: int | None) -> int | None:
        if axis is None or axis in dims:
            return None
        return axis if keepdim else axis - sum(1 for d in dims if d < axis)

    feature = _feature_axis(tag, rank)
    new_feature = moved(feature)
    return Tag(moved(tag.batch), _channel(new_feature, out_rank) if new_feature is not None
               else None)


def traced_batch(tag: Tag, shape: Sequence[int], batch: int) -> int | None:
    """The batch axis of a traced value of ``shape`` (traced with ``batch`` inputs): the
    tag's when it holds ``batch`` entries, else the first axis of that size when no other
    axis has it, else None (the value has no batch axis to draw per input)."""
    if tag.batch is not None and tag.batch < len(shape) and shape[tag.batch] == batch:
        return tag.batch
    same = [i for i, d in enumerate(shape) if d == batch]
    if len(same) == 1 or (same and same[0] == 0):
        return same[0]
    return None


def drawn(arr: np.ndarray, tag: Tag, rows: int | None = None) -> np.ndarray:
    """A traced array in the dump's layout: batch first, features last (``rows``: keep the
    first rows only, the real inputs of a padded batch)."""
    batch = tag.batch if tag.batch is not None else 0
    out = np.moveaxis(arr, batch, 0) if batch else arr
    channel = tag.channel
    if channel is not None and channel != batch:
        channel = channel + 1 if channel < batch else channel
        if 0 < channel < out.ndim - 1:
            out = np.moveaxis(out, channel, -1)
    if rows is not None:
        out = out[:rows]
    return np.ascontiguousarray(out)


def channels_last_shape(shape: Sequence[int | None]) -> list[int | None]:
    """A channels-first input shape (no batch axis) as drawn: (C, H, W) -> (H, W, C)."""
    shape = list(shape)
    return shape[1:] + shape[:1] if len(shape) >= 2 else shape


def channels_first_array(x: np.ndarray) -> np.ndarray:
    """A channels-last batch (N, ..., C) in a channels-first model's layout (N, C, ...)."""
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if x.ndim >= 3 else x


# --------------------------------------------------------------------------- weights


def dense_kernel(weight: np.ndarray) -> np.ndarray:
    """A Linear / Gemm weight (out, in) as a Dense kernel (in, out)."""
    return np.ascontiguousarray(np.asarray(weight).T)


def conv_kernel(weight: np.ndarray) -> np.ndarray:
    """A convolution weight (out, in / groups, *k) in Keras' layout (*k, in / groups, out)."""
    w = np.asarray(weight)
    return np.ascontiguousarray(np.transpose(w, (*range(2, w.ndim), 1, 0)))


def depthwise_kernel(weight: np.ndarray, channels: int) -> np.ndarray:
    """A depthwise convolution weight (channels * m, 1, *k) as Keras' depthwise kernel
    (*k, channels, m): output map c * m + j reads input map c."""
    w = np.asarray(weight)
    m = w.shape[0] // channels
    w = w.reshape(channels, m, *w.shape[2:])
    return np.ascontiguousarray(np.transpose(w, (*range(2, w.ndim), 0, 1)))


def transpose_kernel(weight: np.ndarray) -> np.ndarray:
    """A transposed convolution weight (in, out / groups, *k) in Keras' layout
    (*k, out, in)."""
    w = np.asarray(weight)
    return np.ascontiguousarray(np.transpose(w, (*range(2, w.ndim), 1, 0)))


def regate(w: np.ndarray, order: Sequence[int], axis: int = 0) -> np.ndarray:
    """A recurrent weight whose ``axis`` stacks gates, with the gates in ``order``."""
    parts = np.split(np.asarray(w), len(order), axis=axis)
    return np.concatenate([parts[i] for i in order], axis=axis)


# PyTorch's gate orders to Keras': LSTM i, f, g, o is Keras' i, f, c, o; GRU r, z, n is
# Keras' z, r, h; ONNX's LSTM i, o, f, c.
TORCH_LSTM = (0, 1, 2, 3)
TORCH_GRU = (1, 0, 2)
ONNX_LSTM = (0, 2, 3, 1)


def recurrent_weights(w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray | None,
                      b_hh: np.ndarray | None, order: Sequence[int],
                      gru: bool = False) -> list[np.ndarray]:
    """One direction of one recurrent layer as Keras keeps it: kernel (in, gates * units),
    recurrent kernel (units, gates * units), bias (gates * units; a GRU's (2, 3 * units),
    input and recurrent biases, as Keras' ``reset_after``)."""
    kernel = dense_kernel(regate(w_ih, order))
    recurrent = dense_kernel(regate(w_hh, order))
    zeros = np.zeros(kernel.shape[1], dtype=kernel.dtype)
    bi = regate(b_ih, order) if b_ih is not None else zeros
    bh = regate(b_hh, order) if b_hh is not None else zeros
    bias = np.stack([bi, bh]) if gru else bi + bh
    return [kernel, recurrent, bias]


def attention_weights(w_q: np.ndarray, w_k: np.ndarray, w_v: np.ndarray,
                      biases: Sequence[np.ndarray | None], w_out: np.ndarray,
                      b_out: np.ndarray | None, heads: int) -> list[np.ndarray]:
    """A multi-head attention's projections as Keras' ``MultiHeadAttention`` keeps them:
    query, key and value kernels (E, H, d) with biases (H, d), the output kernel (H, d, E)
    and its bias (E)."""
    out: list[np.ndarray] = []
    for w, b in zip((w_q, w_k, w_v), biases, strict=True):
        w = np.asarray(w)
        d = w.shape[0] // heads
        out.append(np.ascontiguousarray(w.T.reshape(w.shape[1], heads, d)))
        bias = np.zeros(w.shape[0], w.dtype) if b is None else np.asarray(b)
        out.append(bias.reshape(heads, d))
    w_out = np.asarray(w_out)
    out.append(np.ascontiguousarray(w_out.T.reshape(heads, -1, w_out.shape[0])))
    out.append(np.zeros(w_out.shape[0], w_out.dtype) if b_out is None else np.asarray(b_out))
    return out


def norm_weights(gamma: np.ndarray | None, beta: np.ndarray | None, mean: np.ndarray | None,
                 var: np.ndarray | None, channels: int) -> list[np.ndarray]:
    """A BatchNorm's arrays as Keras' [gamma, beta, moving_mean, moving_variance] (the
    missing ones as ones and zeros)."""
    ones, zeros = np.ones(channels, np.float32), np.zeros(channels, np.float32)
    return [np.asarray(a) if a is not None else d
            for a, d in ((gamma, ones), (beta, zeros), (mean, zeros), (var, ones))]


def drawn_shape(shape: Sequence[int], tag: Tag) -> list[int]:
    """The shape ``drawn`` gives an array of ``shape``, without the batch axis."""
    axes = list(range(len(shape)))
    batch = tag.batch if tag.batch is not None else 0
    if not axes:
        return []
    order = [batch] + [a for a in axes if a != batch]
    if tag.channel is not None and tag.channel != batch and tag.channel in order[1:-1]:
        order.remove(tag.channel)
        order.append(tag.channel)
    return [int(shape[a]) for a in order[1:]]


def finite(arr: np.ndarray) -> tuple[np.ndarray, bool]:
    """An op's output with infinities (the -inf of an attention mask) at the array's finite
    extremes, and whether there were any; NaN stays (a diverged model is an error)."""
    if arr.dtype.kind != "f" or np.all(np.isfinite(arr) | np.isnan(arr)):
        return arr, False
    ok = np.isfinite(arr)
    lo, hi = (float(arr[ok].min()), float(arr[ok].max())) if ok.any() else (0.0, 0.0)
    return np.nan_to_num(arr, nan=np.nan, posinf=hi, neginf=lo), True


def note_masked(warnings: list[str], names: list[str]) -> None:
    """One warning for every op whose outputs held infinities (attention masks)."""
    if not names:
        return
    old = [w for w in warnings if w.endswith(MASK_TAIL)]
    known = [n for w in old for n in w.split(": ", 1)[1].split("; ")[0].split(", ")]
    names = list(dict.fromkeys(known + names))
    for w in old:
        warnings.remove(w)
    warnings.append(f"{len(names)} op output(s) hold infinities (masked attention "
                    f"logits?): {', '.join(names)}; {MASK_TAIL}")
