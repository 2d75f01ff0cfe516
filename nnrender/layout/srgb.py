"""sRGB bytes <-> linear light through lookup tables: the texture sampler's maths, done in
numpy for Workbench, whose frames are blended on the CPU (a power per pixel is what made a
Workbench frame of ResNet-50 take seconds)."""

from __future__ import annotations

import numpy as np


def _srgb_to_linear_table() -> np.ndarray:
    c = np.arange(256, dtype=np.float32) / np.float32(255.0)
    rgb = np.where(c <= 0.04045, c / np.float32(12.92), ((c + np.float32(0.055))
                                                         / np.float32(1.055)) ** np.float32(2.4))
    return rgb.astype(np.float32)


_LINEAR = _srgb_to_linear_table()  # sRGB byte -> linear, as the texture sampler decodes it
_ALPHA = (np.arange(256, dtype=np.float32) / np.float32(255.0)).astype(np.float32)
_SRGB_STEPS = 1 << 16
_SRGB = np.rint(255 * np.where(
    (lin := np.linspace(0, 1, _SRGB_STEPS)) <= 0.0031308, lin * 12.92,
    1.055 * lin ** (1 / 2.4) - 0.055)).astype(np.uint8)  # linear (16-bit steps) -> sRGB byte


def to_linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB bytes to linear floats through a 256-entry table (alpha stays linear)."""
    out = np.empty(srgb.shape, dtype=np.float32)
    out[..., :3] = _LINEAR[srgb[..., :3]]
    out[..., 3:] = _ALPHA[srgb[..., 3:]]
    return out


def to_srgb(lin: np.ndarray) -> np.ndarray:
    """Linear floats to sRGB bytes through a 65536-step table: a power per pixel is what made
    a Workbench frame of ResNet-50 take seconds."""
    idx = np.clip(lin, 0, 1) * np.float32(_SRGB_STEPS - 1)
    np.rint(idx, out=idx)
    idx = idx.astype(np.uint16)
    out = _SRGB[idx]
    out[..., 3:] = np.rint(lin[..., 3:].clip(0, 1) * 255).astype(np.uint8)
    return out


def scaled_table(factor: float) -> np.ndarray:
    """sRGB byte -> the sRGB byte of its linear light times ``factor`` (256 entries): what
    a shader's multiply does to a texture, applied to a tile by indexing."""
    lin = np.clip(_LINEAR * np.float32(factor), 0, 1) * np.float32(_SRGB_STEPS - 1)
    return _SRGB[np.rint(lin).astype(np.uint16)]
