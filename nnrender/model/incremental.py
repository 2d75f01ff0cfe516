"""A dump that grows one epoch at a time, for recording while training runs.

Unlike ``DumpWriter`` (all epochs, then one swap), each epoch here is complete on its own:
its arrays are written under a temporary name and renamed, then the manifest is replaced
atomically. A training run killed at any point leaves a valid dump of the epochs finished
so far, and a resumed run appends to it. Pure numpy: no TensorFlow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import DumpError
from nnrender.model.ir import (
    MANIFEST,
    EpochInfo,
    LayerInfo,
    Manifest,
    check_dump_target,
    epoch_arrays,
    numeric_metrics,
)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


class DumpAppender:
    """Opens (or starts) a dump folder and appends epochs to it."""

    def __init__(self, out: str | Path, model: dict[str, Any], layers: list[LayerInfo],
                 inputs: dict[str, Any], input_arrays: dict[str, np.ndarray] | None = None,
                 dtype: str = "float32") -> None:
        self.out = check_dump_target(out)
        self.dtype = np.dtype(dtype)
        self.model = model
        self.layers = layers
        self.inputs = inputs
        self.epochs: list[EpochInfo] = []
        mpath = self.out / MANIFEST
        if mpath.is_file():
            try:
                old = Manifest.from_json(json.loads(mpath.read_text(encoding="utf-8")), mpath)
            except json.JSONDecodeError as exc:
                raise DumpError(mpath, f"corrupt JSON: {exc}") from None
            mine = [(la.name, la.type, la.output_shape) for la in layers]
            theirs = [(la.name, la.type, la.output_shape) for la in old.layers]
            if mine != theirs:
                raise DumpError(mpath, "the folder holds a dump of a different architecture; "
                                       "record into a new folder")
            if [(la.stored_shape, la.channels, la.positions, la.attention) for la in layers] \
                    != [(la.stored_shape, la.channels, la.positions, la.attention)
                        for la in old.layers]:
                raise DumpError(mpath, "the folder's dump was stored with other max_maps/"
                                       "max_side/max_tokens settings (or attention); use the "
                                       "same ones or a new folder")
            if not self._same_inputs(old, input_arrays):
                raise DumpError(mpath, "the folder's dump was recorded for other inputs")
            self.epochs = list(old.epochs)
        (self.out / "arrays").mkdir(parents=True, exist_ok=True)
        if input_arrays:
            _save_npz(self.out / "arrays" / "inputs.npz", input_arrays)

    def _same_inputs(self, old: Manifest, arrays: dict[str, np.ndarray] | None) -> bool:
        if int(old.inputs.get("count", -1)) != int(self.inputs.get("count", -2)):
            return False
        stored = self.out / "arrays" / "inputs.npz"
        if not arrays or not stored.is_file():
            return True
        try:
            with np.load(stored, allow_pickle=False) as npz:
                return set(npz.files) == set(arrays) and all(
                    np.array_equal(npz[k], np.asarray(v)) for k, v in arrays.items())
        except Exception:  # unreadable: it will be rewritten below
            return True

    @property
    def recorded(self) -> list[int]:
        return [ep.epoch for ep in self.epochs]

    def add_epoch(self, epoch: int, activations: list[np.ndarray],
                  weights: list[list[np.ndarray]] | None = None,
                  metrics: dict[str, Any] | None = None, source: str | None = None,
                  attention: list[np.ndarray | None] | None = None) -> EpochInfo:
        """Write one epoch; an epoch number recorded before is replaced (a re-run), and any
        later ones are dropped, since training restarted from here."""
        files = epoch_arrays(epoch, activations, weights, self.dtype, attention=attention)
        for rel, arrays in files:
            _save_npz(self.out / rel, arrays)
        act_rel, w_rel = files[0][0], (files[1][0] if len(files) > 1 else None)
        clean = numeric_metrics(metrics)
        info = EpochInfo(epoch=epoch, activations=act_rel, weights=w_rel, source=source,
                         metrics=clean)
        dropped = [ep for ep in self.epochs if ep.epoch > epoch]
        self.epochs = [ep for ep in self.epochs if ep.epoch < epoch] + [info]
        self._write_manifest()
        for ep in dropped:  # only after the manifest no longer lists them
            for rel in (ep.activations, ep.weights):
                if rel:
                    (self.out / rel).unlink(missing_ok=True)
        return info

    def _write_manifest(self) -> None:
        manifest = Manifest(model=self.model, layers=self.layers, epochs=self.epochs,
                            inputs=self.inputs)
        path = self.out / MANIFEST
        manifest.validate(path)
        tmp = path.with_name(f".{MANIFEST}.tmp")
        tmp.write_text(json.dumps(manifest.to_json(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
