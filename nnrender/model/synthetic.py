"""Synthetic dumps: a CNN-shaped network with smooth, deterministic activations.

Used by tests and benchmarks, where training a real model would be slow or need TensorFlow.
The activations drift smoothly from epoch to epoch, like a network that is learning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnrender.model.ir import DumpWriter, LayerInfo


def cnn_layers(input_hw: int = 8, channels: tuple[int, ...] = (16, 32), dense: tuple[int, ...]
               = (64, 10)) -> list[LayerInfo]:
    """Conv/pool stages then dense layers, named and shaped like a Keras model."""
    layers = [LayerInfo("input", "InputLayer", [input_hw, input_hw, 1])]
    hw = input_hw
    prev = 1
    for i, c in enumerate(channels, start=1):
        layers.append(LayerInfo(f"conv{i}", "Conv2D", [hw, hw, c], params=9 * prev * c + c,
                                inbound=[layers[-1].name],
                                config={"filters": c, "kernel_size": [3, 3], "strides": [1, 1],
                                        "padding": "same"}))
        hw = max(1, hw // 2)
        layers.append(LayerInfo(f"pool{i}", "MaxPooling2D", [hw, hw, c],
                                inbound=[layers[-1].name],
                                config={"pool_size": [2, 2], "strides": [2, 2],
                                        "padding": "valid"}))
        prev = c
    flat = hw * hw * prev
    layers.append(LayerInfo("flatten", "Flatten", [flat], inbound=[layers[-1].name]))
    width = flat
    for i, n in enumerate(dense, start=1):
        name = "output" if i == len(dense) else f"dense{i}"
        layers.append(LayerInfo(name, "Dense", [n], params=width * n + n,
                                inbound=[layers[-1].name]))
        width = n
    return layers


def activation(shape: list[int], count: int, epoch: int, seed: int) -> np.ndarray:
    """Smooth patterns per channel that sharpen with the epoch; deterministic per seed."""
    rng = np.random.default_rng(seed)
    t = 1.0 - np.exp(-0.5 * epoch)
    if len(shape) == 3:
        h, w, c = shape
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w, 1)
        fx = rng.uniform(1, 4, size=c)
        fy = rng.uniform(1, 4, size=c)
        ph = rng.uniform(0, 6.28, size=c)
        base = np.sin(xx[..., None] * fx * 6.28 + ph) * np.cos(yy[..., None] * fy * 6.28)
        noise = rng.normal(size=(h, w, c))
        maps = (1 - t) * noise + t * base
        out = np.stack([np.maximum(maps * (1 + 0.1 * k), 0) for k in range(count)])
    else:
        n = int(np.prod(shape))
        base = rng.normal(size=n)
        out = np.stack([np.abs(base * (0.3 + t) + 0.1 * k) for k in range(count)])
        out = out.reshape(count, *shape)
    return out.astype(np.float32)


def weights(layer: LayerInfo, parent: LayerInfo | None, epoch: int, seed: int
            ) -> list[np.ndarray]:
    """Kernel and bias of a Conv2D (3x3) or Dense layer, Keras-shaped; they drift with the
    epoch so edges change over training. Other layers have none."""
    if parent is None or layer.type not in ("Conv2D", "Dense"):
        return []
    rng = np.random.default_rng(seed)
    n_in, n_out = parent.output_shape[-1], layer.output_shape[-1]
    shape = (3, 3, n_in, n_out) if layer.type == "Conv2D" else (n_in, n_out)
    start, end = rng.normal(size=shape), rng.normal(size=shape)
    t = 1.0 - np.exp(-0.5 * epoch)
    kernel = ((1 - t) * start + t * end) / np.sqrt(np.prod(shape[:-1]))
    return [kernel.astype(np.float32), np.zeros(n_out, np.float32)]


def attention(layer: LayerInfo, count: int, epoch: int, seed: int) -> np.ndarray | None:
    """Attention scores for a layer with ``attention`` info, (count, heads, T, S): softmax
    rows that sharpen with the epoch (each query focuses on a few keys); None otherwise."""
    att = layer.attention
    if att is None:
        return None
    rng = np.random.default_rng(seed)
    shape = (count, att["heads"], att["queries"], att["keys"])
    logits = rng.normal(size=shape) * (1.0 + 1.5 * epoch)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def write_synthetic(out: str | Path, layers: list[LayerInfo], epochs: int = 3, count: int = 2,
                    seed: int = 0, dtype: str = "float32", with_weights: bool = False) -> Path:
    """Write a dump of ``layers`` with ``epochs`` recorded epochs (0..epochs-1); with
    ``with_weights``, Conv2D and Dense layers get kernels (see ``weights``)."""
    writer = DumpWriter(out, dtype=dtype)
    names = {layer.name: layer for layer in layers}
    try:
        for e in range(epochs):
            acts = [activation(layer.array_shape, count, e, seed + i)
                    for i, layer in enumerate(layers)]
            ws = None
            if with_weights:
                ws = [weights(layer, names[layer.inbound[0]] if layer.inbound else None, e,
                              seed + 1000 + i) for i, layer in enumerate(layers)]
            scores = [attention(layer, count, e, seed + 2000 + i) for i, layer in
                      enumerate(layers)]
            writer.add_epoch(e, acts, ws, metrics={"accuracy": min(1.0, 0.1 + 0.3 * e)},
                             attention=scores if any(a is not None for a in scores) else None)
        return writer.finish(
            model={"name": "synthetic", "source": "synthetic", "framework": "numpy"},
            layers=layers,
            inputs={"count": count, "shape": layers[0].output_shape, "source": "synthetic"},
        )
    except BaseException:
        writer.abort()
        raise


def wide_layers(total_maps: int, hw: int = 16, per_layer: int = 512) -> list[LayerInfo]:
    """A deep stack of conv layers adding up to ``total_maps`` feature maps (benchmarks)."""
    layers = [LayerInfo("input", "InputLayer", [hw, hw, 3])]
    left = total_maps - 3
    i = 0
    while left > 0:
        c = min(per_layer, left)
        i += 1
        layers.append(LayerInfo(f"conv{i}", "Conv2D", [hw, hw, c], inbound=[layers[-1].name]))
        left -= c
    return layers


def vit_layers(tokens: int = 17, dim: int = 32, heads: int = 4, blocks: int = 3
               ) -> list[LayerInfo]:
    """A ViT-shaped graph on an 8x8 image: 16 patches, an encoder adding a class token,
    ``blocks`` pre-norm transformer blocks with recorded attention, a head."""
    layers = [LayerInfo("image", "InputLayer", [8, 8, 1]),
              LayerInfo("patches", "Patches", [16, 4], inbound=["image"]),
              LayerInfo("encoder", "PatchEncoder", [tokens, dim], inbound=["patches"])]
    prev = "encoder"
    for b in range(blocks):
        p = f"t{b}"
        att = {"heads": heads, "queries": tokens, "keys": tokens, "query": f"{p}_ln",
               "key": f"{p}_ln"}
        layers += [
            LayerInfo(f"{p}_ln", "LayerNormalization", [tokens, dim], inbound=[prev]),
            LayerInfo(f"{p}_mha", "MultiHeadAttention", [tokens, dim], inbound=[f"{p}_ln"],
                      attention=att),
            LayerInfo(f"{p}_add", "Add", [tokens, dim], inbound=[f"{p}_mha", prev]),
            LayerInfo(f"{p}_mlp", "Dense", [tokens, dim], inbound=[f"{p}_add"]),
            LayerInfo(f"{p}_add2", "Add", [tokens, dim], inbound=[f"{p}_mlp", f"{p}_add"])]
        prev = f"{p}_add2"
    layers += [LayerInfo("pool", "GlobalAveragePooling1D", [dim], inbound=[prev]),
               LayerInfo("head", "Dense", [10], inbound=["pool"])]
    return layers
