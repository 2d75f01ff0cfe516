"""What the ONNX reader knows about one node: its attributes, where its outputs keep the
batch and the channels (``channels_first.Tag``), its type in the Keras vocabulary, and its
weights (initializers, also behind ``Identity`` and ``Constant`` nodes) in Keras' layout.

Shapes come from a first run (every value's concrete shape), so views and reshapes are
followed exactly. Gate orders: ONNX keeps an LSTM's gates as i, o, f, c (Keras: i, f, c,
o) and a GRU's as z, r, h (as Keras).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnrender.model.channels_first import (
    FEATURES_LAST,
    ONNX_LSTM,
    Tag,
    conv_kernel,
    dense_kernel,
    depthwise_kernel,
    norm_weights,
    permuted,
    recurrent_weights,
    reduced,
    reshaped,
    spatial,
    transpose_kernel,
)
from nnrender.model.layer_kinds import (
    OP_ACTIVATIONS,
    camel,
    conv_kind,
    padding_name,
    pool_kind,
    reduce_kind,
    spatial_suffix,
)
from nnrender.model.onnx_env import onnx_module

SPATIAL = frozenset({"Conv", "ConvTranspose", "BatchNormalization", "InstanceNormalization",
                     "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool",
                     "GlobalLpPool", "LRN", "DepthToSpace", "SpaceToDepth",
                     "GroupNormalization", "MaxUnpool"})
VIEWS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})
REDUCES = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "amax", "ReduceMin": "amin",
           "ReduceL2": "norm", "ReduceProd": "prod", "ReduceLogSumExp": "logsumexp"}
RECURRENT = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}
PASS = frozenset({"Identity", "Cast", "CastLike", "Expand", "Split", "Constant",
                  "SequenceConstruct"})
SHAPE = frozenset({"Shape", "Size", "ConstantOfShape", "EyeLike", "RandomNormalLike",
                   "RandomUniformLike"})
TYPES = {"Add": "Add", "Sub": "Subtract", "Mul": "Multiply", "Div": "Divide",
         "Max": "Maximum", "Min": "Minimum", "Sum": "Add", "Concat": "Concatenate",
         "Softmax": "Softmax", "LogSoftmax": "Softmax", "Dropout": "Dropout",
         "Transpose": "Permute", "Slice": "Slice", "Gather": "Slice", "Pad": "ZeroPadding2D",
         "BatchNormalization": "BatchNormalization", "LayerNormalization": "LayerNormalization",
         "InstanceNormalization": "InstanceNormalization",
         "GroupNormalization": "GroupNormalization", "Einsum": "Dot",
         "DepthToSpace": "PixelShuffle", "SpaceToDepth": "PixelUnshuffle",
         "Identity": "Identity", "Gemm": "Dense"}


def attrs(node: Any) -> dict[str, Any]:
    """A node's attributes by name, as Python values."""
    helper = onnx_module().helper
    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


