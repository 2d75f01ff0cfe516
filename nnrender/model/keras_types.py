"""What the Keras reader knows about a layer: its kind, the config worth keeping, and whether
its output can be drawn.

- ``KNOWN_TYPES``: Keras' own layer classes whose output the renderer draws by its shape
  (rank 1 vector, 2 tokens, 3 maps, 4 volume). A layer of another type whose output has one
  of these ranks is recorded as it is (its class name as ``type``), with no warning of its
  own: ``shape_only_summary`` lists such types in one line. ``config["base"]`` names the
  nearest known Keras class a custom layer derives from (a ``MultiHeadAttention`` subclass).
- ``undrawable``: the reason an output has no drawable shape (rank 0 or above 4, strings,
  ragged or sparse tensors, a dict of outputs); such layers are placeholders
  (``config["generic"] = True``) with a warning naming them.
- ``small_config``: the config fields worth showing (``CONFIG_KEYS``); a wrapper
  (``Bidirectional``, ``TimeDistributed``) names its inner layer's class in ``layer`` and
  adds the inner layer's fields it does not set itself (``units``, ``return_sequences``...).
- ``is_container``: a layer whose nested layer calls are recorded as a sub-graph: a
  Functional/Sequential model, or a custom (non-Keras) layer with sublayers that does not
  derive from a known Keras layer (a ``MultiHeadAttention`` subclass stays one layer).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from nnrender.model.capture import json_safe
from nnrender.model.keras_env import functional_class, keras_module

# Layer config fields worth showing in a picture or a figure caption.
CONFIG_KEYS = (
    "filters",
    "kernel_size",
    "strides",
    "dilation_rate",
    "depth_multiplier",
    "groups",
    "pool_size",
    "padding",
    "units",
    "activation",
    "rate",
    "data_format",
    "return_sequences",
    "return_state",
    "go_backwards",
    "merge_mode",
    "num_heads",
    "num_query_heads",
    "num_key_value_heads",
    "key_dim",
    "value_dim",
    "head_dim",
    "input_dim",
    "output_dim",
    "patch_size",
    "num_patches",
    "projection_dim",
    "embed_dim",
    "height",
    "width",
    "target_shape",
    "layer",
)

KNOWN_TYPES = frozenset(
    """
    InputLayer Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose
    Convolution1D Convolution2D Convolution3D Convolution1DTranspose Convolution2DTranspose
    Convolution3DTranspose DepthwiseConv1D DepthwiseConv2D SeparableConv1D SeparableConv2D
    SeparableConvolution1D SeparableConvolution2D
    MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D AveragePooling2D AveragePooling3D
    MaxPool1D MaxPool2D MaxPool3D AvgPool1D AvgPool2D AvgPool3D
    AdaptiveAveragePooling1D AdaptiveAveragePooling2D AdaptiveAveragePooling3D
    AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D
    GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D
    GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D
    GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D GlobalAvgPool1D GlobalAvgPool2D
    GlobalAvgPool3D
    Dense EinsumDense Flatten Reshape Permute RepeatVector Lambda Masking
    BatchNormalization LayerNormalization GroupNormalization UnitNormalization RMSNormalization
    SpectralNormalization
    Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianNoise GaussianDropout
    AlphaDropout ActivityRegularization Activation ReLU LeakyReLU PReLU ELU Softmax
    Add Subtract Multiply Average Maximum Minimum Concatenate Dot
    UpSampling1D UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D
    Cropping1D Cropping2D Cropping3D Embedding ReversibleEmbedding
    LSTM GRU SimpleRNN RNN Bidirectional TimeDistributed ConvLSTM1D ConvLSTM2D ConvLSTM3D
    MultiHeadAttention GroupQueryAttention GroupedQueryAttention Attention AdditiveAttention
    Rescaling Normalization Identity Resizing CenterCrop Discretization CategoryEncoding
    Hashing HashedCrossing IntegerLookup StringLookup TextVectorization
    MelSpectrogram STFTSpectrogram
    AugMix AutoContrast CutMix Equalization MixUp RandAugment Solarization
    ContrastLimitedAdaptiveHistogramEqualization MaxNumBoundingBoxes Pipeline
    RandomBrightness RandomColorDegeneration RandomColorJitter RandomContrast RandomCrop
    RandomElasticTransform RandomErasing RandomFlip RandomGaussianBlur RandomGrayscale
    RandomHue RandomInvert RandomPerspective RandomPosterization RandomRotation
    RandomSaturation RandomSharpness RandomShear RandomTranslation RandomZoom
    """.split()
)
MAX_RANK = 4  # volume (T, H, W, C): the highest rank the renderer draws by shape


def is_builtin(layer: Any) -> bool:
    """A layer class of Keras itself (not the user's, nor another library's)."""
    module = type(layer).__module__ or ""
    return module == "keras" or module.startswith("keras.")


def known_base(layer: Any) -> str | None:
    """The nearest known Keras class a custom layer derives from (None: none, or the layer
    is of a known type itself)."""
    if type(layer).__name__ in KNOWN_TYPES and is_builtin(layer):
        return None
    for cls in type(layer).__mro__[1:]:
        module = cls.__module__ or ""
        if cls.__name__ in KNOWN_TYPES and module.startswith("keras."):
            return cls.__name__
    return None


def small_config(layer: Any) -> dict[str, Any]:
    """The layer's config fields worth showing (``CONFIG_KEYS``), as JSON values; a wrapper
    adds its inner layer's."""
    try:
        config = layer.get_config()
    except Exception:  # custom layers without get_config: the picture does without
        config = {}
    out = {k: json_safe(config[k]) for k in CONFIG_KEYS if k in config}
    keras = keras_module()
    inner = None  # a wrapper's inner layer (Bidirectional keeps a forward copy of it)
    if isinstance(layer, keras.layers.Wrapper) or is_builtin(layer):
        inner = getattr(layer, "layer", None) or getattr(layer, "forward_layer", None)
    if isinstance(inner, keras.layers.Layer) and inner is not layer:
        out["layer"] = type(inner).__name__
        for key, value in small_config(inner).items():
            out.setdefault(key, value)
    base = known_base(layer)
    if base is not None:
        out["base"] = base
    return out


