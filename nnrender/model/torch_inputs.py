"""What a PyTorch module takes as input, when nothing but the module says it.

An ``nn.Module`` has no declared input (unlike a Keras model or an exported program), so a
builder's module is asked, in order: an ``example_input_array`` attribute (PyTorch
Lightning's convention) or the example a builder returned beside it (``(module,
example)``), else the first layer it registered: a ``Conv2d(3, ...)`` takes (3, H, W)
images channels-first (H and W free: the images keep their size unless ``--input-shape``
says), a ``Linear(64, ...)`` 64 features, an ``Embedding`` integer token ids, an LSTM
(T, features). ``InputSpec`` is one model input in the model's own layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnrender.errors import ModelError
from nnrender.model.channels_first import channels_last_shape


@dataclass
class InputSpec:
    """One model input: shape without the batch axis in the model's layout (None: free),
    dtype, and whether it is channels-first (C, ...)."""

    shape: list[int | None]
    dtype: str = "float32"
    channels_first: bool = False
    more_axes: bool = False  # guessed from a Linear/LSTM: axes before these may be added

    def fitted(self, ndim: int) -> list[int | None]:
        """The shape an array of ``ndim`` axes (batch included) is checked against."""
        extra = ndim - 1 - len(self.shape)
        return [None] * extra + list(self.shape) if self.more_axes and extra > 0 \
            else list(self.shape)

    @property
    def drawn_shape(self) -> list[int | None]:
        """The shape the input loaders fill (channels-last: images as (H, W, C))."""
        return channels_last_shape(self.shape) if self.channels_first else list(self.shape)


def _from_example(example: Any) -> list[InputSpec] | None:
    items = example if isinstance(example, (list, tuple)) else [example]
    specs = []
    for item in items:
        arr = item.detach().cpu().numpy() if hasattr(item, "detach") else np.asarray(item)
        if arr.ndim < 1:
            return None
        rank = arr.ndim
        specs.append(InputSpec([int(d) for d in arr.shape[1:]], str(arr.dtype),
                               channels_first=rank >= 4))
    return specs


def _size(sub: Any, attr: str, axis: int) -> int | None:
    """A layer's size from its attribute, or from its weight's shape (a TorchScript
    module keeps the weights, not always the attributes)."""
    value = getattr(sub, attr, None)
    if isinstance(value, int):
        return value
    weight = getattr(sub, "weight", None)
    shape = getattr(weight, "shape", None)
    return int(shape[axis]) if shape is not None and len(shape) > axis else None


def _first_layer(module: Any) -> list[InputSpec] | None:
    for sub in module.modules():
        name = str(getattr(sub, "original_name", None) or type(sub).__name__)
        conv = name.startswith(("Conv", "LazyConv")) and "Transpose" not in name
        if conv and _size(sub, "in_channels", 1):
            weight = getattr(sub, "weight", None)
            dims = (len(weight.shape) - 2) if weight is not None else 2
            return [InputSpec([_size(sub, "in_channels", 1), *([None] * dims)],
                              channels_first=True)]
        if name.startswith("BatchNorm") and _size(sub, "num_features", 0):
            n = {"BatchNorm1d": 0, "BatchNorm2d": 2, "BatchNorm3d": 3}.get(name, 2)
            return [InputSpec([_size(sub, "num_features", 0), *([None] * n)],
                              channels_first=n > 0)]
        if name in ("Linear", "Bilinear") and _size(sub, "in_features", 1):
            return [InputSpec([_size(sub, "in_features", 1)], more_axes=True)]
        if name in ("Embedding", "EmbeddingBag"):
            return [InputSpec([None], "int64")]
        if name in ("LSTM", "GRU", "RNN") and getattr(sub, "input_size", None):
            return [InputSpec([None, int(sub.input_size)])]
        if name == "MultiheadAttention" and getattr(sub, "embed_dim", None):
            return [InputSpec([None, int(sub.embed_dim)])]
        if name in ("TransformerEncoderLayer", "TransformerDecoderLayer") \
                and hasattr(sub, "self_attn"):
            return [InputSpec([None, int(sub.self_attn.embed_dim)])]
        if name == "LayerNorm" and hasattr(sub, "normalized_shape"):
            return [InputSpec([int(d) for d in sub.normalized_shape], more_axes=True)]
    return None


def input_specs(module: Any, example: Any = None,
                shape: list[int] | None = None) -> list[InputSpec]:
    """The module's inputs (see the module docstring); ``shape`` (``--input-shape``, the
    model's layout) fixes the first input's size."""
    specs = None
    if example is None:
        example = getattr(module, "example_input_array", None)
    if example is not None:
        specs = _from_example(example)
    if specs is None:
        specs = _first_layer(module) or [InputSpec([None])]
    if shape is not None:
        first = specs[0]
        if first.shape and len(first.shape) != len(shape) and first.channels_first:
            raise ModelError("--input-shape", f"the model's first layer takes "
                             f"{len(first.shape)} axes per input ({_show(first.shape)}), "
                             f"not {len(shape)}")
        specs[0] = InputSpec([int(d) for d in shape], first.dtype,
                             first.channels_first or len(shape) >= 3)
    return specs


def _show(shape: list[int | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def parse_shape(text: str) -> list[int]:
    """``3,224,224`` (or ``3x224x224``) as a list of sizes; a one-line error otherwise."""
    parts = [p for p in text.replace("x", ",").replace(" ", "").split(",") if p]
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if not dims or any(d < 1 for d in dims):
        raise ModelError("--input-shape", f"expected sizes like 3,224,224, got {text!r}")
    return dims
