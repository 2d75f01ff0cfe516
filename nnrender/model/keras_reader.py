"""Keras 3 reader: a saved model + its per-epoch weight files -> an nnrender dump.

This is the only place (with ``demo_train``) that imports Keras/TensorFlow, and it does so
lazily inside the functions, so ``find_weight_series`` and importing this module stay cheap.
Every problem the user can fix (a missing or corrupt file, weights from another model,
inputs of the wrong shape, NaN activations) is raised as a one-line ``ModelError`` that names
the file and, where known, the layer and epoch.

The model is read as a graph: Functional and Sequential models nested inside it are
flattened (their layers are named ``<model>/<layer>``, and edges connect through the
nesting); a layer called more than once (a shared layer) is recorded once per call, the first
call under its own name and call k under ``<name>@k`` (with ``config["shared"]`` naming the
first; its weights are stored with the first call only). Plain ops between layers
(``keras.ops.relu`` ...) get no entry: edges look through them. Activations come from running
that graph eagerly, call by call, in inference mode.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError
from nnrender.model.ir import DumpWriter, LayerInfo

WEIGHTS_SUFFIX = ".weights.h5"
# Suffixes stripped before looking for the epoch number ("epoch_08.weights.h5" -> 8, not 5).
_NAME_SUFFIXES = (".weights.h5", ".weights.hdf5", ".keras", ".hdf5", ".h5")
# Layer config fields worth showing in a picture or a figure caption.
_CONFIG_KEYS = (
    "filters",
    "kernel_size",
    "strides",
    "dilation_rate",
    "depth_multiplier",
    "pool_size",
    "padding",
    "units",
    "activation",
    "rate",
    "data_format",
)
_GLOB_CHARS = set("*?[")
# Labels that name the epoch in a file name, most specific first.
_EPOCH_LABELS = (
    re.compile(r"(?<![a-z])epochs?[_\-.=]?(\d+)(?![\d.]*\d)", re.I),
    re.compile(r"(?<![a-z])ep[_\-.=]?(\d+)(?![\d.]*\d)", re.I),
    re.compile(r"(?<![a-z0-9])e[_\-.=]?(\d+)(?![\d.]*\d)", re.I),
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PREDICT_BATCH = 64


def _keras() -> Any:
    """Import Keras on first use, quietly: TensorFlow's C++ start-up logging (absl, oneDNN)
    ignores TF_CPP_MIN_LOG_LEVEL and would surround a one-line error with noise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" in sys.modules:
        return sys.modules["keras"]
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            import keras
            import tensorflow as tf

            tf.constant(0.0)  # the oneDNN notice is printed on first use, not on import
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return keras


