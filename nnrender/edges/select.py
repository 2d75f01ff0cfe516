"""Which edges to draw: the strongest weights, per target neuron or map, across epochs.

Selection runs on the true weights but only among the cells that are drawn (a layer shown
as k of N maps keeps edges between shown maps), so no edge ends in mid-air. One selection
per epoch, then the union: an edge strong at any epoch is a curve, and its per-epoch value
fades it in and out as training changes the weights.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

CONV_TYPES = {"Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose",
              "SeparableConv2D"}
DEPTHWISE_TYPES = {"DepthwiseConv2D"}
DENSE_TYPES = {"Dense", "EinsumDense"}


def connection_matrix(layer_type: str, weights: list[np.ndarray],
                      inputs: int | None = None) -> np.ndarray | None:
    """(inputs, outputs) signed strength of each input-output connection, or None when the
    layer's weights do not connect its input to its output element by element.

    Dense: the kernel. Conv: per input/output map, the kernel summed over its window:
    magnitude sum |w| (how much the map can feed the other), sign of sum w (whether it
    excites or inhibits on balance). A grouped conv (its kernel holding ``inputs / groups``
    input maps) connects each group of input maps to its own group of output maps only.
    Depthwise: map c feeds maps c*m .. c*m + m - 1.
    """
    if not weights:
        return None
    # a diverged epoch's NaN weights are no connections, not NaN curves
    weights = [np.nan_to_num(np.asarray(w, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
               for w in weights]
    kernel = weights[0]
    if layer_type.endswith("Transpose") and kernel.ndim >= 3:
        kernel = np.swapaxes(kernel, -1, -2)  # Keras: (..., filters, inputs)
    if layer_type in DENSE_TYPES and kernel.ndim == 2:
        return kernel
    if layer_type == "SeparableConv2D" and len(weights) >= 2:
        # depthwise then pointwise: the pointwise kernel (1, 1, c*m, out) is what mixes maps
        depth = np.asarray(weights[0], dtype=np.float32)
        point = np.asarray(weights[1], dtype=np.float32)
        if depth.ndim == 4 and point.ndim == 4:
            c, m = depth.shape[2], depth.shape[3]
            pw = point.reshape(c, m, -1)
            mag = np.abs(depth).sum(axis=(0, 1))[:, :, None] * np.abs(pw)
            net = depth.sum(axis=(0, 1))[:, :, None] * pw
            return np.sign(net.sum(axis=1)) * mag.sum(axis=1)
        return None
    if layer_type in CONV_TYPES and kernel.ndim >= 3:
        spatial = tuple(range(kernel.ndim - 2))
        mag = np.abs(kernel).sum(axis=spatial)
        per_group = np.where(kernel.sum(axis=spatial) < 0, -mag, mag).astype(np.float32)
        return _grouped(per_group, inputs)
    if layer_type in DEPTHWISE_TYPES and kernel.ndim == 4:
        c, m = kernel.shape[2], kernel.shape[3]
        mag = np.abs(kernel).sum(axis=(0, 1))
        val = np.where(kernel.sum(axis=(0, 1)) < 0, -mag, mag)
        out = np.zeros((c, c * m), dtype=np.float32)
        rows = np.repeat(np.arange(c), m)
        out[rows, np.arange(c * m)] = val.ravel()
        return out
    return None


def _grouped(per_group: np.ndarray, inputs: int | None) -> np.ndarray:
    """A grouped conv's (inputs / groups, outputs) matrix as the full block-diagonal
    (inputs, outputs) one: group g's input maps feed group g's output maps."""
    cin, cout = per_group.shape
    if inputs is None or inputs == cin or inputs % cin or cout % (inputs // cin):
        return per_group
    groups = inputs // cin
    step = cout // groups
    out = np.zeros((inputs, cout), dtype=np.float32)
    for g in range(groups):
        out[g * cin:(g + 1) * cin, g * step:(g + 1) * step] = per_group[:, g * step:
                                                                       (g + 1) * step]
    return out


def top_k_mask(scores: np.ndarray, k: int, threshold: float | None = None) -> np.ndarray:
    """(inputs, outputs) bool: the k largest scores of every output column (ties broken by
    the lower input index), plus any score at or above ``threshold`` times the largest.
    Zero scores are never selected: a zero weight is no connection."""
    n_in, n_out = scores.shape
    if n_in == 0 or n_out == 0:
        return np.zeros(scores.shape, dtype=bool)
    k = min(k, n_in)
    # the k-th largest per column by partition (a full sort of a 25088x4096 kernel takes
    # 20 s), then ties at that value resolved to the lower input indices: the same weights
    # always give the same edges
    kth = -np.partition(-scores, k - 1, axis=0)[k - 1]
    mask = scores > kth
    need = k - mask.sum(axis=0)
    tie = scores == kth
    mask |= tie & (np.cumsum(tie, axis=0) <= need)
    if threshold is not None:
        top = float(scores.max())
        if top > 0:
            mask |= scores >= threshold * top
    return mask & (scores > 0)


def select_edges(matrices: Iterable[np.ndarray], k: int, threshold: float | None = None,
                 source_scale: list[np.ndarray] | None = None, limit: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of one connection over the epochs.

    ``matrices``: one signed (inputs, outputs) matrix per epoch, already restricted to the
    drawn cells (an iterable: one epoch in memory at a time). ``source_scale``: per epoch, a
    non-negative weight per input (the mean activation, for ranking by |w| x activation).
    Returns (src, dst, values) with values (edges, epochs) signed in -1..1: the score over
    the largest score of any selected edge at any epoch, 0 where the edge is not selected
    at that epoch. ``limit`` keeps the edges with the highest peak score (ties: lower src,
    then dst).
    """
    picks = []  # per epoch: flat indices of its selected edges, their signed scores
    n_out = 0
    for e, m in enumerate(matrices):
        n_out = m.shape[1]
        s = np.abs(m)
        if source_scale is not None:
            s = s * np.asarray(source_scale[e], dtype=np.float32)[:, None]
        src, dst = np.nonzero(top_k_mask(s, k, threshold))
        picks.append((src * n_out + dst, np.where(m[src, dst] < 0, -1.0, 1.0) * s[src, dst]))
    if not picks:
        raise ValueError("no epochs")
    flat = np.unique(np.concatenate([f for f, _ in picks]))  # sorted: by src, then dst
    values = np.zeros((len(flat), len(picks)), dtype=np.float32)
    for e, (f, v) in enumerate(picks):
        values[np.searchsorted(flat, f), e] = v
    if limit is not None and len(flat) > limit:
        keep = np.sort(np.argsort(-np.abs(values).max(axis=1), kind="stable")[:limit])
        flat, values = flat[keep], values[keep]
    top = float(np.abs(values).max()) if values.size else 0.0
    if top > 0:
        values /= top
    src, dst = np.divmod(flat, max(n_out, 1))
    return src.astype(np.int64), dst.astype(np.int64), values
