"""Channels-first tensors brought to the dump's layout (pure numpy, no framework): where
views, permutations and reductions move the batch and channel axes, and what is stored."""

from __future__ import annotations

import numpy as np

from nnrender.model.channels_first import (
    FEATURES_LAST,
    Tag,
    conv_kernel,
    depthwise_kernel,
    drawn,
    drawn_shape,
    finite,
    permuted,
    recurrent_weights,
    reduced,
    reshaped,
    spatial,
    traced_batch,
    transpose_kernel,
    transposed,
)
from nnrender.model.layer_kinds import conv_kind, padding_name, pool_kind


def test_maps_are_stored_channels_last() -> None:
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # (N, C, H, W)
    np.testing.assert_array_equal(drawn(x, spatial(4)), x.transpose(0, 2, 3, 1))
    assert drawn_shape(x.shape, spatial(4)) == [4, 5, 3]
    assert drawn(x, spatial(4), rows=1).shape == (1, 4, 5, 3)  # a padded batch cut back
    signal = np.zeros((2, 3, 7))  # a Conv1d's (N, C, L)
    assert drawn(signal, spatial(3)).shape == (2, 7, 3)
    seq_first = np.zeros((7, 2, 5))  # a sequence-first LSTM's (T, N, H)
    assert drawn(seq_first, Tag(1, None)).shape == (2, 7, 5)


def test_views_and_permutes_follow_the_axes() -> None:
    maps = spatial(4)
    # a ViT's patches: (N, C, H, W) -> flatten(2) (N, C, HW) -> transpose (N, HW, C)
    flat = reshaped(maps, [2, 16, 4, 4], [2, 16, 16])
    assert flat == Tag(0, 1)
    assert transposed(flat, 3, 1, 2) == FEATURES_LAST
    # ConvNeXt: permute to (N, H, W, C) and back
    nhwc = permuted(maps, [0, 2, 3, 1])
    assert nhwc == FEATURES_LAST and permuted(nhwc, [0, 3, 1, 2]) == maps
    # heads merged into the batch: (N, T, H*d) -> (N*H, T, d) has no batch axis any more
    assert reshaped(FEATURES_LAST, [2, 5, 8], [4, 5, 4]).batch is None
    # a mean over H, W keeps the batch; over the batch, none
    assert reduced(maps, [2, 3], 4, False) == Tag(0, None)
    assert reduced(maps, [0], 4, False).batch is None
    assert traced_batch(Tag(None, None), [7, 3, 5], 3) == 1  # found by its size
    assert traced_batch(Tag(None, None), [2, 2, 5], 3) is None


def test_weights_in_keras_layout() -> None:
    w = np.random.default_rng(0).random((6, 2, 3, 3))  # (out, in, kh, kw)
    assert conv_kernel(w).shape == (3, 3, 2, 6)
    np.testing.assert_array_equal(conv_kernel(w)[1, 2, 0, 5], w[5, 0, 1, 2])
    dw = np.random.default_rng(1).random((6, 1, 3, 3))  # 3 channels x multiplier 2
    k = depthwise_kernel(dw, 3)
    assert k.shape == (3, 3, 3, 2)
    np.testing.assert_array_equal(k[:, :, 1, 1], dw[3, 0])  # output map 1 * 2 + 1
    assert transpose_kernel(np.zeros((4, 2, 2, 2))).shape == (2, 2, 2, 4)
    gates = np.arange(12.0).reshape(12, 1) * np.ones((12, 2))  # GRU r, z, n (4 units)
    kernel, recurrent, bias = recurrent_weights(gates, np.zeros((12, 4)), None, None,
                                                (1, 0, 2), gru=True)
    assert kernel.shape == (2, 12) and recurrent.shape == (4, 12) and bias.shape == (2, 12)
    assert kernel[0].tolist() == [4, 5, 6, 7, 0, 1, 2, 3, 8, 9, 10, 11]  # Keras' z, r, h


def test_types_in_the_keras_vocabulary() -> None:
    assert conv_kind([8, 1, 3, 3], 8)[0] == "DepthwiseConv2D"
    assert conv_kind([8, 4, 3, 3], 2) == ("Conv2D", {"filters": 8, "kernel_size": [3, 3],
                                                     "groups": 2})
    assert conv_kind([4, 8, 3], 1)[0] == "Conv1D"
    assert conv_kind([8, 4, 2, 2], 1, transposed=True)[0] == "Conv2DTranspose"
    assert padding_name([1, 1], [3, 3], [1, 1]) == "same"
    assert padding_name([0, 0], [3, 3], [1, 1]) == "valid"
    assert pool_kind("avg", [1, 1], 4) == "GlobalAveragePooling2D"
    assert pool_kind("max", None, 3) == "MaxPooling1D"


def test_masked_logits_are_kept_finite() -> None:
    logits = np.array([[0.5, -np.inf, 2.0]])
    out, found = finite(logits)
    assert found and out.tolist() == [[0.5, 0.5, 2.0]]
    assert not finite(np.array([1.0, np.nan]))[1]  # NaN is a diverged model: not hidden
