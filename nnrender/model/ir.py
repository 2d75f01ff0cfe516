"""The dump: the on-disk contract between the reader (TensorFlow) and the renderer (Blender).

A dump folder holds ``manifest.json`` (enough on its own to lay the network out) and, per
epoch, one ``.npz`` of activations and one of weights. Arrays are keyed by layer index
(``L000``...) so that any layer name is safe. Pure numpy: no TensorFlow, no bpy.

Schema 2 (read alongside 1, whose manifests simply lack these) adds:

- ``LayerInfo.attention``: for attention layers, ``{"heads": H, "queries": T, "keys": S,
  "query": layer, "key": layer}`` (the layers whose tokens are the queries and the keys);
  each epoch's activations file then holds ``L012_att`` of shape (inputs, H, T, S), the
  attention scores (each query's row sums to 1 over the keys).
- ``LayerInfo.positions``: like ``channels`` for the first axis: the original indices of
  the tokens (or time steps) kept when a long sequence was stored reduced.
- ``inputs["vocab"]``: token texts by id (a ``--vocab`` file), and ``inputs["dtypes"]``:
  each input array's dtype (integer token ids stay integers in ``arrays/inputs.npz``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nnrender.errors import DumpError

FORMAT = "nnrender-dump"
SCHEMA_VERSION = 2
READS = (1, 2)  # schema versions this nnrender reads
MANIFEST = "manifest.json"
INPUTS = "arrays/inputs.npz"


@dataclass
class LayerInfo:
    """One layer as the layout needs it; ``output_shape`` excludes the batch axis.

    A dump written with storage options (``max_maps``, ``max_side``, ``max_tokens``) keeps
    reduced arrays: ``stored_shape`` is then their shape on disk (batch excluded; same rank
    as ``output_shape``), ``channels`` the original indices of the kept channels (last axis)
    and ``positions`` those of the kept tokens or time steps (first axis). All are None when
    the arrays are stored whole, so older manifests load unchanged. ``attention`` describes
    recorded attention scores (see the module docstring).
    """

    name: str
    type: str
    output_shape: list[int]
    params: int = 0
    inbound: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    stored_shape: list[int] | None = None
    channels: list[int] | None = None
    positions: list[int] | None = None
    attention: dict[str, Any] | None = None

    @property
    def role(self) -> str:
        """How the layer is drawn: ``maps`` (H, W, C), ``vector`` (N,), ``tokens`` (T, D),
        ``volume`` (T, H, W, C: time steps or depth slices of maps) or ``other``."""
        return shape_role(self.output_shape)

    @property
    def array_shape(self) -> list[int]:
        """Shape of the stored activations per input: ``stored_shape`` when reduced."""
        return list(self.stored_shape) if self.stored_shape is not None else self.output_shape


@dataclass
class EpochInfo:
    """One recorded training state; ``epoch`` 0 is the state before training."""

    epoch: int
    activations: str
    weights: str | None = None
    source: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Manifest:
    model: dict[str, Any]
    layers: list[LayerInfo]
    epochs: list[EpochInfo]
    inputs: dict[str, Any]
    format: str = FORMAT
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, source: str | Path) -> Manifest:
        """Parse and validate, naming the manifest and the key on any problem."""
        if not isinstance(data, dict):
            raise DumpError(source, "manifest is not a JSON object")
        if data.get("format") != FORMAT:
            raise DumpError(source, f"not an nnrender dump (format={data.get('format')!r})")
        version = data.get("schema_version")
        if version not in READS:
            raise DumpError(
                source,
                f"schema_version {version!r} is not supported (this nnrender reads "
                f"{', '.join(map(str, READS))}); re-run `nnrender dump`",
            )
        try:
            layers = [LayerInfo(**layer) for layer in data["layers"]]
            epochs = [EpochInfo(**ep) for ep in data["epochs"]]
            manifest = cls(
                model=dict(data["model"]),
                layers=layers,
                epochs=epochs,
                inputs=dict(data["inputs"]),
                schema_version=int(version),
            )
            manifest.validate(source)
        except KeyError as exc:
            raise DumpError(source, f"missing key {exc.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise DumpError(source, f"malformed entry: {exc}") from None
        return manifest

    def validate(self, source: str | Path) -> None:
        names = [layer.name for layer in self.layers]
        if not names:
            raise DumpError(source, "layers: the dump has no layers")
        if len(set(names)) != len(names):
            raise DumpError(source, "layers: duplicate layer names")
        known = set()
        for layer in self.layers:
            if any((not isinstance(d, int)) or d <= 0 for d in layer.output_shape):
                raise DumpError(
                    source, f"layer {layer.name}: output_shape {layer.output_shape} is not positive"
                )
            _validate_storage(layer, source)
            _validate_attention(layer, known, source)
            for parent in layer.inbound:
                if parent not in known:
                    raise DumpError(
                        source, f"layer {layer.name}: inbound layer {parent!r} is unknown or later"
                    )
            known.add(layer.name)
        if not self.epochs:
            raise DumpError(source, "epochs: the dump has no epochs")
        numbers = [ep.epoch for ep in self.epochs]
        if numbers != sorted(set(numbers)):
            raise DumpError(source, "epochs: epoch numbers must be increasing and unique")
        if int(self.inputs.get("count", 0)) < 1:
            raise DumpError(source, "inputs.count: the dump has no inputs")
        vocab = self.inputs.get("vocab")
        if vocab is not None and (not isinstance(vocab, list)
                                  or not all(isinstance(t, str) for t in vocab)):
            raise DumpError(source, "inputs.vocab: must be a list of token texts")

    def layer_index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(name)


def _validate_storage(layer: LayerInfo, source: str | Path) -> None:
    """``stored_shape`` and ``channels`` must describe a reduction of ``output_shape``."""
    stored = layer.stored_shape
    if stored is not None:
        if (not isinstance(stored, list) or len(stored) != len(layer.output_shape)
                or any((not isinstance(d, int)) or d <= 0 for d in stored)
                or any(s > o for s, o in zip(stored, layer.output_shape, strict=True))):
            raise DumpError(
                source, f"layer {layer.name}: stored_shape {stored} does not fit "
                f"output_shape {layer.output_shape}"
            )
    pos = layer.positions
    if pos is not None:
        first = (stored or layer.output_shape or [0])[0]
        if (not isinstance(pos, list) or len(layer.output_shape) < 2 or len(pos) != first
                or any((not isinstance(c, int)) or not 0 <= c < layer.output_shape[0]
                       for c in pos)
                or pos != sorted(set(pos))):
            raise DumpError(
                source, f"layer {layer.name}: positions must be {first} increasing indices "
                f"below {layer.output_shape[0] if layer.output_shape else 0}"
            )
    chans = layer.channels
    if chans is not None:
        last = (stored or layer.output_shape or [0])[-1]
        if (not isinstance(chans, list) or len(chans) != last or not layer.output_shape
                or any((not isinstance(c, int)) or not 0 <= c < layer.output_shape[-1]
                       for c in chans)
                or chans != sorted(set(chans))):
            raise DumpError(
                source, f"layer {layer.name}: channels must be {last} increasing indices "
                f"below {layer.output_shape[-1] if layer.output_shape else 0}"
            )


def _validate_attention(layer: LayerInfo, known: set[str], source: str | Path) -> None:
    att = layer.attention
    if att is None:
        return
    keys = ("heads", "queries", "keys")
    if (not isinstance(att, dict) or any(not isinstance(att.get(k), int) or att[k] < 1
                                         for k in keys)):
        raise DumpError(source, f"layer {layer.name}: attention needs positive heads, "
                                "queries and keys")
    for side in ("query", "key"):
        name = att.get(side)
        if name is not None and name not in known:
            raise DumpError(source, f"layer {layer.name}: attention {side} layer {name!r} is "
                                    "unknown or later")


def shape_role(shape: list[int] | tuple[int, ...]) -> str:
    if len(shape) == 3:
        return "maps"
    if len(shape) == 1:
        return "vector"
    if len(shape) == 2:
        return "tokens"
    if len(shape) == 4:
        return "volume"
    return "other"


def array_key(index: int) -> str:
    return f"L{index:03d}"


def attention_key(index: int) -> str:
    return f"{array_key(index)}_att"


class DumpLike(Protocol):
    """What planning reads of a dump: a ``Dump``, or a view of one (repeated blocks
    folded, ``layout.repeats.CollapsedDump``)."""

    path: Path
    manifest: Manifest

    def activations(self, epoch_index: int, layer: int) -> np.ndarray: ...

    def weights(self, epoch_index: int, layer: int) -> list[np.ndarray]: ...

    def attention(self, epoch_index: int, layer: int) -> np.ndarray | None: ...

    def input_array(self, index: int = 0) -> np.ndarray | None: ...


class Dump:
    """A dump folder opened for reading; arrays load lazily, one layer of one epoch at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        mpath = self.path / MANIFEST
        if not self.path.is_dir():
            raise DumpError(self.path, "dump folder does not exist")
        if not mpath.is_file():
            raise DumpError(mpath, "missing manifest (is this a dump folder?)")
        try:
            data = json.loads(mpath.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DumpError(mpath, f"corrupt JSON: {exc}") from None
        self.manifest = Manifest.from_json(data, mpath)
        self._open: dict[str, np.lib.npyio.NpzFile] = {}

    @property
    def layers(self) -> list[LayerInfo]:
        return self.manifest.layers

    @property
    def epochs(self) -> list[EpochInfo]:
        return self.manifest.epochs

    def _npz(self, rel: str) -> np.lib.npyio.NpzFile:
        if rel not in self._open:
            fpath = self.path / rel
            if not fpath.is_file():
                raise DumpError(fpath, "array file listed in the manifest is missing")
            try:
                self._open[rel] = np.load(fpath, allow_pickle=False)
            except Exception as exc:  # zip, header, zlib, EOF: all mean a damaged file
                raise DumpError(fpath, f"corrupt array file: {exc}") from None
        return self._open[rel]

    def activations(self, epoch_index: int, layer: str | int) -> np.ndarray:
        """Activations of one layer at one recorded epoch, shape (inputs, *array_shape):
        ``output_shape``, or ``stored_shape`` when the dump keeps reduced maps."""
        index = layer if isinstance(layer, int) else self.manifest.layer_index(layer)
        info = self.manifest.layers[index]
        ep = self.manifest.epochs[epoch_index]
        npz = self._npz(ep.activations)
        key = array_key(index)
        if key not in npz.files:
            raise DumpError(self.path / ep.activations, f"layer {info.name}: no activations")
        try:
            arr = np.asarray(npz[key])
        except Exception as exc:  # a damaged array file, whatever the layer
            raise DumpError(self.path / ep.activations, f"layer {info.name}: {exc}") from None
        expected = (int(self.manifest.inputs["count"]), *info.array_shape)
        if arr.shape != expected:
            raise DumpError(
                self.path / ep.activations,
                f"layer {info.name}: activations shape {arr.shape}, manifest says {expected}",
            )
        if not np.all(np.isfinite(arr)):
            raise DumpError(
                self.path / ep.activations,
                f"layer {info.name}: NaN or Inf activations at epoch {ep.epoch}",
            )
        return arr

    def attention(self, epoch_index: int, layer: str | int) -> np.ndarray | None:
        """Attention scores of one layer at one recorded epoch, (inputs, heads, queries,
        keys); None for a layer without recorded attention."""
        index = layer if isinstance(layer, int) else self.manifest.layer_index(layer)
        info = self.manifest.layers[index]
        if info.attention is None:
            return None
        ep = self.manifest.epochs[epoch_index]
        where = self.path / ep.activations
        npz = self._npz(ep.activations)
        key = attention_key(index)
        if key not in npz.files:
            raise DumpError(where, f"layer {info.name}: no attention scores")
        try:
            arr = np.asarray(npz[key])
        except Exception as exc:
            raise DumpError(where, f"layer {info.name}: {exc}") from None
        att = info.attention
        expected = (int(self.manifest.inputs["count"]), att["heads"], att["queries"],
                    att["keys"])
        if arr.shape != expected:
            raise DumpError(where, f"layer {info.name}: attention shape {arr.shape}, "
                                   f"manifest says {expected}")
        if not np.all(np.isfinite(arr)):
            raise DumpError(where, f"layer {info.name}: NaN or Inf attention scores at "
                                   f"epoch {ep.epoch}")
        return arr

    def input_array(self, index: int = 0) -> np.ndarray | None:
        """The recorded inputs of model input ``index`` (integer token ids stay integers);
        None when the dump did not keep them."""
        path = self.path / INPUTS
        if not path.is_file():
            return None
        key = "inputs" if index == 0 else f"input_{index}"
        npz = self._npz(INPUTS)
        return np.asarray(npz[key]) if key in npz.files else None

    def weights(self, epoch_index: int, layer: str | int) -> list[np.ndarray]:
        index = layer if isinstance(layer, int) else self.manifest.layer_index(layer)
        ep = self.manifest.epochs[epoch_index]
        if ep.weights is None:
            return []
        npz = self._npz(ep.weights)
        prefix = array_key(index) + "_w"
        keys = [k for k in npz.files if k.startswith(prefix)]
        keys.sort(key=lambda k: int(k[len(prefix):]))
        return [np.asarray(npz[k]) for k in keys]

    def close(self) -> None:
        for npz in self._open.values():
            npz.close()
        self._open.clear()


def numeric_metrics(metrics: dict[str, Any] | None) -> dict[str, float]:
    """Finite numbers only: training logs may hold strings, booleans or NaN."""
    clean: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, bool):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            clean[str(key)] = number
    return clean


