"""What the PyTorch reader knows about one traced op (a ``torch.fx`` node of an exported
program): its name, its tensor inputs, where its output keeps the batch and the channels
(``channels_first.Tag``), its type in the Keras vocabulary and the config worth keeping.

Works on the nodes' metadata (``node.meta["val"]``: shapes and dtypes as traced), so it
needs no tensor values and imports no framework. Both the training IR (``aten.conv2d``,
``aten.linear``, ``aten.batch_norm``) and the core ATen IR of a decomposed program
(``aten.convolution``, ``aten.addmm``, ``aten._native_batch_norm_legit_no_training``) are
covered.
"""

from __future__ import annotations

import re
from typing import Any

from nnrender.model.channels_first import (
    FEATURES_LAST,
    Tag,
    permuted,
    reduced,
    reshaped,
    spatial,
    transposed,
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

CONV_OPS = frozenset({"conv1d", "conv2d", "conv3d", "convolution", "_convolution",
                      "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"})
NORM_OPS = {"batch_norm": "BatchNormalization", "native_batch_norm": "BatchNormalization",
            "_native_batch_norm_legit_no_training": "BatchNormalization",
            "_native_batch_norm_legit": "BatchNormalization",
            "_native_batch_norm_legit_functional": "BatchNormalization",
            "instance_norm": "InstanceNormalization", "group_norm": "GroupNormalization",
            "native_group_norm": "GroupNormalization", "layer_norm": "LayerNormalization",
            "native_layer_norm": "LayerNormalization", "rms_norm": "RMSNormalization"}
_POOL = re.compile(r"^_?(adaptive_)?(max|avg)_pool(\d)d(_with_indices)?$")
_UPSAMPLE = re.compile(r"^_?upsample_\w+?(\d)d(_aa)?$")
SPATIAL_OPS = CONV_OPS | frozenset(
    k for k in NORM_OPS if NORM_OPS[k] in ("BatchNormalization", "InstanceNormalization",
                                            "GroupNormalization")) | frozenset(
    {"pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle",
     "feature_dropout", "feature_alpha_dropout", "local_response_norm", "im2col"})
FEATURE_OPS = frozenset({"linear", "addmm", "layer_norm", "native_layer_norm", "rms_norm",
                         "embedding", "scaled_dot_product_attention",
                         "_scaled_dot_product_flash_attention_for_cpu",
                         "_scaled_dot_product_efficient_attention"})
RNN_OPS = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "SimpleRNN", "rnn_relu": "SimpleRNN"}
VIEW_OPS = frozenset({"view", "reshape", "_unsafe_view", "flatten", "unflatten", "squeeze",
                      "unsqueeze", "view_as", "reshape_as", "squeeze_copy", "unsqueeze_copy",
                      "view_copy", "_reshape_alias", "alias"})
PERMUTE_OPS = frozenset({"permute", "transpose", "t", "movedim", "swapaxes", "swapdims",
                         "numpy_T", "mT", "permute_copy", "transpose_copy"})
REDUCE_OPS = frozenset({"mean", "sum", "amax", "amin", "max", "min", "var", "std", "norm",
                        "logsumexp", "prod", "var_mean", "std_mean", "argmax", "argmin",
                        "linalg_vector_norm"})
# no entry, the edges look through them (values, not computations)
PASS_OPS = frozenset({"getitem", "contiguous", "clone", "detach", "alias", "to", "_to_copy",
                      "type_as", "expand", "expand_as", "lift_fresh_copy", "copy", "copy_",
                      "float", "half", "double", "int", "long", "bool", "type",
                      "_assert_tensor_metadata", "_assert_scalar", "dropout_",
                      "split", "split_with_sizes", "chunk", "unbind", "tensor_split",
                      "detach_", "requires_grad_", "set_grad_enabled", "_set_grad_enabled"})
# their output depends on the input's shape only: no edge through them
SHAPE_OPS = frozenset({"zeros_like", "ones_like", "empty_like", "full_like", "rand_like",
                       "randn_like", "new_zeros", "new_ones", "new_empty", "new_full",
                       "size", "sym_size", "sym_numel", "sym_stride", "sym_storage_offset",
                       "numel", "dim", "scalar_tensor", "arange", "zeros", "ones", "full",
                       "empty", "eye", "_shape_as_tensor"})
