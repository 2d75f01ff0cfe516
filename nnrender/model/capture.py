"""The framework-neutral half of reading a model: inputs in, checked activations out, a dump.

Pure numpy (no framework import). A framework reader subclasses ``Capture`` and implements
four things; everything else (fitting the input arrays to the model's inputs, labels, the
NaN/Inf and float16-overflow checks, the storage reductions, the manifest's ``model`` and
``inputs`` entries, and the per-epoch dump loop ``write_dump``) is shared, so a Keras and a
PyTorch dump of the same network look the same.

The contract of a ``Capture`` subclass:

- ``read_layers(model, path) -> ModelLayers``: called once from ``__init__`` (after the
  storage options are checked): the manifest entries, model inputs first (their
  ``output_shape`` without the batch axis, None for a free size), the input names and
  dtypes, and the warnings found (a list the subclass may append to while running). A
  channels-first framework (PyTorch, ONNX) also gives ``input_shapes``, the inputs in the
  model's own layout (the arrays are fitted to these; a missing channel axis of a grey
  image goes after the batch axis where ``channels_first``), while its input entries'
  ``output_shape``, like every entry's, is as drawn (channels-last, from the first run).
- ``run(xs, epoch, source) -> list[np.ndarray]``: every entry's activations for the input
  arrays ``xs`` (one per model input, batch first), in inference mode, with the model's
  current weights; a failure is a ``ModelError`` naming ``source`` and ``epoch``.
- ``layer_weights() -> list[list[np.ndarray]]``: per entry, its weights as stored (an
  empty list for entries without their own: inputs, later calls of a shared layer).
- ``framework``: e.g. ``"keras 3.6.0"``, for the manifest.
- optionally ``attention_scores() -> dict[int, Scores]``: the last ``run``'s attention
  scores by entry index (``scores.Scores``: values (inputs, heads, queries, keys) and the
  query/key entries, or why there are none); the default has none. ``scores`` decides
  which layers keep them and fills ``LayerInfo.attention``.

A subclass that defines ``__init__`` checks its model type there and then calls
``super().__init__``. Warnings are issued as ``NNRenderWarning`` and listed in the manifest.

Inputs keep integer types where the model input is an integer type (token ids for an
``Embedding``), everything else becomes float; the manifest's ``inputs["dtypes"]`` lists
them, and ``inputs["vocab"]`` holds a vocabulary's token texts (``vocab``).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError, NNRenderWarning, one_line
from nnrender.model.epochs import Series
from nnrender.model.inputs import shape_fits, show_shape
from nnrender.model.ir import DumpWriter, LayerInfo
from nnrender.model.scores import ATTENTION_BUDGET, Scores, epoch_scores, plan_scores
from nnrender.model.storage import DEFAULT_MAX_TOKENS, Storage, check_dtype, positions_warning
from nnrender.model.vocab import Vocab, as_vocab


def json_safe(value: Any) -> Any:
    """A layer config value the manifest can hold: plain JSON types, class names for
    serialized objects (a custom activation), names for functions."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        if "class_name" in value:  # a serialized object, e.g. a custom activation
            return str(value["class_name"])
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return getattr(value, "__name__", str(value))


# --------------------------------------------------------------------------- inputs


def fit_inputs(inputs: Any, expected: list[int | None], dtype: str, source: str,
               input_name: str, channels_first: bool = False) -> np.ndarray:
    """Match the input batch to the model input, adding a trailing channel axis of 1 (grey
    images given as (N, H, W)) or a batch axis (one sample) when that is all that is missing.
    ``channels_first``: the model input is (C, ...) (PyTorch, ONNX), so a missing channel
    axis goes right after the batch axis."""
    where = source or "inputs"
    try:
        x = np.asarray(inputs)
    except Exception as exc:
        raise ModelError(where, f"inputs are not an array: {one_line(exc)}") from None
    if x.dtype.kind not in "biuf":
        raise ModelError(where, f"inputs must be numeric, got dtype {x.dtype}")
    if x.ndim >= 1 and shape_fits(x.shape[1:], expected):
        pass
    elif channels_first and x.ndim >= 1 and shape_fits((1, *x.shape[1:]), expected):
        x = x[:, np.newaxis]
    elif not channels_first and x.ndim >= 1 and shape_fits((*x.shape[1:], 1), expected):
        x = x[..., np.newaxis]
    elif shape_fits(x.shape, expected):
        x = x[np.newaxis]
    elif channels_first and shape_fits((1, *x.shape), expected):
        x = x[np.newaxis, np.newaxis]
    elif not channels_first and shape_fits((*x.shape, 1), expected):
        x = x[np.newaxis, ..., np.newaxis]
    else:
        raise ModelError(
            where, f"inputs have shape {tuple(x.shape)}; model input {input_name} expects "
            f"(N, {show_shape(expected)[1:]}",
        )
    if x.shape[0] < 1:
        raise ModelError(where, "inputs: no samples")
    return _cast_input(x, dtype, where, input_name)


