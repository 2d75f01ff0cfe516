"""Layer-type colours of architecture figures: pastel, one family per kind of layer (the
look papers draw by hand), lighter and darker members within a family. Pure Python."""

from __future__ import annotations

Color = tuple[float, float, float]


def _hex(code: str) -> Color:
    return tuple(int(code[i:i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


# families: a list of shades, given out in order to the family's types as they appear
FAMILIES: dict[str, list[str]] = {
    "input": ["#d9d9d9"],
    "conv": ["#f6d28b", "#f3bf6b", "#f9e2b0", "#e9b25c"],
    "norm": ["#bcd4ea", "#a3c4e3", "#d2e2f2"],
    "activation": ["#f4b6a6", "#f0a08d", "#f8cdc1"],
    "pool": ["#d9826f", "#c96a58", "#e6a091"],
    "merge": ["#c8b4e0", "#b49ad6", "#dccdee"],
    "dense": ["#a9d6b8", "#8cc8a1", "#c3e3cd"],
    "attention": ["#e7a9d3", "#dc8dc3", "#f0c6e2"],
    "recurrent": ["#9fd3c9", "#84c6ba", "#bde2da"],
    "embedding": ["#e9c77b", "#dfb55a"],
    "shape": ["#e4e4e4", "#cfcfcf", "#efefef", "#c4c4c4"],
}
# the family of each Keras type (PyTorch and ONNX readers name layers the same way)
KINDS: dict[str, str] = {"InputLayer": "input"}
for _family, _types in {
    "conv": "Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose "
            "SeparableConv1D SeparableConv2D DepthwiseConv1D DepthwiseConv2D ConvLSTM2D",
    "norm": "BatchNormalization LayerNormalization GroupNormalization RMSNormalization "
            "InstanceNormalization LocalResponseNormalization UnitNormalization Normalization",
    "activation": "Activation ReLU LeakyReLU PReLU ELU Softmax ThresholdedReLU",
    "pool": "MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D AveragePooling2D "
            "AveragePooling3D GlobalAveragePooling1D GlobalAveragePooling2D "
            "GlobalAveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D",
    "merge": "Add Subtract Multiply Divide Maximum Minimum Average Concatenate Dot",
    "dense": "Dense EinsumDense",
    "attention": "MultiHeadAttention Attention AdditiveAttention GroupQueryAttention "
                 "TransformerEncoderLayer TransformerDecoderLayer",
    "recurrent": "LSTM GRU SimpleRNN Bidirectional RNN",
    "embedding": "Embedding",
    "shape": "Flatten Reshape Permute ZeroPadding1D ZeroPadding2D ZeroPadding3D Cropping1D "
             "Cropping2D Cropping3D UpSampling1D UpSampling2D UpSampling3D Dropout "
             "SpatialDropout1D SpatialDropout2D GaussianNoise Identity RepeatVector Rescaling "
             "Resizing",
}.items():
    KINDS.update(dict.fromkeys(_types.split(), _family))
OTHER = ["#c9d6a3", "#a3b9c9", "#d6b3a3", "#b3a3d6", "#a3d6cf", "#d6a3bd"]
PLACEHOLDER: Color = _hex("#bdbdbd")


def family(layer_type: str) -> str:
    """The family a type's colour comes from (``other`` for types not listed)."""
    return KINDS.get(layer_type, "other")


def type_colors(types: list[str]) -> dict[str, Color]:
    """A colour per distinct type, in order of appearance: each family hands out its shades
    in turn (unknown types share one extra list), so the same model always gets the same
    colours."""
    out: dict[str, Color] = {}
    used: dict[str, int] = {}
    for t in types:
        if t in out:
            continue
        fam = family(t)
        shades = FAMILIES.get(fam, OTHER)
        k = used.get(fam, 0)
        used[fam] = k + 1
        out[t] = _hex(shades[k % len(shades)])
    return out