MERGES = {"add": "Add", "sub": "Subtract", "rsub": "Subtract", "mul": "Multiply",
          "div": "Divide", "true_divide": "Divide", "maximum": "Maximum",
          "minimum": "Minimum", "cat": "Concatenate", "concat": "Concatenate",
          "concatenate": "Concatenate", "matmul": "Dot", "bmm": "Dot", "mm": "Dot",
          "baddbmm": "Dot", "einsum": "Dot"}
OTHERS = {"softmax": "Softmax", "_softmax": "Softmax", "log_softmax": "Softmax",
          "_log_softmax": "Softmax", "dropout": "Dropout", "native_dropout": "Dropout",
          "alpha_dropout": "Dropout", "feature_dropout": "Dropout",
          "feature_alpha_dropout": "Dropout", "flatten": "Flatten", "slice": "Slice",
          "select": "Slice", "narrow": "Slice", "index": "Slice", "index_select": "Slice",
          "linear": "Dense", "addmm": "Dense", "embedding": "Embedding",
          "scaled_dot_product_attention": "Attention", "pixel_shuffle": "PixelShuffle",
          "pixel_unshuffle": "PixelUnshuffle", "channel_shuffle": "ChannelShuffle"}
ATTENTION_OPS = frozenset({"scaled_dot_product_attention",
                           "_scaled_dot_product_flash_attention_for_cpu",
                           "_scaled_dot_product_efficient_attention"})


def op_base(target: Any) -> str:
    """``aten.add_.Tensor`` -> ``add``, ``operator.getitem`` -> ``getitem``."""
    name = getattr(target, "_opname", None) or getattr(target, "__name__", None) or str(target)
    name = str(name).rpartition(".")[2]
    return name.rstrip("_") or name if not name.startswith("__") else name.strip("_")


def _dim(d: Any) -> int:
    try:
        return int(d)
    except Exception:  # a symbolic size: its traced value
        hint = getattr(getattr(d, "node", None), "hint", None)
        return int(hint) if hint is not None else -1


def meta_value(node: Any) -> Any:
    return getattr(node, "meta", {}).get("val", getattr(node, "meta", {}).get("example_value"))


def is_tensor_value(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def meta_shape(node: Any) -> list[int] | None:
    """The traced shape of a node's (tensor) output; None for tuples and scalars."""
    value = meta_value(node)
    return [_dim(d) for d in value.shape] if is_tensor_value(value) else None


def meta_dtype(node: Any) -> str:
    value = meta_value(node)
    return str(getattr(value, "dtype", "torch.float32")).replace("torch.", "")


def is_node(value: Any) -> bool:
    return hasattr(value, "op") and hasattr(value, "target") and hasattr(value, "users")


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _flatten(item)]
    if isinstance(value, dict):
        return [v for item in value.values() for v in _flatten(item)]
    return [value]


def node_inputs(node: Any) -> list[Any]:
    """The nodes a node reads, in argument order, each once."""
    found = [v for v in _flatten(list(node.args) + [node.kwargs]) if is_node(v)]
    return list(dict.fromkeys(found))


def _arg(node: Any, index: int, name: str, default: Any = None) -> Any:
    if name in node.kwargs:
        return node.kwargs[name]
    return node.args[index] if len(node.args) > index else default


def _ints(value: Any, n: int, default: int) -> list[int]:
    if value is None or value == []:
        return [default] * n
    if isinstance(value, (list, tuple)):
        vals = [int(v) for v in value]
        return vals * n if len(vals) == 1 else vals
    return [int(value)] * n


def _dims(node: Any, rank: int) -> list[int]:
    dims = _arg(node, 1, "dim", None)
    if dims is None:
        return list(range(rank))
    return [int(d) % rank for d in (dims if isinstance(dims, (list, tuple)) else [dims])]


def node_tag(node: Any, tags: dict[str, Tag]) -> Tag:
    """Where the node's output keeps the batch and the channels (``channels_first``)."""
    base = op_base(node.target)
    shape = meta_shape(node)
    rank = len(shape) if shape is not None else 0
    ins = [n for n in node_inputs(node) if meta_shape(n) is not None]
    first = ins[0] if ins else None
    tag = tags.get(first.name, FEATURES_LAST) if first is not None else FEATURES_LAST
    in_shape = meta_shape(first) if first is not None else None
    if base in SPATIAL_OPS or _POOL.match(base) or _UPSAMPLE.match(base) \
            or base.endswith("_pad1d") or base.endswith("_pad2d") or base.endswith("_pad3d"):
        return spatial(rank) if rank >= 3 else Tag(0, None)
    if base in FEATURE_OPS:
        if base == "embedding" and len(ins) > 1:
            tag = tags.get(ins[1].name, FEATURES_LAST)
        return Tag(tag.batch, None)
    if base in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
        return Tag(0 if _arg(node, 8, "batch_first", False) else 1, None)
    if base == "getitem":
        src = node.args[0]
        if is_node(src) and op_base(src.target) in RNN_OPS:
            return tags.get(src.name, Tag(0, None)) if node.args[1] == 0 else Tag(1, None)
        return tags.get(src.name, FEATURES_LAST) if is_node(src) else FEATURES_LAST
    if in_shape is None or shape is None:
        return tag
    return _moved(node, base, tag, tags, ins, in_shape, shape)