def _cast_input(x: np.ndarray, dtype: str, where: str, input_name: str) -> np.ndarray:
    """The array in the model input's dtype: integer inputs (token ids) stay integers,
    float inputs (images, digits, features) become that float type (float32 otherwise)."""
    try:
        target = np.dtype(dtype)
    except TypeError:  # bfloat16 and other types numpy does not name
        target = np.dtype("float32")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise ModelError(where, "inputs contain NaN or Inf")
    if target.kind in "iu":
        if x.dtype.kind == "f" and not np.all(x == np.round(x)):
            raise ModelError(where, f"model input {input_name} takes integer ids ({dtype}); "
                                    "the array holds non-integer values")
        return x.astype(target, copy=False)
    if target.kind == "b":
        return x.astype(bool, copy=False)
    return x.astype(target if target.kind == "f" else np.float32, copy=False)


def model_inputs(inputs: Any, names: Sequence[str], shapes: Sequence[list[int | None]],
                 dtypes: Sequence[str], where: str,
                 channels_first: Sequence[bool] | None = None) -> list[np.ndarray]:
    """One array per model input: ``inputs`` is an array (one input), or a list/tuple in
    the model's input order, or a dict keyed by input name (``channels_first``: per input,
    see ``fit_inputs``)."""
    n = len(names)
    if isinstance(inputs, dict):
        keys = {str(k): v for k, v in inputs.items()}
        missing = [name for name in names if name not in keys]
        if missing:
            raise ModelError(where, f"inputs: no array for model input(s) {', '.join(missing)} "
                             f"(the model's inputs: {', '.join(names)})")
        given = [keys[name] for name in names]
    elif n == 1:
        given = [inputs]
    elif isinstance(inputs, (list, tuple)) and len(inputs) == n:
        given = list(inputs)
    else:
        raise ModelError(where, f"inputs: the model has {n} inputs ({', '.join(names)}); "
                         "give a list or dict with one array per input")
    firsts = list(channels_first) if channels_first is not None else [False] * n
    xs = [fit_inputs(value, list(shape), dtype, where, name, first)
          for value, shape, dtype, name, first in zip(given, shapes, dtypes, names, firsts,
                                                      strict=True)]
    counts = {int(x.shape[0]) for x in xs}
    if len(counts) != 1:
        raise ModelError(where, "inputs: the model inputs have different sample counts "
                         f"({', '.join(str(int(x.shape[0])) for x in xs)})")
    return xs


# --------------------------------------------------------------------------- checks


def check_activations(act: np.ndarray, info: LayerInfo, epoch: int, source: str | Path,
                      dtype: np.dtype) -> None:
    """NaN/Inf activations (a diverged epoch) and values a float16 dump cannot hold are
    errors: a picture of them would be silently wrong."""
    if not np.all(np.isfinite(act)):
        raise ModelError(source, f"epoch {epoch}: layer {info.name}: NaN or Inf activations")
    if dtype.itemsize < act.dtype.itemsize and dtype.kind == "f" and act.dtype.kind == "f":
        if not np.all(np.isfinite(act.astype(dtype))):
            raise ModelError(
                source,
                f"epoch {epoch}: layer {info.name}: activations overflow {dtype.name}; "
                "dump with dtype float32",
            )


def check_weights(weights: list[np.ndarray], info: LayerInfo, epoch: int,
                  source: str | Path) -> None:
    """NaN/Inf float weights are an error even when the activations look fine: relu(NaN)
    is 0 in TensorFlow, so NaN weights can hide behind finite outputs."""
    if any(w.dtype.kind == "f" and not np.all(np.isfinite(w)) for w in weights):
        raise ModelError(source, f"epoch {epoch}: layer {info.name}: NaN or Inf weights")


# --------------------------------------------------------------------------- capture


@dataclass
class EpochArrays:
    """One epoch as stored: per entry its activations (reduced for storage), weights and
    attention scores (None where not recorded)."""

    activations: list[np.ndarray]
    weights: list[list[np.ndarray]]
    attention: list[np.ndarray | None]