def _one_line(text: object, limit: int = 240) -> str:
    """Collapse an exception message to one short line (Keras messages dump whole tensors)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# --------------------------------------------------------------------------- weight series


def _stem(name: str) -> str:
    lower = name.lower()
    for suffix in (*_NAME_SUFFIXES, ".index"):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def epoch_number(path: str | Path) -> int | None:
    """The epoch number in a file name; None when it has none.

    Rule: a number labelled ``epoch``/``ep``/``e`` wins (``run3_epoch_07`` -> 7); otherwise
    the first whole number not glued to letters (``model.03-0.52.keras`` -> 3,
    ``resnet50-04.keras`` -> 4, ``ckpt-12`` -> 12); otherwise the first whole number
    (``cp0005`` -> 5). Decimals (a ``val_loss`` such as ``0.52``) are never epochs.
    """
    name = _stem(Path(path).name)
    for label in _EPOCH_LABELS:
        match = label.search(name)
        if match:
            return int(match.group(1))
    whole = [m for m in _NUMBER.finditer(name) if "." not in m.group()]
    for m in whole:
        before = name[m.start() - 1] if m.start() > 0 else ""
        after = name[m.end()] if m.end() < len(name) else ""
        if not before.isalpha() and not after.isalpha():
            return int(m.group())
    return int(whole[0].group()) if whole else None


def find_weight_series(pattern_or_folder: str | Path) -> list[tuple[int, Path]]:
    """Expand a glob (or a folder: its ``*.weights.h5``) into ``(epoch, file)`` pairs ordered by
    the epoch number in each file name, numerically (epoch_2 before epoch_10)."""
    text = os.path.expanduser(str(pattern_or_folder))
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.glob("*" + WEIGHTS_SUFFIX) if p.is_file())
        if not files:
            raise ModelError(path, f"no *{WEIGHTS_SUFFIX} weight files in this folder")
    elif path.is_file():
        files = [path]
    elif _GLOB_CHARS & set(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise ModelError(text, "no weight files match this pattern")
    else:
        raise ModelError(text, "weights: no such file or folder")

    return order_by_epoch([(epoch_number(f), f) for f in files], text, allow_gaps=True)


def order_by_epoch(
    files: list[tuple[int | None, Path]], source: str, allow_gaps: bool
) -> list[tuple[int, Path]]:
    """Sort ``(epoch, file)`` pairs by epoch; refuse unnumbered files, duplicates and (unless
    ``allow_gaps``) irregular gaps, since a missing file usually means an interrupted copy."""
    by_epoch: dict[int, Path] = {}
    for number, file in files:
        if number is None:
            raise ModelError(file, "no epoch number in the file name (e.g. epoch_3)")
        if number in by_epoch:
            raise ModelError(
                file, f"epoch {number} appears twice (also in {by_epoch[number].name})"
            )
        by_epoch[number] = file
    series = sorted(by_epoch.items())
    if allow_gaps or len(series) < 3:
        return series
    steps = [b[0] - a[0] for a, b in zip(series, series[1:], strict=False)]
    counts = Counter(steps)
    step = min(s for s, c in counts.items() if c == max(counts.values()))
    for (e1, f1), (e2, f2), gap in zip(series, series[1:], steps, strict=False):
        if gap == step:
            continue
        if gap % step == 0:
            missing = ", ".join(str(e) for e in range(e1 + step, e2, step))
            what = f"epoch{'s' if gap // step > 2 else ''} {missing} missing"
        else:
            what = f"epochs jump from {e1} to {e2} where the others step by {step}"
        raise ModelError(
            source,
            f"{what} between {f1.name} and {f2.name} (pass --allow-gaps to dump them anyway)",
        )
    return series


def _resolve_weights(
    weights: str | Path | Sequence[str | Path | tuple[int, str | Path]],
) -> list[tuple[int, Path]]:
    """Accept a pattern/folder, a list of files/patterns, or find_weight_series' own output.

    A plain list keeps the numbers in its file names when every file has a distinct one
    (then it is ordered by them); otherwise the files are epochs 0..n-1 in the given order.
    """
    if isinstance(weights, (str, Path)):
        return find_weight_series(weights)
    items = list(weights)
    if not items:
        raise ModelError(None, "weights: the list of weight files is empty")
    if all(isinstance(it, tuple) and len(it) == 2 for it in items):
        pairs = [(int(n), Path(f)) for n, f in items]  # type: ignore[misc]
        numbers = [n for n, _ in pairs]
        if len(set(numbers)) != len(numbers):
            raise ModelError(None, "weights: duplicate epoch numbers")
        return sorted(pairs)
    files: list[Path] = []
    for item in items:
        text = os.path.expanduser(str(item))
        if Path(text).is_dir() or (_GLOB_CHARS & set(text) and not Path(text).exists()):
            files.extend(f for _, f in find_weight_series(text))
        else:
            files.append(Path(text))
    numbers = [epoch_number(f) for f in files]
    if all(n is not None for n in numbers) and len(set(numbers)) == len(numbers):
        return sorted(zip(numbers, files, strict=True))  # type: ignore[arg-type]
    return list(enumerate(files))


# --------------------------------------------------------------------------- model loading


def load_keras_model(model_path: str | Path) -> Any:
    """Load a ``.keras`` (or legacy ``.h5``) model without its optimizer or loss: drawing a
    network needs neither, and custom losses would otherwise make loading fail."""
    path = Path(model_path)
    if not path.exists():
        raise ModelError(path, "model file does not exist")
    if not path.is_file():
        raise ModelError(path, "model path is not a file")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        import zipfile

        if not zipfile.is_zipfile(path):
            raise ModelError(path, "not a valid .keras model file (not a zip archive; corrupt?)")
    elif suffix in (".h5", ".hdf5"):
        if path.name.lower().endswith((".weights.h5", ".weights.hdf5")):
            raise ModelError(
                path, "this is a weights-only file; give the .keras model and pass it as weights"
            )
        with open(path, "rb") as fh:
            if fh.read(8) != b"\x89HDF\r\n\x1a\n":
                raise ModelError(path, "not a valid HDF5 model file (corrupt?)")
    keras = _keras()
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as exc:  # Keras raises ValueError, OSError, TypeError, KeyError...
        raise ModelError(path, f"cannot load the model: {_one_line(exc)}") from None
    if not isinstance(model, keras.Model):
        raise ModelError(path, "the file does not hold a Keras model")
    return model


def _json_safe(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        if "class_name" in value:  # a serialized object, e.g. a custom activation
            return str(value["class_name"])
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return getattr(value, "__name__", str(value))


def _small_config(layer: Any) -> dict[str, Any]:
    try:
        config = layer.get_config()
    except Exception:  # custom layers without get_config: the picture does without
        return {}
    return {k: _json_safe(config[k]) for k in _CONFIG_KEYS if k in config}


def _shape(shape: Iterable[Any]) -> list[int | None]:
    return [None if d is None else int(d) for d in shape]




# --------------------------------------------------------------------------- graph

# Layer types the reader knows the output of (and the renderer can label). Any other layer is
# still recorded, with its shapes, as a "generic" layer (config["generic"] = True) and a warning.
KNOWN_TYPES = frozenset(
    """
    InputLayer Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose
    DepthwiseConv1D DepthwiseConv2D SeparableConv1D SeparableConv2D
    MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D AveragePooling2D AveragePooling3D
    GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D
    GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D
    Dense EinsumDense Flatten Reshape Permute RepeatVector
    BatchNormalization LayerNormalization GroupNormalization UnitNormalization
    Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianNoise GaussianDropout
    AlphaDropout Activation ReLU LeakyReLU PReLU ELU Softmax
    Add Subtract Multiply Average Maximum Minimum Concatenate Dot
    UpSampling1D UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D
    Cropping1D Cropping2D Cropping3D Embedding LSTM GRU SimpleRNN Bidirectional
    MultiHeadAttention Attention AdditiveAttention Rescaling Normalization Identity
    """.split()
)
SHARED_MARK = "@"  # call k >= 2 of a shared layer is recorded as "<name>@k"
NEST_MARK = "/"  # a layer of a nested model is recorded as "<model>/<layer>"


@dataclass
class _Step:
    """One operation call of the flattened graph: call ``op`` with ``arguments`` whose
    symbolic tensors (by id) are replaced by the values in ``in_slots``."""

    op: Any
    arguments: Any
    in_slots: dict[int, int]
    out_slots: list[int]
    record: int | None = None
    frees: list[int] = field(default_factory=list)


@dataclass
class _Record:
    """One manifest entry: the value in ``slot``; ``layer`` gives the weights (None: none,
    e.g. an input or a later call of a shared layer)."""

    info: LayerInfo
    slot: int
    layer: Any | None = None
    input_index: int | None = None


@dataclass
class _Graph:
    """The model flattened into calls: nested models expanded, shared layers once per call."""

    inputs: list[Any]
    input_names: list[str]
    steps: list[_Step]
    records: list[_Record]
    warnings: list[str]


def _functional_of(op: Any) -> Any | None:
    """The functional graph behind a Functional or built Sequential model, else None (an
    ordinary layer, or a subclassed model whose ``call`` we cannot look into)."""
    keras = _keras()
    try:
        from keras.src.models.functional import Functional
    except ImportError:  # private module moved: nested models are then drawn as one block
        return None
    if isinstance(op, keras.Sequential):
        fn = getattr(op, "_functional", None)
        return fn if isinstance(fn, Functional) else None
    if isinstance(op, Functional) and type(op).call is Functional.call:
        return op
    return None


def _ordered_nodes(fn: Any) -> list[Any]:
    """The graph's nodes in execution order: deepest first, as Keras runs them, and within
    one depth in the order of ``model.layers`` (so single-call models keep that order)."""
    index = {id(op): i for i, op in enumerate(fn._operations)}
    nodes: list[Any] = []
    for depth in sorted(fn._nodes_by_depth, reverse=True):
        group = list(fn._nodes_by_depth[depth])
        group.sort(key=lambda node: index.get(id(node.operation), len(index)))
        nodes.extend(group)
    return nodes


class _GraphBuilder:
    def __init__(self, source: str | Path) -> None:
        self.source = source
        self.steps: list[_Step] = []
        self.records: list[_Record] = []
        self.warnings: list[str] = []
        self.sources: dict[int, list[str]] = {}  # slot -> nearest recorded producers
        self.first_call: dict[int, str] = {}  # id(layer) -> name of its first recorded call
        self.names: set[str] = set()
        self.n_slots = 0

    def slot(self) -> int:
        self.n_slots += 1
        return self.n_slots - 1

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def unique(self, base: str) -> str:
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}{SHARED_MARK}{k}"
        self.names.add(name)
        return name

    @staticmethod
    def call_numbers(nodes: list[Any]) -> dict[int, int]:
        """Per node, which call of its operation it is (1, 2 ...) in the order the user's
        code made the calls (Keras' node order), not the order they run in."""
        per_op: dict[int, list[Any]] = {}
        for node in nodes:
            per_op.setdefault(id(node.operation), []).append(node)
        numbers: dict[int, int] = {}
        for group in per_op.values():
            made = {id(n): i for i, n in enumerate(group[0].operation._inbound_nodes)}
            group = sorted(group, key=lambda n: made.get(id(n), len(made)))
            numbers.update((id(n), k) for k, n in enumerate(group, start=1))
        return numbers

    @staticmethod
    def call_name(prefix: str, op: Any, k: int) -> str:
        return prefix + str(op.name) + (f"{SHARED_MARK}{k}" if k > 1 else "")

    def add_input(self, tensor: Any, index: int) -> int:
        op = tensor._keras_history.operation
        slot = self.slot()
        name = self.unique(str(op.name))
        info = LayerInfo(name=name, type="InputLayer",
                         output_shape=_shape(tensor.shape[1:]),  # type: ignore[arg-type]
                         params=0, inbound=[], config={})
        self.records.append(_Record(info, slot, None, input_index=index))
        self.sources[slot] = [name]
        return slot

    def expand(self, fn: Any, prefix: str, input_slots: list[int]) -> list[int]:
        """Append ``fn``'s calls; returns the slots of its (flattened) outputs."""
        keras = _keras()
        tensor_slot = {id(t): s for t, s in zip(fn.inputs, input_slots, strict=True)}
        nodes = [n for n in _ordered_nodes(fn) if n.operation and not n.is_input]
        numbers = self.call_numbers(nodes)
        for node in nodes:
            if any(id(x) not in tensor_slot for x in node.input_tensors):
                continue  # not computable from these inputs (Keras skips it too)
            op = node.operation
            k = numbers[id(node)]
            outputs = keras.tree.flatten(node.outputs)
            inner = _functional_of(op)
            if inner is not None:
                inner_inputs = self._nested_inputs(node, inner)
                if inner_inputs is not None:
                    name = self.call_name(prefix, op, k)
                    out_slots = self.expand(
                        inner, name + NEST_MARK, [tensor_slot[id(t)] for t in inner_inputs]
                    )
                    for x, s in zip(outputs, out_slots, strict=False):
                        tensor_slot[id(x)] = s
                    continue
            in_slots = {id(x): tensor_slot[id(x)] for x in node.input_tensors}
            out_slots = [self.slot() for _ in outputs]
            for x, s in zip(outputs, out_slots, strict=True):
                tensor_slot[id(x)] = s
            step = _Step(op, node.arguments, in_slots, out_slots)
            parents: list[str] = []
            for s in in_slots.values():
                parents.extend(p for p in self.sources.get(s, []) if p not in parents)
            if isinstance(op, keras.layers.Layer) and outputs:
                step.record = self._record(op, prefix, k, outputs, out_slots[0], parents)
                produced = [self.records[step.record].info.name]
            else:  # a plain op (keras.ops.relu ...): no entry, edges look through it
                produced = parents
            for s in out_slots:
                self.sources[s] = produced
            self.steps.append(step)
        return [tensor_slot[id(t)] for t in fn.outputs]

    def _nested_inputs(self, node: Any, inner: Any) -> list[Any] | None:
        """The outer tensors feeding a nested model's inputs, in ``inner.inputs`` order;
        None when the call does not map plainly (then the model is one generic block)."""
        keras = _keras()
        args = node.arguments.args
        value = args[0] if args else node.arguments.kwargs.get("inputs")
        if isinstance(value, dict) and not isinstance(inner._inputs_struct, dict):
            try:
                value = [value[t.name] for t in inner.inputs]
            except KeyError:
                return None
        flat = keras.tree.flatten(value)
        if len(flat) != len(inner.inputs) or not all(
            isinstance(t, keras.KerasTensor) for t in flat
        ):
            return None
        return flat

    def _record(self, layer: Any, prefix: str, k: int, outputs: list[Any], slot: int,
                parents: list[str]) -> int:
        name = self.unique(self.call_name(prefix, layer, k))
        kind = type(layer).__name__
        config = _small_config(layer)
        # The weights go with one entry per layer: its first call (the one without "@k").
        first = self.first_call.get(id(layer))
        owner = first is None and k == 1
        if owner:
            self.first_call[id(layer)] = name
        else:
            config["shared"] = first if first is not None else self.call_name(prefix, layer, 1)
        shape = _shape(outputs[0].shape[1:])
        if kind not in KNOWN_TYPES:
            config["generic"] = True
            self.warn(f"layer {name}: {kind} is not a known layer type; recorded as a "
                      f"generic layer with output shape {shape}")
        if len(outputs) > 1:
            self.warn(f"layer {name}: {kind} has {len(outputs)} outputs; only the first "
                      "is recorded")
        try:
            params = int(layer.count_params())
        except Exception:  # unbuilt or odd custom layers: the picture does without
            params = 0
        info = LayerInfo(name=name, type=kind, output_shape=shape,  # type: ignore[arg-type]
                         params=params, inbound=parents, config=config)
        self.records.append(_Record(info, slot, layer if owner else None))
        return len(self.records) - 1


def _build_graph(model: Any, source: str | Path) -> _Graph:
    """Flatten the model into calls and manifest entries. Shapes with unknown dimensions
    stay None here; the first activations fill them in."""
    fn = _functional_of(model)
    try:
        inputs = list(fn.inputs) if fn is not None else []
    except Exception:
        inputs = []
    if fn is None or not inputs:
        raise ModelError(
            source,
            "the model has no defined input (a subclassed or unbuilt model); "
            "save a Functional or Sequential model built with keras.Input",
        )
    builder = _GraphBuilder(source)
    slots = [builder.add_input(t, i) for i, t in enumerate(inputs)]
    try:
        builder.expand(fn, "", slots)
    except ModelError:
        raise
    except Exception as exc:  # private graph attributes changed shape: say so in one line
        raise ModelError(source, f"cannot read the model's graph: {_one_line(exc)}") from None
    if len(builder.records) == len(inputs):
        raise ModelError(source, "the model has no layers besides its input")
    last_use: dict[int, int] = {}
    for i, step in enumerate(builder.steps):
        for s in step.in_slots.values():
            last_use[s] = i
    for s, i in last_use.items():
        builder.steps[i].frees.append(s)
    for step in builder.steps:  # outputs nobody reads are dropped as soon as they are made
        step.frees.extend(s for s in step.out_slots if s not in last_use)
    return _Graph(
        inputs=inputs,
        input_names=[r.info.name for r in builder.records[: len(inputs)]],
        steps=builder.steps,
        records=builder.records,
        warnings=builder.warnings,
    )


def _run_graph(graph: _Graph, xs: list[np.ndarray], epoch: int,
               source: str | Path) -> list[np.ndarray]:
    """Every record's activations for the inputs ``xs``: the graph runs eagerly, call by
    call, in inference mode (training=False), in batches of ``_PREDICT_BATCH``."""
    keras = _keras()
    count = int(xs[0].shape[0])
    chunks: list[list[np.ndarray]] = []
    for start in range(0, count, _PREDICT_BATCH):
        stop = min(count, start + _PREDICT_BATCH)
        values = {
            rec.slot: keras.ops.convert_to_tensor(xs[rec.input_index][start:stop])
            for rec in graph.records if rec.input_index is not None
        }
        out: list[np.ndarray | None] = [None] * len(graph.records)
        for r, rec in enumerate(graph.records):
            if rec.input_index is not None:
                out[r] = np.asarray(xs[rec.input_index][start:stop])
        for step in graph.steps:
            tensors = {tid: values[s] for tid, s in step.in_slots.items()}
            try:
                args, kwargs = step.arguments.fill_in(tensors)
                if "training" in getattr(step.op, "_call_context_args", ()):
                    kwargs["training"] = False
                result = keras.tree.flatten(step.op(*args, **kwargs))
            except Exception as exc:
                what = (f"layer {graph.records[step.record].info.name}"
                        if step.record is not None else f"operation {step.op.name}")
                raise ModelError(
                    source, f"epoch {epoch}: {what}: cannot compute activations: "
                    f"{_one_line(exc)}"
                ) from None
            for s, y in zip(step.out_slots, result, strict=False):
                values[s] = y
            if step.record is not None:
                first = result[0] if result else None
                try:
                    arr = np.asarray(keras.ops.convert_to_numpy(first))
                except Exception:
                    arr = np.asarray(first)
                if arr.dtype.kind not in "biuf":  # strings, objects: nothing to draw
                    arr = np.zeros((stop - start, 1), np.float32)
                if arr.ndim == 0 or arr.shape[0] != stop - start:
                    name = graph.records[step.record].info.name
                    message = (f"layer {name}: its output {list(arr.shape)} has no batch axis; "
                               "recorded as the same value for every input")
                    if message not in graph.warnings:
                        graph.warnings.append(message)
                    arr = np.broadcast_to(arr[np.newaxis], (stop - start, *arr.shape))
                out[step.record] = arr
            for s in step.frees:
                values.pop(s, None)
        chunks.append(out)  # type: ignore[arg-type]
    if len(chunks) == 1:
        return chunks[0]
    return [np.concatenate([c[r] for c in chunks]) for r in range(len(graph.records))]
# --------------------------------------------------------------------------- inputs


def _fit_inputs(inputs: Any, expected: list[int | None], dtype: str, source: str,
                input_name: str) -> np.ndarray:
    """Match the input batch to the model input, adding a trailing channel axis of 1 (grey
    images given as (N, H, W)) or a batch axis (one sample) when that is all that is missing."""
    where = source or "inputs"
    try:
        x = np.asarray(inputs)
    except Exception as exc:
        raise ModelError(where, f"inputs are not an array: {_one_line(exc)}") from None
    if x.dtype.kind not in "biuf":
        raise ModelError(where, f"inputs must be numeric, got dtype {x.dtype}")

    def fits(shape: tuple[int, ...]) -> bool:
        return len(shape) == len(expected) and all(
            e is None or e == s for e, s in zip(expected, shape, strict=True)
        )

    if x.ndim >= 1 and fits(x.shape[1:]):
        pass
    elif x.ndim >= 1 and fits((*x.shape[1:], 1)):
        x = x[..., np.newaxis]
    elif fits(x.shape):
        x = x[np.newaxis]
    elif fits((*x.shape, 1)):
        x = x[np.newaxis, ..., np.newaxis]
    else:
        want = "(N, " + ", ".join("?" if e is None else str(e) for e in expected) + ")"
        raise ModelError(
            where,
            f"inputs have shape {tuple(x.shape)}; model input {input_name} expects {want}",
        )
    if x.shape[0] < 1:
        raise ModelError(where, "inputs: no samples")
    x = x.astype(dtype if np.dtype(dtype).kind == "f" else "float32", copy=False)
    if not np.all(np.isfinite(x)):
        raise ModelError(where, "inputs contain NaN or Inf")
    return x


# --------------------------------------------------------------------------- weights


def _load_weights(model: Any, file: Path, epoch: int) -> None:
    """``model.load_weights`` with its long multi-line errors turned into one line naming the
    weights file and, when Keras says which, the layer."""
    if not file.is_file():
        raise ModelError(file, f"epoch {epoch}: weights file does not exist")
    try:
        model.load_weights(str(file))
    except Exception as exc:
        text = " ".join(str(exc).split())
        layer = re.search(r"object <\w+ name=([^,>\s]+)", text) or re.search(
            r"[Ll]ayer ['\"]?([\w./-]+?)['\"]?(?:[\s:,]|$)", text
        )
        shapes = re.search(
            r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text
        )
        counts = re.search(r"expected (\d+) variables?, but received (\d+) variables?", text)
        where = f" at layer {layer.group(1)}" if layer else ""
        if isinstance(exc, OSError) and not (shapes or counts):
            raise ModelError(
                file, f"epoch {epoch}: not a readable weights file ({_one_line(exc, 120)})"
            ) from None
        if shapes:
            detail = f"the model expects shape {shapes.group(1)}, the file has {shapes.group(2)}"
        elif counts:
            detail = (
                f"the model expects {counts.group(1)} arrays, the file has {counts.group(2)}"
            )
        else:
            detail = _one_line(exc, 160)
        raise ModelError(
            file, f"epoch {epoch}: weights do not fit the model{where}: {detail}"
        ) from None




# --------------------------------------------------------------------------- storage


def _keep_channels(total: int, max_maps: int, select: str) -> list[int]:
    """Indices of the channels kept when a layer has more than ``max_maps``."""
    if select == "first":
        return list(range(max_maps))
    return sorted({int(round(v)) for v in np.linspace(0, total - 1, max_maps)})


def _block_mean(arr: np.ndarray, axis: int, factor: int) -> np.ndarray:
    """Mean over blocks of ``factor`` along ``axis``; the last block may be shorter."""
    size = arr.shape[axis]
    starts = np.arange(0, size, factor)
    sums = np.add.reduceat(arr, starts, axis=axis)
    counts = np.minimum(starts + factor, size) - starts
    shape = [1] * arr.ndim
    shape[axis] = len(counts)
    return sums / counts.reshape(shape).astype(sums.dtype)


@dataclass
class _Storage:
    """What to keep of each layer's activations (one choice per layer for every epoch)."""

    max_maps: int | None = None
    max_side: int | None = None
    select: str = "even"

    def plan(self, info: LayerInfo) -> None:
        """Set ``stored_shape``/``channels`` on ``info`` from its output shape."""
        shape = info.output_shape
        if len(shape) < 2:  # vectors (Dense, pooled features) are kept whole
            return
        stored = list(shape)
        if self.max_maps is not None and shape[-1] > self.max_maps:
            info.channels = _keep_channels(shape[-1], self.max_maps, self.select)
            stored[-1] = len(info.channels)
        if self.max_side is not None and max(shape[:-1]) > self.max_side:
            factor = -(-max(shape[:-1]) // self.max_side)
            stored[:-1] = [-(-d // factor) for d in shape[:-1]]
        if stored != shape:
            info.stored_shape = stored

    def apply(self, act: np.ndarray, info: LayerInfo) -> np.ndarray:
        if info.stored_shape is None:
            return act
        if info.channels is not None:
            act = act[..., info.channels]
        shape = info.output_shape
        if info.stored_shape[:-1] != shape[:-1]:
            factor = -(-max(shape[:-1]) // self.max_side)  # type: ignore[operator]
            act = act.astype(np.float32, copy=False)
            for axis in range(1, act.ndim - 1):
                act = _block_mean(act, axis, factor)
        return act


# --------------------------------------------------------------------------- dump

Loader = Callable[[Any], None]
WeightsArg = str | Path | Sequence[str | Path | tuple[int, str | Path] | tuple[int, Any, Loader]]


def _series(weights: WeightsArg | None, source: str) -> list[tuple[int, str, Loader | None]]:
    """``(epoch, source, load)`` per epoch; ``load`` None keeps the model's own weights."""
    if weights is None:
        return [(0, source, None)]
    if not isinstance(weights, (str, Path)):
        items = list(weights)
        if items and all(isinstance(it, tuple) and len(it) == 3 and callable(it[2])
                         for it in items):
            triples = sorted(((int(n), str(src), load) for n, src, load in items),
                             key=lambda t: t[0])
            numbers = [n for n, _, _ in triples]
            if len(set(numbers)) != len(numbers):
                raise ModelError(None, "weights: duplicate epoch numbers")
            return triples  # type: ignore[return-value]
        weights = items  # type: ignore[assignment]

    def file_loader(file: Path, epoch: int) -> Loader:
        return lambda model: _load_weights(model, file, epoch)

    return [(n, str(f), file_loader(f, n)) for n, f in _resolve_weights(weights)]  # type: ignore[arg-type]


def _model_inputs(inputs: Any, graph: _Graph, model: Any, where: str) -> list[np.ndarray]:
    """One array per model input: ``inputs`` is an array (one input), or a list/tuple in
    ``model.inputs`` order, or a dict keyed by input name."""
    n = len(graph.inputs)
    names = graph.input_names
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
    xs = []
    for i, (tensor, value) in enumerate(zip(graph.inputs, given, strict=True)):
        dtype = str(getattr(tensor, "dtype", "float32") or "float32")
        expected = graph.records[i].info.output_shape
        xs.append(_fit_inputs(value, expected, dtype, where, names[i]))  # type: ignore[arg-type]
    counts = {int(x.shape[0]) for x in xs}
    if len(counts) != 1:
        raise ModelError(where, "inputs: the model inputs have different sample counts "
                         f"({', '.join(str(int(x.shape[0])) for x in xs)})")
    return xs


def dump_keras(
    model_path: str | Path | Any,
    weights: WeightsArg | None,
    inputs: np.ndarray | Sequence[np.ndarray] | dict[str, np.ndarray],
    out_dir: str | Path,
    *,
    labels: Sequence[Any] | np.ndarray | None = None,
    input_source: str = "",
    dtype: str = "float32",
    metrics_by_epoch: dict[int, dict[str, float]] | None = None,
    max_maps: int | None = None,
    max_side: int | None = None,
    maps_select: str = "even",
    store_weights: bool = True,
    compress: bool = False,
) -> Path:
    """Record a Keras model's layers and, for each epoch's weights, every layer's activations
    for ``inputs`` into the dump folder ``out_dir`` (written atomically: a failure leaves an
    earlier dump there untouched). Returns the dump folder.

    ``model_path``: a ``.keras``/``.h5`` file or an already-built Keras model (then the
    manifest's source is ``model.name``). ``weights``: None (the model's own weights, as
    epoch 0), a glob/folder/list of weight files, ``(epoch, file)`` pairs, or
    ``(epoch, source, load)`` triples where ``load(model)`` sets that epoch's weights (for
    formats another module reads). ``inputs``: one array, or one per model input (a list in
    ``model.inputs`` order or a dict by input name).

    Storage, to keep big models small on disk: ``dtype`` for activations and float weights;
    ``max_maps`` keeps at most that many channels (last axis) per layer, ``maps_select``
    ``"even"`` (evenly spaced) or ``"first"``; ``max_side`` block-averages maps whose spatial
    sides exceed it (one factor for all spatial axes, so the aspect stays). The manifest
    then records ``stored_shape`` and ``channels`` per reduced layer. ``store_weights=False``
    leaves weights out; ``compress`` zips the arrays. Warnings (generic layers, layers with
    several outputs) are issued with ``warnings.warn`` and listed in ``model["warnings"]``.
    """
    if isinstance(model_path, (str, Path)):
        path: str | Path = Path(model_path)
        model = load_keras_model(path)  # checks the file before importing Keras
        source_label = str(model_path)
    else:
        model = model_path
        path = source_label = str(getattr(model, "name", "model"))
    capture = ModelCapture(model, inputs, path=path, labels=labels, input_source=input_source,
                           dtype=dtype, max_maps=max_maps, max_side=max_side,
                           maps_select=maps_select)
    series = _series(weights, source_label)
    metrics = {int(k): dict(v) for k, v in (metrics_by_epoch or {}).items()}
    writer = DumpWriter(out_dir, dtype=dtype, weights_dtype=dtype, compress=compress)
    try:
        for epoch, source, load in series:
            if load is not None:
                try:
                    load(model)
                except ModelError:
                    raise
                except Exception as exc:
                    raise ModelError(
                        source, f"epoch {epoch}: cannot load the weights: {_one_line(exc)}"
                    ) from None
            stored, layer_weights = capture.capture(epoch, source)
            writer.add_epoch(epoch, stored, layer_weights if store_weights else None,
                             source=source, metrics=metrics.get(epoch))
        capture.warn_late()
        return writer.finish(capture.model_info(source_label), capture.infos,
                             capture.inputs_info(), input_arrays=capture.input_arrays())
    except BaseException:
        writer.abort()
        raise


class ModelCapture:
    """A model's layers and, on demand, every layer's activations and weights as stored in a
    dump: shared by ``dump_keras`` (epochs from files) and the training ``Recorder`` (epochs
    as they happen). The first capture fixes each layer's shapes and storage reduction."""

    def __init__(self, model: Any, inputs: Any, *, path: str | Path = "model",
                 labels: Sequence[Any] | np.ndarray | None = None, input_source: str = "",
                 dtype: str = "float32", max_maps: int | None = None,
                 max_side: int | None = None, maps_select: str = "even") -> None:
        self.keras = _keras()
        if not isinstance(model, self.keras.Model):
            raise ModelError(None, f"model: expected a model file or a Keras model, got "
                             f"{type(model).__name__}")
        for name, value in (("max_maps", max_maps), ("max_side", max_side)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ModelError(None, f"{name}: expected a positive integer, got {value!r}")
        if maps_select not in ("even", "first"):
            raise ModelError(None,
                             f"maps_select: expected 'even' or 'first', got {maps_select!r}")
        try:
            if np.dtype(dtype).kind != "f":
                raise TypeError
        except TypeError:
            raise ModelError(None,
                             f"dtype: {dtype!r} is not a float type (float32, float16)") from None
        self.model = model
        self.dtype = np.dtype(dtype)
        self.max_maps, self.max_side, self.maps_select = max_maps, max_side, maps_select
        self.graph = _build_graph(model, path)
        for message in self.graph.warnings:
            warnings.warn(message, stacklevel=3)
        self._warned = len(self.graph.warnings)
        self.infos = [rec.info for rec in self.graph.records]
        self.input_source = input_source
        self.xs = _model_inputs(inputs, self.graph, model, input_source or "inputs")
        self.count = int(self.xs[0].shape[0])
        self.labels: list[Any] | None = None
        if labels is not None:
            self.labels = np.asarray(labels).tolist()
            if not isinstance(self.labels, list) or len(self.labels) != self.count:
                n = len(self.labels) if isinstance(self.labels, list) else 1
                raise ModelError(input_source or "labels",
                                 f"labels: {n} labels for {self.count} inputs")
        self.storage = _Storage(max_maps, max_side, maps_select)
        self.first_epoch: int | None = None

    def capture(self, epoch: int, source: str | Path) -> tuple[list[np.ndarray],
                                                                list[list[np.ndarray]]]:
        """Activations (reduced for storage) and weights of every layer, as the model is now."""
        infos = self.infos
        activations = _run_graph(self.graph, self.xs, epoch, source)
        for info, act in zip(infos, activations, strict=True):
            _check_activations(act, info, epoch, source, self.dtype)
        if self.first_epoch is None:
            self.first_epoch = epoch
            for info, act in zip(infos, activations, strict=True):
                info.output_shape = [int(d) for d in act.shape[1:]]
                self.storage.plan(info)
        else:
            for info, act in zip(infos, activations, strict=True):
                if list(act.shape[1:]) != info.output_shape:
                    raise ModelError(
                        source,
                        f"epoch {epoch}: layer {info.name}: activations shape "
                        f"{list(act.shape[1:])} differs from epoch {self.first_epoch}'s "
                        f"{info.output_shape}",
                    )
        stored = [self.storage.apply(act, info)
                  for info, act in zip(infos, activations, strict=True)]
        del activations
        layer_weights: list[list[np.ndarray]] = [
            [np.asarray(w) for w in rec.layer.get_weights()] if rec.layer is not None else []
            for rec in self.graph.records
        ]
        for info, ws in zip(infos, layer_weights, strict=True):
            # relu(NaN) is 0 in TensorFlow, so NaN weights can hide behind finite outputs
            if any(w.dtype.kind == "f" and not np.all(np.isfinite(w)) for w in ws):
                raise ModelError(source, f"epoch {epoch}: layer {info.name}: NaN or Inf weights")
        return stored, layer_weights

    def warn_late(self) -> None:
        """Warnings found while running (no batch axis, say), issued once."""
        for message in self.graph.warnings[self._warned:]:
            warnings.warn(message, stacklevel=3)
        self._warned = len(self.graph.warnings)

    def model_info(self, source_label: str) -> dict[str, Any]:
        storage = {k: v for k, v in (("dtype", self.dtype.name), ("max_maps", self.max_maps),
                                     ("max_side", self.max_side),
                                     ("maps_select", self.maps_select if self.max_maps
                                      else None))
                   if v is not None}
        return {
            "name": str(self.model.name),
            "source": source_label,
            "framework": f"keras {self.keras.__version__}",
            "inputs": list(self.graph.input_names),
            "warnings": list(self.graph.warnings),
            "storage": storage,
        }

    def input_arrays(self) -> dict[str, np.ndarray]:
        return {("inputs" if i == 0 else f"input_{i}"): x for i, x in enumerate(self.xs)}

    def inputs_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "count": self.count,
            "shape": [int(d) for d in self.xs[0].shape[1:]],
            "source": self.input_source,
            "labels": self.labels,
        }
        if len(self.xs) > 1:
            info["names"] = list(self.graph.input_names)
            info["shapes"] = [[int(d) for d in x.shape[1:]] for x in self.xs]
            info["arrays"] = list(self.input_arrays())
        return info


def _check_activations(act: np.ndarray, info: LayerInfo, epoch: int, source: str | Path,
                       dtype: np.dtype) -> None:
    if not np.all(np.isfinite(act)):
        raise ModelError(
            source, f"epoch {epoch}: layer {info.name}: NaN or Inf activations"
        )
    if dtype.itemsize < act.dtype.itemsize and dtype.kind == "f":
        if not np.all(np.isfinite(act.astype(dtype))):
            raise ModelError(
                source,
                f"epoch {epoch}: layer {info.name}: activations overflow {dtype.name}; "
                "dump with dtype float32",
            )


def dump_size(path: str | Path) -> int:
    """Bytes on disk under a dump folder (for progress lines and benchmarks)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())

