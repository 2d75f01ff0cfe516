"""Named colour maps as 256-entry tables, shipped as data: no plotting library needed."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import numpy as np

NAMES = ("viridis", "magma", "inferno", "plasma", "cividis", "gray", "coolwarm")


@cache
def lut(name: str) -> np.ndarray:
    """(256, 3) uint8 sRGB table of the named map."""
    if name not in NAMES:
        raise KeyError(name)
    data = json.loads(resources.files("nnrender").joinpath("data/colormaps.json").read_text())
    hexes = data[name]
    arr = np.frombuffer(bytes.fromhex(hexes), dtype=np.uint8).reshape(256, 3)
    arr.setflags(write=False)
    return arr


def apply(name: str, values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] (clipped) to uint8 sRGB colours, shape (*values.shape, 3)."""
    scaled = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    idx = np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.intp)
    return lut(name)[idx]


@cache
def _lut32(name: str) -> np.ndarray:
    rgba = np.concatenate([lut(name), np.full((256, 1), 255, dtype=np.uint8)], axis=1)
    return np.ascontiguousarray(rgba).view(np.uint32).ravel()


def apply_rgba(name: str, values: np.ndarray) -> np.ndarray:
    """Like ``apply`` but opaque RGBA, through one 4-byte table look-up: big networks colour
    tens of millions of pixels, and this is several times faster than gathering 3 bytes.
    NaN maps to the low end (callers mark NaN cells themselves)."""
    scaled = np.asarray(values, dtype=np.float32) * np.float32(255.0)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    idx = np.nan_to_num(scaled, copy=False).astype(np.uint8)
    return _lut32(name)[idx].view(np.uint8).reshape(*idx.shape, 4)