@dataclass
class ModelLayers:
    """What ``Capture.read_layers`` finds in a model (see the module docstring)."""

    infos: list[LayerInfo]
    input_names: list[str]
    input_dtypes: list[str]
    warnings: list[str]
    # the shapes the input arrays are fitted to, in the model's own layout (None: the
    # input entries' output_shape); per input, whether it is channels-first (C, ...)
    input_shapes: list[list[int | None]] | None = None
    channels_first: list[bool] | None = None


class Capture(ABC):
    """A model's layers and, on demand, every layer's activations and weights as stored in a
    dump: shared by the dump functions (epochs from files) and the training recorders
    (epochs as they happen). The first capture fixes each layer's shapes and storage
    reduction; later epochs must have the same shapes."""

    def __init__(self, model: Any, inputs: Any, *, path: str | Path = "model",
                 labels: Sequence[Any] | np.ndarray | None = None, input_source: str = "",
                 dtype: str = "float32", max_maps: int | None = None,
                 max_side: int | None = None, maps_select: str = "even",
                 max_tokens: int | None = DEFAULT_MAX_TOKENS,
                 max_attention: int = ATTENTION_BUDGET,
                 vocab: Sequence[str] | str | Path | Vocab | None = None) -> None:
        self.storage = Storage(max_maps, max_side, maps_select, max_tokens)
        if isinstance(max_attention, bool) or not isinstance(max_attention, int) \
                or max_attention < 1:
            raise ModelError(None, f"max_attention: expected a positive integer, got "
                                   f"{max_attention!r}")
        self.max_attention = max_attention
        self.vocab = as_vocab(vocab) if vocab is not None else None  # a bad file: before work
        self.dtype = check_dtype(dtype)
        self.model = model
        found = self.read_layers(model, path)
        self.infos = found.infos
        self.input_names = list(found.input_names)
        self.warnings = found.warnings
        self._warned = 0
        self.warn_late(stacklevel=5)  # the caller of the dump function or the recorder
        self.input_source = input_source
        shapes = found.input_shapes or [info.output_shape
                                        for info in self.infos[: len(self.input_names)]]
        self.xs = model_inputs(inputs, self.input_names, shapes, found.input_dtypes,
                               input_source or "inputs", found.channels_first)
        self.count = int(self.xs[0].shape[0])
        if self.vocab is not None:
            self.vocab.check(self.xs)
        self.labels: list[Any] | None = None
        if labels is not None:
            self.labels = np.asarray(labels).tolist()
            if not isinstance(self.labels, list) or len(self.labels) != self.count:
                n = len(self.labels) if isinstance(self.labels, list) else 1
                raise ModelError(input_source or "labels",
                                 f"labels: {n} labels for {self.count} inputs")
        self.first_epoch: int | None = None

    # the framework's part -------------------------------------------------------------

    @abstractmethod
    def read_layers(self, model: Any, path: str | Path) -> ModelLayers:
        """The manifest entries of ``model`` (inputs first); ``path`` names it in errors."""

    @abstractmethod
    def run(self, xs: list[np.ndarray], epoch: int, source: str | Path) -> list[np.ndarray]:
        """Every entry's activations for ``xs`` with the model's current weights."""

    @abstractmethod
    def layer_weights(self) -> list[list[np.ndarray]]:
        """Every entry's weights as the model is now (empty for entries without their own)."""

    @property
    @abstractmethod
    def framework(self) -> str:
        """The framework and its version, for the manifest."""

    def attention_scores(self) -> dict[int, Scores]:
        """The last run's attention scores by entry index (see the module docstring)."""
        return {}

    @property
    def model_name(self) -> str:
        """The model's name in the manifest."""
        return str(getattr(self.model, "name", None) or type(self.model).__name__)

    # shared ---------------------------------------------------------------------------

    def capture(self, epoch: int, source: str | Path) -> tuple[list[np.ndarray],
                                                                list[list[np.ndarray]]]:
        """Activations (reduced for storage) and weights of every layer, as the model is now
        (``capture_epoch`` without the attention scores)."""
        arrays = self.capture_epoch(epoch, source)
        return arrays.activations, arrays.weights

    def capture_epoch(self, epoch: int, source: str | Path) -> EpochArrays:
        """Activations (reduced for storage), weights and attention scores of every layer,
        as the model is now."""
        infos = self.infos
        activations = self.run(self.xs, epoch, source)
        raw = self.attention_scores()
        for info, act in zip(infos, activations, strict=True):
            check_activations(act, info, epoch, source, self.dtype)
        if self.first_epoch is None:
            self.first_epoch = epoch
            for info, act in zip(infos, activations, strict=True):
                info.output_shape = [int(d) for d in act.shape[1:]]
                self.storage.plan(info)
            message = positions_warning(infos, self.storage.max_tokens)
            if message:
                self.warnings.append(message)
            self.warnings.extend(plan_scores(infos, raw, self.count, self.max_attention,
                                             self.storage.max_tokens))
        else:
            for info, act in zip(infos, activations, strict=True):
                if list(act.shape[1:]) != info.output_shape:
                    raise ModelError(
                        source,
                        f"epoch {epoch}: layer {info.name}: activations shape "
                        f"{list(act.shape[1:])} differs from epoch {self.first_epoch}'s "
                        f"{info.output_shape}",
                    )
        attention = epoch_scores(infos, raw, self.count, epoch, source)
        stored = [self.storage.apply(act, info)
                  for info, act in zip(infos, activations, strict=True)]
        del activations, raw
        layer_weights = self.layer_weights()
        for info, ws in zip(infos, layer_weights, strict=True):
            check_weights(ws, info, epoch, source)
        return EpochArrays(stored, layer_weights, attention)

    def warn_late(self, stacklevel: int = 2) -> None:
        """Issue the warnings not issued yet (found while running: no batch axis, say)."""
        for message in self.warnings[self._warned:]:
            warnings.warn(message, NNRenderWarning, stacklevel=stacklevel)
        self._warned = len(self.warnings)

    def model_info(self, source_label: str) -> dict[str, Any]:
        """The manifest's ``model`` entry."""
        return {
            "name": self.model_name,
            "source": source_label,
            "framework": self.framework,
            "inputs": list(self.input_names),
            "warnings": list(self.warnings),
            "storage": {"dtype": self.dtype.name, **self.storage.options()},
        }

    def input_arrays(self) -> dict[str, np.ndarray]:
        """The input batch as the dump stores it (``inputs``, ``input_1`` ...)."""
        return {("inputs" if i == 0 else f"input_{i}"): x for i, x in enumerate(self.xs)}

    def input_shape(self, index: int) -> list[int]:
        """Model input ``index``'s shape as drawn (its entry's ``output_shape`` once
        captured: channels-last where the model is channels-first), no batch axis."""
        if self.first_epoch is not None and index < len(self.infos):
            return [int(d) for d in self.infos[index].output_shape]
        return [int(d) for d in self.xs[index].shape[1:]]

    def inputs_info(self) -> dict[str, Any]:
        """The manifest's ``inputs`` entry (``shape``: as drawn, see ``input_shape``)."""
        info: dict[str, Any] = {
            "count": self.count,
            "shape": self.input_shape(0),
            "source": self.input_source,
            "labels": self.labels,
            "dtypes": [x.dtype.name for x in self.xs],
        }
        if self.vocab is not None:
            info["vocab"] = list(self.vocab.tokens)
        if len(self.xs) > 1:
            info["names"] = list(self.input_names)
            info["shapes"] = [self.input_shape(i) for i in range(len(self.xs))]
            info["arrays"] = list(self.input_arrays())
        return info


