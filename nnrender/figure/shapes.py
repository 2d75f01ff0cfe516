"""Shapes-only dumps, for architecture figures of a model with no inputs and no weights at
hand: the manifest (layers, output shapes, inbound layers) as any dump has it, and one epoch
of activations that are all zero and stored at the smallest size (one map of one pixel per
layer), without weights. ``nnrender dump MODEL --shapes-only`` writes one; the model is run
once on zero inputs to learn its shapes. Such a dump plans like any other (its maps are
blank); ``model["shapes_only"]`` says what it is. Pure numpy: no framework here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.model.ir import MANIFEST, Manifest

FLAG = "shapes_only"
FREE_SIDE = 32  # an input axis of any size (None) is run at this size
STORAGE = {"max_maps": 1, "max_side": 1, "no_weights": True}  # dump options it implies


def is_shapes_only(manifest: Manifest) -> bool:
    """Whether a dump holds shapes only (no real activations to show)."""
    return bool(manifest.model.get(FLAG))


def zero_inputs(shapes: Sequence[Sequence[int | None]]) -> np.ndarray | list[np.ndarray]:
    """One sample of zeros per model input (axes of any size at ``FREE_SIDE``): one array
    for a model with one input, else a list in input order. The dump casts them to each
    input's dtype (integer token ids stay integers)."""
    xs = [np.zeros((1, *[FREE_SIDE if d is None else int(d) for d in shape]),
                   dtype=np.float32) for shape in shapes]
    return xs[0] if len(xs) == 1 else xs


def _rewrite_zeros(path: Path) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: np.zeros(npz[k].shape, dtype=npz[k].dtype) for k in npz.files}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def mark_shapes_only(dump: str | Path) -> Path:
    """Turn a dump written from zero inputs into a shapes-only one: its activations and
    inputs zeroed, ``model["shapes_only"]`` set."""
    dump = Path(dump)
    data: dict[str, Any] = json.loads((dump / MANIFEST).read_text(encoding="utf-8"))
    for ep in data.get("epochs", []):
        _rewrite_zeros(dump / ep["activations"])
    inputs = dump / "arrays" / "inputs.npz"
    if inputs.is_file():
        _rewrite_zeros(inputs)
    data.setdefault("model", {})[FLAG] = True
    data.setdefault("inputs", {})["source"] = "zeros (shapes only)"
    tmp = dump / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, dump / MANIFEST)
    return dump
