"""PyTorch modules, PyTorch ops and ONNX ops named in the Keras vocabulary. Pure Python.

The renderer knows layers by their Keras type (``Conv2D`` draws map-to-map connections,
``Dense`` neuron-to-neuron ones, ``MultiHeadAttention`` its scores), so the PyTorch and
ONNX readers name what they find the way the Keras reader does: ``MODULE_TYPES`` maps
``torch.nn`` classes, ``conv_kind`` decides between ``Conv2D``, ``DepthwiseConv2D`` and
``Conv2DTranspose`` from a convolution's weight and groups, ``pool_kind`` names pooling by
what it reduces, and ``ACTIVATIONS`` gives the ``activation`` of ``Activation`` entries.
Types nnrender does not know keep their own name and are drawn by their output shape
(``shape_only_summary`` lists them in one warning, with counts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

# torch.nn class -> Keras type (Activation and pooling classes are in their own tables)
MODULE_TYPES = {
    "Linear": "Dense", "LazyLinear": "Dense", "NonDynamicallyQuantizableLinear": "Dense",
    "Bilinear": "Dense",
    "BatchNorm1d": "BatchNormalization", "BatchNorm2d": "BatchNormalization",
    "BatchNorm3d": "BatchNormalization", "SyncBatchNorm": "BatchNormalization",
    "LazyBatchNorm1d": "BatchNormalization", "LazyBatchNorm2d": "BatchNormalization",
    "LayerNorm": "LayerNormalization", "GroupNorm": "GroupNormalization",
    "RMSNorm": "RMSNormalization", "InstanceNorm1d": "InstanceNormalization",
    "InstanceNorm2d": "InstanceNormalization", "InstanceNorm3d": "InstanceNormalization",
    "LocalResponseNorm": "LocalResponseNormalization",
    "Embedding": "Embedding", "EmbeddingBag": "Embedding",
    "LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN",
    "MultiheadAttention": "MultiHeadAttention",
    "TransformerEncoderLayer": "TransformerEncoderLayer",
    "TransformerDecoderLayer": "TransformerDecoderLayer",
    "Dropout": "Dropout", "Dropout1d": "Dropout", "Dropout2d": "Dropout",
    "Dropout3d": "Dropout", "AlphaDropout": "Dropout", "FeatureAlphaDropout": "Dropout",
    "Flatten": "Flatten", "Unflatten": "Reshape", "Identity": "Identity",
    "Softmax": "Softmax", "LogSoftmax": "Softmax", "Softmax2d": "Softmax",
    "PixelShuffle": "PixelShuffle", "PixelUnshuffle": "PixelUnshuffle",
    "ChannelShuffle": "ChannelShuffle", "CosineSimilarity": "Dot",
}
# torch.nn's composite layers recorded as a block after their sub-modules' entries
BLOCK_TYPES = frozenset({"TransformerEncoderLayer", "TransformerDecoderLayer"})

ACTIVATIONS = {
    "ReLU": "relu", "ReLU6": "relu6", "LeakyReLU": "leaky_relu", "PReLU": "prelu",
    "RReLU": "leaky_relu", "ELU": "elu", "SELU": "selu", "CELU": "celu", "GELU": "gelu",
    "SiLU": "silu", "Mish": "mish", "Sigmoid": "sigmoid", "Tanh": "tanh",
    "Hardswish": "hard_swish", "Hardsigmoid": "hard_sigmoid", "Hardtanh": "hard_tanh",
    "Hardshrink": "hard_shrink", "Softshrink": "soft_shrink", "Softplus": "softplus",
    "Softsign": "softsign", "LogSigmoid": "log_sigmoid", "Tanhshrink": "tanh_shrink",
    "Threshold": "threshold", "GLU": "glu",
}
# the same functions as PyTorch ops (aten names) and ONNX ops
OP_ACTIVATIONS = {
    "relu": "relu", "relu6": "relu6", "leaky_relu": "leaky_relu", "prelu": "prelu",
    "_prelu_kernel": "prelu", "rrelu": "leaky_relu", "elu": "elu", "selu": "selu",
    "celu": "celu", "gelu": "gelu", "silu": "silu", "mish": "mish", "sigmoid": "sigmoid",
    "tanh": "tanh", "hardswish": "hard_swish", "hardsigmoid": "hard_sigmoid",
    "hardtanh": "hard_tanh", "hardshrink": "hard_shrink", "softshrink": "soft_shrink",
    "softplus": "softplus", "log_sigmoid": "log_sigmoid", "glu": "glu",
    "threshold": "threshold",
    "Relu": "relu", "LeakyRelu": "leaky_relu", "PRelu": "prelu", "Elu": "elu",
    "Selu": "selu", "Celu": "celu", "Gelu": "gelu", "Mish": "mish", "Sigmoid": "sigmoid",
    "Tanh": "tanh", "HardSwish": "hard_swish", "HardSigmoid": "hard_sigmoid",
    "Softplus": "softplus", "Softsign": "softsign", "ThresholdedRelu": "threshold",
    "Shrink": "soft_shrink",
}

# The types the PyTorch and ONNX readers emit for what they recognise (the rest keep their
# own names and go into the shape-only summary). Beside Keras' own: the block types, and
# names for ops Keras has no layer for.
OWN_TYPES = frozenset({
    "InputLayer", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
    "Conv3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D", "Dense", "BatchNormalization",
    "LayerNormalization", "GroupNormalization", "RMSNormalization", "InstanceNormalization",
    "LocalResponseNormalization", "Embedding", "LSTM", "GRU", "SimpleRNN", "Bidirectional",
    "MultiHeadAttention", "Attention", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "Dropout", "Flatten", "Reshape", "Permute", "Identity", "Softmax", "Activation", "Add",
    "Subtract", "Multiply", "Divide", "Maximum", "Minimum", "Concatenate", "Dot", "Slice",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "GlobalMaxPooling3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "PixelShuffle", "PixelUnshuffle", "ChannelShuffle",
})


def spatial_suffix(rank: int) -> str:
    """``1D``/``2D``/``3D`` for an (N, C, *spatial) tensor of this rank."""
    return f"{max(1, min(3, rank - 2))}D"


def padding_name(pads: Sequence[int] | str, kernel: Sequence[int],
                 dilation: Sequence[int]) -> Any:
    """A convolution's or pooling's padding as Keras says it where it can: ``valid`` (none),
    ``same`` (half the window on each side, so stride 1 keeps the size), else the numbers."""
    if isinstance(pads, str):
        return pads.lower()
    pads = [int(p) for p in pads]
    if not any(pads):
        return "valid"
    if len(pads) == len(kernel) and all(
            k % 2 == 1 and p == d * (k - 1) // 2
            for p, k, d in zip(pads, kernel, dilation, strict=True)):
        return "same"
    return pads


def conv_kind(weight_shape: Sequence[int], groups: int, transposed: bool = False
              ) -> tuple[str, dict[str, Any]]:
    """The Keras type and config of a convolution from its weight shape (PyTorch and ONNX
    alike: (out, in / groups, *k); transposed: (in, out / groups, *k)) and groups."""
    shape = [int(d) for d in weight_shape]
    kernel = shape[2:]
    rank = len(kernel) + 2
    suffix = spatial_suffix(rank)
    if transposed:
        filters = shape[1] * groups
        config: dict[str, Any] = {"filters": filters, "kernel_size": kernel}
        if groups > 1:
            config["groups"] = groups
        return f"Conv{suffix}Transpose", config
    filters, per_group = shape[0], shape[1]
    in_channels = per_group * groups
    config = {"filters": filters, "kernel_size": kernel}
    if groups > 1 and per_group == 1 and groups == in_channels and filters % groups == 0 \
            and rank in (3, 4):
        config["depth_multiplier"] = filters // groups
        return f"DepthwiseConv{suffix}", config
    if groups > 1:
        config["groups"] = groups
    return f"Conv{suffix}", config


def pool_kind(op: str, out_spatial: Sequence[int] | None, rank: int) -> str:
    """``MaxPooling2D``, ``AveragePooling1D``, ``GlobalAveragePooling2D``...: ``op`` is
    ``max`` or ``avg``; an adaptive pooling to size 1 everywhere is global."""
    kind = "Max" if op == "max" else "Average"
    if out_spatial is not None and len(out_spatial) and all(int(d) == 1 for d in out_spatial):
        return f"Global{kind}Pooling{spatial_suffix(rank)}"
    return f"{kind}Pooling{spatial_suffix(rank)}"


def reduce_kind(op: str, dims: Sequence[int], rank: int, channel_first: bool,
                batch: int | None) -> str:
    """The type of a mean/max over ``dims`` of a rank-``rank`` tensor: pooling when it
    reduces every spatial axis of maps (channels-first) or the tokens of (N, T, D)."""
    dims = sorted({d % rank for d in dims})
    if batch == 0 and channel_first and rank >= 3 and dims == list(range(2, rank)):
        return pool_kind("max" if op in ("amax", "max") else "avg", [1], rank)
    if batch == 0 and not channel_first and rank == 3 and dims == [1]:
        return "GlobalMaxPooling1D" if op in ("amax", "max") else "GlobalAveragePooling1D"
    return {"mean": "Mean", "sum": "Sum", "amax": "Max", "max": "Max", "amin": "Min",
            "min": "Min"}.get(op, op.capitalize())


def shape_only_summary(kinds: Counter) -> str | None:
    """One line listing the layer types drawn by their output shape only, with counts."""
    if not kinds:
        return None
    listed = ", ".join(f"{kind} x{n}" for kind, n in kinds.most_common())
    return f"layers of types nnrender draws by their shape only: {listed}"


def placeholder_warning(name: str, kind: str, reason: str, shape: list[Any]) -> str:
    """The warning for a layer recorded as a placeholder block."""
    return (f"layer {name}: {kind} outputs {reason}; recorded as a placeholder block with "
            f"output shape {shape}")


def undrawable(shape: Sequence[int] | None, is_tensor: bool = True) -> str | None:
    """Why an output (its shape without the batch axis) cannot be drawn; None when it can."""
    if not is_tensor or shape is None:
        return "no tensor"
    if len(shape) < 1:
        return "one value per input"
    if len(shape) > 4:
        return f"rank {len(shape)} values (the renderer draws ranks 1 to 4)"
    return None


def camel(name: str) -> str:
    """An op name as a type: ``adaptive_avg_pool2d`` -> ``AdaptiveAvgPool2d``."""
    return "".join(part[:1].upper() + part[1:] for part in name.strip("_").split("_")) or name


class GraphWalk:
    """What the PyTorch and the ONNX graph walks both keep while they turn nodes into
    entries: entry names made unique the way the Keras reader marks shared layers
    (``name@2``), each warning once, and each value's axes tag and source entries."""

    def __init__(self, batch: int | None) -> None:
        self.batch = batch
        self.entries: list[Any] = []
        self.warnings: list[str] = []
        self.names: set[str] = set()
        self.tags: dict[str, Any] = {}  # value -> channels_first.Tag
        self.src: dict[str, list[str]] = {}  # value -> the entries it comes from
        self.derived: set[str] = set()  # values computed from a model input
        self.shape_only: Counter = Counter()  # unknown types drawn by their shape

    def unique(self, base: str) -> str:
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}@{k}"
        self.names.add(name)
        return name

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