# --------------------------------------------------------------------------- the dump


def write_dump(capture: Capture, series: Series, out_dir: str | Path, *, source_label: str,
               metrics_by_epoch: dict[int, dict[str, float]] | None = None,
               store_weights: bool = True, compress: bool = False) -> Path:
    """For each epoch of ``series``: load its weights into the model, capture, write; the
    dump appears in ``out_dir`` only when every epoch worked (a failure leaves an earlier
    dump there untouched). Returns the dump folder."""
    metrics = {int(k): dict(v) for k, v in (metrics_by_epoch or {}).items()}
    dtype = capture.dtype.name
    writer = DumpWriter(out_dir, dtype=dtype, weights_dtype=dtype, compress=compress)
    try:
        for epoch, source, load in series:
            if load is not None:
                try:
                    load(capture.model)
                except ModelError:
                    raise
                except Exception as exc:
                    raise ModelError(
                        source, f"epoch {epoch}: cannot load the weights: {one_line(exc)}"
                    ) from None
            arrays = capture.capture_epoch(epoch, source)
            writer.add_epoch(epoch, arrays.activations,
                             arrays.weights if store_weights else None, source=source,
                             metrics=metrics.get(epoch), attention=arrays.attention)
        capture.warn_late(stacklevel=4)  # the caller of the dump function
        return writer.finish(capture.model_info(source_label), capture.infos,
                             capture.inputs_info(), input_arrays=capture.input_arrays())
    except BaseException:
        writer.abort()
        raise


def dump_size(path: str | Path) -> int:
    """Bytes on disk under a dump folder (for progress lines and benchmarks)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