class Constants:
    """Initializers and constant values by name (``Constant`` nodes, ``Identity`` of an
    initializer)."""

    def __init__(self, graph: Any) -> None:
        from nnrender.model.onnx_env import to_array

        self.arrays: dict[str, np.ndarray] = {i.name: to_array(i) for i in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and node.output:
                value = attrs(node).get("value")
                if value is not None and hasattr(value, "dims"):
                    self.arrays[node.output[0]] = to_array(value)
                elif "value_float" in attrs(node) or "value_int" in attrs(node):
                    a = attrs(node)
                    self.arrays[node.output[0]] = np.asarray(a.get("value_float",
                                                                   a.get("value_int")))
        for node in graph.node:
            if node.op_type == "Identity" and node.input and node.input[0] in self.arrays:
                self.arrays[node.output[0]] = self.arrays[node.input[0]]

    def get(self, name: str) -> np.ndarray | None:
        return self.arrays.get(name)


def _ints(value: Any, n: int, default: int) -> list[int]:
    if value is None:
        return [default] * n
    return [int(v) for v in value]


def _axes(node: Any, consts: Constants, rank: int) -> list[int]:
    a = attrs(node)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        found = consts.get(node.input[1])
        axes = found.tolist() if found is not None else None
    if axes is None:
        return [] if a.get("noop_with_empty_axes") else list(range(rank))
    return [int(x) % rank for x in np.atleast_1d(axes)]


def node_tag(node: Any, ins: list[tuple[str, Tag, list[int]]], out_shape: list[int],
             consts: Constants, index: int = 0) -> Tag:
    """Where output ``index`` of a node keeps the batch and the channels (``ins``: its
    input values with tags and shapes, data inputs first)."""
    op = node.op_type
    rank = len(out_shape)
    tag, shape = (ins[0][1], ins[0][2]) if ins else (FEATURES_LAST, [])
    if op in SPATIAL:
        return spatial(rank) if rank >= 3 else Tag(0, None)
    if op in RECURRENT:
        layout = int(attrs(node).get("layout", 0))
        if index == 0:
            return Tag(0, None) if layout else Tag(2, None)
        return Tag(0 if layout else 1, None)
    if op in ("Gemm", "MatMul", "LayerNormalization"):
        return Tag(tag.batch, None)
    if op == "Gather" and consts.get(node.input[0]) is not None and len(ins) >= 1:
        return Tag(ins[-1][1].batch, None)  # an embedding: the indices' batch
    if not shape:
        return tag
    if op == "Transpose":
        perm = attrs(node).get("perm") or list(reversed(range(len(shape))))
        return permuted(tag, [int(p) for p in perm])
    if op in VIEWS:
        return reshaped(tag, shape, out_shape)
    if op in REDUCES:
        keep = bool(attrs(node).get("keepdims", 1))
        return reduced(tag, _axes(node, consts, len(shape)), len(shape), keep)
    if op == "Gather":
        idx = consts.get(node.input[1]) if len(node.input) > 1 else None
        if idx is not None and idx.ndim == 0:
            return reduced(tag, [int(attrs(node).get("axis", 0))], len(shape), False)
    if rank == len(shape):
        return tag
    same = next((t for _, t, s in ins if len(s) == rank), None)
    return same if same is not None else Tag(0, None)


def node_type(node: Any, consts: Constants, in_tag: Tag, in_shape: list[int],
              out_shape: list[int]) -> tuple[str, dict[str, Any]]:
    """One node's Keras type and config (``camel`` of the op when nnrender does not know
    it)."""
    op, a = node.op_type, attrs(node)
    rank = len(out_shape)
    found = _layer_type(node, consts, a, rank)
    if found is not None:
        return found
    if op == "Gather" and consts.get(node.input[0]) is not None:
        data = consts.get(node.input[0])
        return "Embedding", {"input_dim": int(data.shape[0]), "output_dim": int(data.shape[-1])}
    if op == "MatMul":
        w = consts.get(node.input[1])
        return ("Dense", {"units": int(w.shape[-1])}) if w is not None else ("Dot", {})
    if op == "Gemm":
        w = consts.get(node.input[1])
        units = (w.shape[0] if a.get("transB") else w.shape[1]) if w is not None else None
        return "Dense", ({"units": int(units)} if units else {})
    if op in OP_ACTIVATIONS:
        return "Activation", {"activation": OP_ACTIVATIONS[op]}
    if op == "Clip":
        return "Activation", {"activation": "relu6"}
    if op in REDUCES and in_shape:
        return reduce_kind(REDUCES[op], _axes(node, consts, len(in_shape)), len(in_shape),
                           in_tag.channel == 1, in_tag.batch), {}
    if op in VIEWS:
        return ("Flatten" if rank == 2 and len(in_shape) > 2 else "Reshape"), {}
    if op in ("Resize", "Upsample"):
        return f"UpSampling{spatial_suffix(rank)}", {}
    if op == "Pad":
        return f"ZeroPadding{spatial_suffix(rank)}", {}
    if op in TYPES:
        return TYPES[op], {}
    return camel(op), {}


def _layer_type(node: Any, consts: Constants, a: dict[str, Any], rank: int
                ) -> tuple[str, dict[str, Any]] | None:
    """Convolutions, pooling and recurrent layers."""
    op = node.op_type
    if op in ("Conv", "ConvTranspose"):
        w = consts.get(node.input[1])
        if w is None:
            return "Conv2D", {}
        kind, config = conv_kind(w.shape, int(a.get("group", 1)), op == "ConvTranspose")
        n = w.ndim - 2
        pads = _ints(a.get("pads"), 2 * n, 0)
        dilation = _ints(a.get("dilations"), n, 1)
        config.update(strides=_ints(a.get("strides"), n, 1), dilation_rate=dilation,
                      padding=padding_name(pads[:n] if pads[:n] == pads[n:] else pads,
                                           config["kernel_size"], dilation))
        return kind, config
    if op in ("MaxPool", "AveragePool", "LpPool"):
        kernel = _ints(a.get("kernel_shape"), 2, 2)
        return pool_kind("max" if op == "MaxPool" else "avg", None, rank), {
            "pool_size": kernel, "strides": _ints(a.get("strides"), len(kernel), 1)}
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        return pool_kind("max" if op == "GlobalMaxPool" else "avg", [1], rank), {
            "keepdims": True}
    if op in RECURRENT:
        hidden = int(a.get("hidden_size", 0))
        config = {"units": hidden, "return_sequences": True}
        if a.get("direction") == "bidirectional":
            return "Bidirectional", {**config, "layer": RECURRENT[op]}
        return RECURRENT[op], config
    return None


def _recurrent(op: str, w: np.ndarray, r: np.ndarray, b: np.ndarray | None
               ) -> list[np.ndarray]:
    """An ONNX LSTM/GRU/RNN's W, R, B per direction as Keras' weights."""
    out: list[np.ndarray] = []
    order = ONNX_LSTM if op == "LSTM" else (0, 1, 2) if op == "GRU" else (0,)
    for d in range(w.shape[0]):
        bias = b[d] if b is not None else None
        half = bias.shape[0] // 2 if bias is not None else 0
        out += recurrent_weights(w[d], r[d], bias[:half] if bias is not None else None,
                                 bias[half:] if bias is not None else None, order,
                                 gru=op == "GRU")
    return out


def node_weights(node: Any, consts: Constants, kind: str, config: dict[str, Any],
                 nodes: list[Any]) -> list[np.ndarray]:
    """The weights of an entry whose main node is ``node`` (``nodes``: the entry's nodes, for
    a MatMul's bias), in Keras' layout."""
    op = node.op_type
    get = [consts.get(i) if i else None for i in node.input]
    get += [None] * (6 - len(get))
    if op == "Conv" and get[1] is not None:
        if kind.startswith("DepthwiseConv"):
            w = depthwise_kernel(get[1], int(attrs(node).get("group", 1)))
        else:
            w = conv_kernel(get[1])
        return [w] + ([get[2]] if get[2] is not None else [])
    if op == "ConvTranspose" and get[1] is not None:
        return [transpose_kernel(get[1])] + ([get[2]] if get[2] is not None else [])
    if op == "Gemm" and get[1] is not None:
        w = dense_kernel(get[1]) if attrs(node).get("transB") else get[1]
        return [w] + ([get[2]] if get[2] is not None else [])
    if op == "MatMul" and get[1] is not None:
        out = [get[1]]
        for n in nodes:
            if n.op_type == "Add" and node.output[0] in n.input:
                bias = [consts.get(i) for i in n.input if consts.get(i) is not None]
                out += bias[:1]
        return out
    if op == "BatchNormalization" and get[1] is not None:
        return norm_weights(get[1], get[2], get[3], get[4], get[1].shape[0])
    if op in ("LayerNormalization", "InstanceNormalization", "GroupNormalization"):
        return [w for w in get[1:3] if w is not None]
    if op == "Gather" and get[0] is not None:
        return [get[0]]
    if op in RECURRENT and get[1] is not None and get[2] is not None:
        return _recurrent(op, get[1], get[2], get[3])
    seen: list[np.ndarray] = []
    for n in nodes:
        for name in n.input:
            arr = consts.get(name)
            if arr is not None and arr.dtype.kind == "f" and arr.size > 1 \
                    and not any(arr is s for s in seen):
                seen.append(arr)
    return seen
