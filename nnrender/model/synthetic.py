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
                                inbound=[layers[-1].name]))
        hw = max(1, hw // 2)
        layers.append(LayerInfo(f"pool{i}", "MaxPooling2D", [hw, hw, c],
                                inbound=[layers[-1].name]))
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


def write_synthetic(out: str | Path, layers: list[LayerInfo], epochs: int = 3, count: int = 2,
                    seed: int = 0, dtype: str = "float32") -> Path:
    """Write a dump of ``layers`` with ``epochs`` recorded epochs (0..epochs-1)."""
    writer = DumpWriter(out, dtype=dtype)
    try:
        for e in range(epochs):
            acts = [activation(layer.array_shape, count, e, seed + i)
                    for i, layer in enumerate(layers)]
            writer.add_epoch(e, acts, metrics={"accuracy": min(1.0, 0.1 + 0.3 * e)})
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
