"""A PyTorch module's parameters as Keras keeps the same layer's weights. Pure numpy.

``module_weights(kind, config, arrays)`` takes one module's arrays by their local names
(``weight``, ``bias``, ``running_mean``, ``weight_ih_l0`` ...) and returns the list Keras'
``get_weights()`` gives for the layer of type ``kind``: a ``Dense`` [kernel (in, out),
bias], a convolution [kernel in Keras' layout, bias], a ``BatchNormalization`` [gamma,
beta, moving_mean, moving_variance], an ``LSTM`` [kernel, recurrent_kernel, bias] per layer
and direction (gates in Keras' order), a ``MultiHeadAttention`` its query/key/value and
output projections. Other modules keep their float arrays as they are, in state order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnrender.model.channels_first import (
    TORCH_GRU,
    TORCH_LSTM,
    attention_weights,
    conv_kernel,
    dense_kernel,
    depthwise_kernel,
    norm_weights,
    recurrent_weights,
    transpose_kernel,
)

NORMS = frozenset({"LayerNormalization", "GroupNormalization", "RMSNormalization",
                   "InstanceNormalization"})


def _recurrent(kind: str, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    order = TORCH_GRU if kind == "GRU" else TORCH_LSTM
    layer = 0
    while f"weight_ih_l{layer}" in arrays:
        for suffix in ("", "_reverse"):
            key = f"l{layer}{suffix}"
            if f"weight_ih_{key}" not in arrays:
                continue
            if kind == "SimpleRNN":
                out.append(dense_kernel(arrays[f"weight_ih_{key}"]))
                out.append(dense_kernel(arrays[f"weight_hh_{key}"]))
                b = [arrays.get(f"bias_{n}_{key}") for n in ("ih", "hh")]
                out.append(sum(x for x in b if x is not None) if any(x is not None for x in b)
                           else np.zeros(out[-1].shape[1], np.float32))
                continue
            out.extend(recurrent_weights(arrays[f"weight_ih_{key}"], arrays[f"weight_hh_{key}"],
                                         arrays.get(f"bias_ih_{key}"),
                                         arrays.get(f"bias_hh_{key}"), order,
                                         gru=kind == "GRU"))
        layer += 1
    return out


def _attention(arrays: dict[str, np.ndarray], heads: int) -> list[np.ndarray] | None:
    if "in_proj_weight" in arrays:
        w_q, w_k, w_v = np.split(arrays["in_proj_weight"], 3)
    elif all(f"{s}_proj_weight" in arrays for s in "qkv"):
        w_q, w_k, w_v = (arrays[f"{s}_proj_weight"] for s in "qkv")
    else:
        return None
    bias = arrays.get("in_proj_bias")
    biases = list(np.split(bias, 3)) if bias is not None else [None, None, None]
    for i, s in enumerate("qkv"):  # separate key/value sizes keep their own biases
        if biases[i] is None and f"{s}_proj_bias" in arrays:
            biases[i] = arrays[f"{s}_proj_bias"]
    w_out = arrays.get("out_proj.weight")
    if w_out is None:
        return None
    return attention_weights(w_q, w_k, w_v, biases, w_out, arrays.get("out_proj.bias"),
                             max(1, heads))


def _plain(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [a for a in arrays.values() if a.dtype.kind == "f"]


def module_weights(kind: str, config: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    """One module's arrays (local names) as Keras' weights of a ``kind`` layer."""
    if not arrays:
        return []
    weight, bias = arrays.get("weight"), arrays.get("bias")
    extra = [bias] if bias is not None else []
    if kind == "Dense" and weight is not None and weight.ndim == 2:
        return [dense_kernel(weight), *extra]
    if kind.startswith("DepthwiseConv") and weight is not None:
        groups = int(config.get("groups") or weight.shape[0] // config.get("depth_multiplier", 1))
        return [depthwise_kernel(weight, groups), *extra]
    if kind.startswith("Conv") and kind.endswith("Transpose") and weight is not None:
        return [transpose_kernel(weight), *extra]
    if kind.startswith("Conv") and weight is not None:
        return [conv_kernel(weight), *extra]
    if kind == "BatchNormalization":
        mean = arrays.get("running_mean")
        channels = next((a.shape[0] for a in (weight, mean) if a is not None), 0)
        return norm_weights(weight, bias, mean, arrays.get("running_var"), channels)
    if kind in NORMS:
        return [a for a in (weight, bias) if a is not None]
    if kind == "Embedding" and weight is not None:
        return [weight]
    if kind in ("LSTM", "GRU", "SimpleRNN") or config.get("layer") in ("LSTM", "GRU",
                                                                        "SimpleRNN"):
        found = _recurrent(config.get("layer", kind), arrays)
        if found:
            return found
    if kind == "MultiHeadAttention":
        found = _attention(arrays, int(config.get("num_heads", 1)))
        if found is not None:
            return found
    return _plain(arrays)


def entry_weights(kind: str, config: dict[str, Any], path: str,
                  arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The Keras-layout weights of the module at ``path`` (``""``: the model itself) from
    arrays by state-dict name."""
    prefix = path + "." if path else ""
    local = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    local.pop("num_batches_tracked", None)
    return module_weights(kind, config, local)


def param_count(path: str, arrays: dict[str, np.ndarray]) -> int:
    """The weights under module ``path`` (``""``: all of them)."""
    prefix = path + "." if path else ""
    return int(sum(a.size for k, a in arrays.items() if k.startswith(prefix)))