def functional_of(op: Any) -> Any | None:
    """The functional graph behind a Functional or built Sequential model, else None (an
    ordinary layer, or a subclassed model whose ``call`` we cannot look into)."""
    keras = keras_module()
    functional = functional_class()
    if functional is None:  # private module moved: nested models are then drawn as one block
        return None
    if isinstance(op, keras.Sequential):
        fn = getattr(op, "_functional", None)
        return fn if isinstance(fn, functional) else None
    if isinstance(op, functional) and type(op).call is functional.call:
        return op
    return None


def sublayers(layer: Any) -> list[Any]:
    """The layer's direct sublayers (attributes, lists of layers...)."""
    keras = keras_module()
    try:
        found = list(layer._layers)
    except Exception:  # private attribute gone: look through the attributes instead
        found = []
        for value in vars(layer).values():
            items = value if isinstance(value, (list, tuple)) else [value]
            found.extend(v for v in items if isinstance(v, keras.layers.Layer))
    return [s for s in found if isinstance(s, keras.layers.Layer) and s is not layer]


def is_model(layer: Any) -> bool:
    """A Functional or Sequential model: inside a custom layer its calls are flattened like
    a nested model's (no entry of its own)."""
    return functional_of(layer) is not None or isinstance(layer, keras_module().Sequential)


def is_container(layer: Any) -> bool:
    """Whether the layer's nested calls are recorded (see the module docstring): Keras'
    own layers (MultiHeadAttention's projections, an LSTM's cell) never are."""
    if is_model(layer):
        return True
    if is_builtin(layer) or known_base(layer) is not None:  # a variant of a Keras layer
        return False
    return bool(sublayers(layer))


def undrawable(outputs: Any, first: Any) -> str | None:
    """Why a layer's output (``first`` of ``outputs``, a KerasTensor or a tensor with the
    batch axis) has no drawable shape; None when it has one."""
    keras = keras_module()
    if isinstance(outputs, dict):
        return "a dict of outputs"
    if first is None or getattr(first, "shape", None) is None:
        return "no tensor"
    if getattr(first, "ragged", False):
        return "a ragged tensor"
    if getattr(first, "sparse", False):
        return "a sparse tensor"
    try:
        dtype = keras.backend.standardize_dtype(first.dtype)
    except Exception:
        dtype = str(getattr(first, "dtype", ""))
    if not any(dtype.startswith(k) for k in ("float", "int", "uint", "bool", "bfloat")):
        return f"{dtype} values"
    rank = len(first.shape) - 1
    if rank < 1:
        return "one value per input"
    if rank > MAX_RANK:
        return f"rank {rank} values (the renderer draws ranks 1 to {MAX_RANK})"
    return None


def placeholder_warning(name: str, kind: str, reason: str, shape: list[Any]) -> str:
    """The warning for a layer recorded as a placeholder block."""
    return (f"layer {name}: {kind} outputs {reason}; recorded as a placeholder block with "
            f"output shape {shape}")


def shape_only_summary(kinds: Counter) -> str | None:
    """One line listing the layer types drawn by their output shape only, with counts."""
    if not kinds:
        return None
    listed = ", ".join(f"{kind} x{n}" for kind, n in kinds.most_common())
    return f"layers of types nnrender draws by their shape only: {listed}"