def _moved(node: Any, base: str, tag: Tag, tags: dict[str, Tag], ins: list[Any],
           in_shape: list[int], shape: list[int]) -> Tag:
    """The tag of an op that keeps, moves or drops its input's axes."""
    rank = len(shape)
    if base in VIEW_OPS:
        return reshaped(tag, in_shape, shape)
    if base == "permute" or base == "permute_copy":
        return permuted(tag, [int(d) for d in _arg(node, 1, "dims")])
    if base in ("transpose", "swapaxes", "swapdims", "transpose_copy"):
        return transposed(tag, rank, int(node.args[1]), int(node.args[2]))
    if base in ("t", "numpy_T", "mT") and rank >= 2:
        return transposed(tag, rank, -1, -2)
    if base in REDUCE_OPS:
        keep = bool(_arg(node, 2, "keepdim", False)) or rank == len(in_shape)
        return reduced(tag, _dims(node, len(in_shape)), len(in_shape), keep)
    if base == "select":
        return reduced(tag, [int(node.args[1])], len(in_shape), False)
    if base == "stack":
        return reshaped(tag, in_shape, [s for i, s in enumerate(shape)
                                        if i != int(_arg(node, 1, "dim", 0)) % rank])
    if rank == len(in_shape):
        return tag
    same = next((n for n in ins if len(meta_shape(n) or []) == rank), None)
    return tags.get(same.name, FEATURES_LAST) if same is not None else Tag(0, None)


# --------------------------------------------------------------------------- types


def _conv(node: Any, base: str) -> tuple[str, dict[str, Any]]:
    weight = node.args[1] if len(node.args) > 1 else None
    wshape = meta_shape(weight) if is_node(weight) else None
    if wshape is None:
        return "Conv2D", {}
    if base in ("convolution", "_convolution"):
        transposed_ = bool(_arg(node, 6, "transposed", False))
        groups = int(_arg(node, 8, "groups", 1))
    else:
        transposed_ = base.startswith("conv_transpose")
        groups = int(_arg(node, 6 if transposed_ else 6, "groups", 1))
    kind, config = conv_kind(wshape, groups, transposed_)
    n = len(wshape) - 2
    strides = _ints(_arg(node, 3, "stride", 1), n, 1)
    dilation = _ints(_arg(node, 7 if transposed_ and base != "convolution" else 5,
                          "dilation", 1), n, 1)
    pad = _arg(node, 4, "padding", 0)
    config.update(strides=strides, dilation_rate=dilation,
                  padding=padding_name(pad if isinstance(pad, str) else _ints(pad, n, 0),
                                       config["kernel_size"], dilation))
    return kind, config


def _pool(node: Any, match: re.Match, shape: list[int]) -> tuple[str, dict[str, Any]]:
    adaptive, op, _, _ = match.groups()
    rank = len(shape)
    n = max(1, rank - 2)
    if adaptive:
        out = shape[2:] if rank >= 3 else []
        return pool_kind(op, out, rank), {"output_size": out}
    kernel = _ints(_arg(node, 1, "kernel_size", 2), n, 2)
    strides = _ints(_arg(node, 2, "stride", None) or kernel, n, 1)
    pads = _ints(_arg(node, 3, "padding", 0), n, 0)
    return pool_kind(op, None, rank), {"pool_size": kernel, "strides": strides,
                                       "padding": padding_name(pads, kernel, [1] * n)}