def epoch_arrays(
    epoch: int,
    activations: list[np.ndarray],
    weights: list[list[np.ndarray]] | None,
    dtype: np.dtype,
    weights_dtype: np.dtype | None = None,
    attention: list[np.ndarray | None] | None = None,
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The ``(relative path, arrays)`` files of one epoch, keyed as ``Dump`` reads them;
    ``attention``: per layer its scores or None, stored beside the activations."""
    arrays = {array_key(i): np.asarray(a, dtype=dtype if np.asarray(a).dtype.kind == "f"
                                       else np.float32)  # integer token ids stay exact
              for i, a in enumerate(activations)}
    for i, scores in enumerate(attention or []):
        if scores is not None:
            arrays[attention_key(i)] = np.asarray(scores, dtype=dtype)
    files = [(f"arrays/epoch_{epoch:04d}.activations.npz", arrays)]
    if weights is not None:
        files.append((f"arrays/epoch_{epoch:04d}.weights.npz",
                      {f"{array_key(i)}_w{j}": _cast_weight(w, weights_dtype)
                       for i, ws in enumerate(weights) for j, w in enumerate(ws)}))
    return files


def _cast_weight(w: Any, dtype: np.dtype | None) -> np.ndarray:
    arr = np.asarray(w)
    if dtype is None or arr.dtype.kind != "f":
        return arr
    cast = arr.astype(dtype)
    return cast if np.all(np.isfinite(cast)) else arr  # overflow: keep the original


def check_dump_target(out: str | Path) -> Path:
    """The folder a dump may be written to: absent, empty, or an earlier dump (which is
    replaced). Anything else is the user's and is never touched."""
    path = Path(out).resolve()
    if path.exists() and not path.is_dir():
        raise DumpError(path, "output path exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        manifest = path / MANIFEST
        try:
            is_dump = json.loads(manifest.read_text(encoding="utf-8")).get("format") == FORMAT
        except (OSError, ValueError, AttributeError):
            is_dump = False
        if not is_dump:
            raise DumpError(path, "output folder holds files but no nnrender dump; choose an "
                                  "empty or new folder")
    return path


class DumpWriter:
    """Writes a dump into a temporary sibling folder and swaps it in only when complete,
    so a failed or killed dump never damages an earlier one."""

    def __init__(self, out: str | Path, dtype: str = "float32", *,
                 weights_dtype: str | None = None, compress: bool = False) -> None:
        """``weights_dtype`` casts float weights (None keeps them as given); ``compress``
        zips the .npz members (smaller dumps, still read one array at a time)."""
        self.out = check_dump_target(out)
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DumpError(self.out, f"cannot create the output folder: {exc.strerror}") from None
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        (self.tmp / "arrays").mkdir()
        self.dtype = np.dtype(dtype)
        self.weights_dtype = np.dtype(weights_dtype) if weights_dtype is not None else None
        self._save = np.savez_compressed if compress else np.savez
        self.epochs: list[EpochInfo] = []

    def add_epoch(
        self,
        epoch: int,
        activations: list[np.ndarray],
        weights: list[list[np.ndarray]] | None = None,
        source: str | None = None,
        metrics: dict[str, float] | None = None,
        attention: list[np.ndarray | None] | None = None,
    ) -> EpochInfo:
        files = epoch_arrays(epoch, activations, weights, self.dtype, self.weights_dtype,
                             attention)
        for rel, arrays in files:
            self._save(self.tmp / rel, **arrays)
        act_rel, w_rel = files[0][0], (files[1][0] if len(files) > 1 else None)
        clean = numeric_metrics(metrics)
        info = EpochInfo(epoch=epoch, activations=act_rel, weights=w_rel, source=source,
                         metrics=clean)
        self.epochs.append(info)
        return info

    def finish(self, model: dict[str, Any], layers: list[LayerInfo], inputs: dict[str, Any],
               input_arrays: dict[str, np.ndarray] | None = None) -> Path:
        if input_arrays:
            np.savez(self.tmp / INPUTS, **input_arrays)
        manifest = Manifest(model=model, layers=layers, epochs=self.epochs, inputs=inputs)
        manifest.validate(self.tmp / MANIFEST)
        (self.tmp / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=1) + "\n",
                                         encoding="utf-8")
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