def _rnn(node: Any, base: str) -> tuple[str, dict[str, Any]]:
    hx = _arg(node, 1, "hx", None)
    first = hx[0] if isinstance(hx, (list, tuple)) and hx else hx
    hshape = meta_shape(first) if is_node(first) else None
    bidirectional = bool(_arg(node, 7, "bidirectional", False))
    layers = int(_arg(node, 4, "num_layers", 1))
    config: dict[str, Any] = {"return_sequences": True}
    if hshape:
        config["units"] = hshape[-1]
    if layers > 1:
        config["num_layers"] = layers
    kind = RNN_OPS[base]
    if bidirectional:
        config["layer"] = kind
        return "Bidirectional", config
    return kind, config


def op_type(node: Any, tag: Tag) -> tuple[str, dict[str, Any]]:
    """The Keras type and config of one op (``camel`` of its name when nnrender does not
    know it)."""
    base = op_base(node.target)
    shape = meta_shape(node) or []
    found = _layer_type(node, base, shape)
    if found is not None:
        return found
    if base in OP_ACTIVATIONS:
        config: dict[str, Any] = {"activation": OP_ACTIVATIONS[base]}
        if base == "hardtanh" and tuple(node.args[1:3]) == (0.0, 6.0):
            config["activation"] = "relu6"
        return "Activation", config
    if base in REDUCE_OPS:
        in_shape = meta_shape(node.args[0]) if node.args and is_node(node.args[0]) else None
        if in_shape is not None:  # the input's layout decides what a mean over axes means
            return reduce_kind(base, _dims(node, len(in_shape)), len(in_shape),
                               tag.channel == 1, tag.batch), {}
    if base in MERGES:
        return MERGES[base], {}
    if base in VIEW_OPS:
        return ("Flatten" if base == "flatten" and len(shape) == 2 else "Reshape"), {}
    if base in PERMUTE_OPS:
        return "Permute", {}
    if base in OTHERS:
        return OTHERS[base], {}
    return camel(base), {}


def _layer_type(node: Any, base: str, shape: list[int]) -> tuple[str, dict[str, Any]] | None:
    """The ops that are layers of their own (convolutions, pooling, norms, RNNs)."""
    if base in CONV_OPS:
        return _conv(node, base)
    pool = _POOL.match(base)
    if pool:
        return _pool(node, pool, shape)
    up = _UPSAMPLE.match(base)
    if up:
        return f"UpSampling{spatial_suffix(len(shape))}", {}
    if base.endswith(("_pad1d", "_pad2d", "_pad3d")) or base in ("constant_pad_nd", "pad"):
        return f"ZeroPadding{spatial_suffix(len(shape))}", {}
    if base in NORM_OPS:
        return NORM_OPS[base], {}
    if base in RNN_OPS:
        return _rnn(node, base)
    if base in ATTENTION_OPS:
        q = meta_shape(node.args[0]) if node.args and is_node(node.args[0]) else None
        return "Attention", ({"num_heads": q[1]} if q and len(q) == 4 else {})
    return None


def op_config(node: Any) -> dict[str, Any]:
    """Config worth keeping from one op of a module (see ``op_type``)."""
    base = op_base(node.target)
    if base in ("linear", "addmm"):
        weight = node.args[1] if base == "linear" else node.args[2]
        wshape = meta_shape(weight) if is_node(weight) else None
        if wshape:
            return {"units": wshape[0] if base == "linear" else wshape[-1]}
        return {}
    if base == "embedding":
        wshape = meta_shape(node.args[0]) if is_node(node.args[0]) else None
        return {"input_dim": wshape[0], "output_dim": wshape[1]} if wshape else {}
    if base in ("dropout", "native_dropout", "feature_dropout", "alpha_dropout"):
        p = _arg(node, 1, "p", None)
        return {"rate": float(p)} if isinstance(p, (int, float)) else {}
    if base in ("leaky_relu",) and len(node.args) > 1:
        return {"negative_slope": float(node.args[1])}
    return {}


def feeds_into(node: Any, group: set[str]) -> bool:
    """Whether a node of ``group`` is read outside it (or is the graph's output)."""
    return any(u.name not in group or u.op == "output" for u in node.users)


def softmax_derived(node: Any, group: set[str], depth: int = 12) -> bool:
    """Whether a node is attention probabilities: a softmax seen through views only."""
    for _ in range(depth):
        base = op_base(node.target) if node.op == "call_function" else ""
        if base in ("softmax", "_softmax"):
            return True
        if base not in VIEW_OPS | PERMUTE_OPS | PASS_OPS | {"mean", "dropout"} \
                or node.name not in group or not node.args or not is_node(node.args[0]):
            return False
        node = node.args[0]
    return False
