"""ONNX capture: an ``.onnx`` model read (``onnx_graph``) and run with onnxruntime.

Every intermediate value is made a graph output and the session runs with graph
optimisations off (``ORT_DISABLE_ALL``), so each value is the one the model's own node
computes. A first run on the inputs gives every value's shape, from which the walk follows
views and permutations; later runs return the entries' values (NCHW stored as NHWC).
A model traced for a fixed batch size runs in batches of that size, the last one padded.
``OnnxState`` holds the model and its session; a series swaps in each epoch's
initializers. ``dump_onnx`` is the entry point for a path or a series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError, one_line
from nnrender.model.capture import Capture, ModelLayers, model_inputs, write_dump
from nnrender.model.channels_first import drawn, finite, note_masked
from nnrender.model.epochs import EpochLoad, Series, find_model_files, number_files
from nnrender.model.onnx_env import onnx_module, onnx_version, ort_module
from nnrender.model.onnx_graph import build_onnx_graph, input_tag
from nnrender.model.onnx_ops import Constants
from nnrender.model.scores import ATTENTION_BUDGET, BUDGET, TOKENS, Scores
from nnrender.model.storage import DEFAULT_MAX_TOKENS
from nnrender.model.vocab import Vocab

PREDICT_BATCH = 64
_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64",
           9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


def load_onnx(path: Path | bytes, epoch: int = 0) -> Any:
    """An ONNX model from a file (or bytes), checked; a corrupt file is a one-line error."""
    onnx = onnx_module()
    where = path if isinstance(path, Path) else "model"
    if isinstance(path, Path) and not path.is_file():
        raise ModelError(path, "model file does not exist")
    at = f"epoch {epoch}: " if epoch else ""
    try:
        model = onnx.load_from_string(path) if isinstance(path, bytes) else onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(where, f"{at}not a valid ONNX model (corrupt or truncated?): "
                                f"{one_line(exc, 160)}") from None
    if not model.graph.node:
        raise ModelError(where, f"{at}the ONNX model has no nodes")
    return model


def _promoted(model: Any) -> Any:
    """A copy of ``model`` whose every node output is a graph output."""
    onnx = onnx_module()
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    have = {o.name for o in copy.graph.output}
    for node in copy.graph.node:
        for name in node.output:
            if name and name not in have:
                copy.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
                have.add(name)
    return copy


class OnnxState:
    """An ONNX model with every value an output, and its onnxruntime session."""

    def __init__(self, model: Any, name: str, source: str | Path,
                 classes: dict[str, str] | None = None) -> None:
        self.name = name
        self.classes = classes or {}
        self.model = model
        self.session = self._session(model, source)

    @staticmethod
    def _session(model: Any, source: str | Path) -> Any:
        ort = ort_module()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(_promoted(model).SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(source, f"onnxruntime cannot run the model: "
                                     f"{one_line(exc, 200)}") from None

    def swap(self, other: Any, source: str | Path, epoch: int) -> None:
        """The next epoch's model: the same initializers (names and shapes) and nodes."""
        mine = {i.name: tuple(i.dims) for i in self.model.graph.initializer}
        theirs = {i.name: tuple(i.dims) for i in other.graph.initializer}
        if len(other.graph.node) != len(self.model.graph.node) or set(mine) != set(theirs):
            raise ModelError(source, f"epoch {epoch}: not the same architecture as the first "
                                     "file's (other nodes or initializers)")
        for key, dims in mine.items():
            if theirs[key] != dims:
                raise ModelError(source, f"epoch {epoch}: initializer {key} has shape "
                                         f"{list(theirs[key])}, the first file's {list(dims)}")
        self.model = other
        self.session = self._session(other, source)


def input_layout(model: Any) -> tuple[list[str], list[list[int | None]], list[str], list[bool]]:
    """The model inputs: names, shapes without the batch axis (None: free), dtypes, and
    whether each is channels-first."""
    inits = {i.name for i in model.graph.initializer}
    names, shapes, dtypes, firsts = [], [], [], []
    for value in model.graph.input:
        if value.name in inits:
            continue
        t = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                for d in t.shape.dim]
        names.append(value.name)
        shapes.append(dims[1:])
        dtypes.append(_DTYPES.get(t.elem_type, "float32"))
        firsts.append(input_tag(model.graph, value.name, len(dims)).channel is not None)
    return names, shapes, dtypes, firsts


def _batch_size(model: Any) -> int | None:
    inits = {i.name for i in model.graph.initializer}
    for value in model.graph.input:
        if value.name not in inits:
            dims = value.type.tensor_type.shape.dim
            if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
                return int(dims[0].dim_value)
            return None
    return None


def _padded(x: np.ndarray, size: int) -> np.ndarray:
    if x.shape[0] >= size:
        return x
    return np.concatenate([x, np.repeat(x[-1:], size - x.shape[0], axis=0)])


class OnnxCapture(Capture):
    """An ONNX model's entries and, on demand, their activations and weights (see
    ``capture.Capture``); ``model`` is an ``OnnxState``."""

    def __init__(self, model: OnnxState, inputs: Any, **options: Any) -> None:
        names, shapes, dtypes, firsts = input_layout(model.model)
        self.layout = (names, shapes, dtypes, firsts)
        self.fixed_batch = _batch_size(model.model)
        self.first_xs = model_inputs(inputs, names, shapes, dtypes,
                                     options.get("input_source") or "inputs", firsts)
        self._scores: dict[int, Scores] = {}
        xs = self.first_xs
        super().__init__(model, xs[0] if len(xs) == 1 else xs, **options)

    def _run_values(self, xs: list[np.ndarray], wanted: list[str], epoch: int,
                    source: str | Path) -> list[dict[str, np.ndarray]]:
        names = self.layout[0]
        count = int(xs[0].shape[0])
        size = self.fixed_batch or min(count, PREDICT_BATCH)
        out = []
        for start in range(0, count, size):
            part = [x[start:start + size] for x in xs]
            feed = {n: (_padded(p, size) if self.fixed_batch else p)
                    for n, p in zip(names, part, strict=True)}
            try:
                values = self.model.session.run(wanted, feed)
            except Exception as exc:
                raise ModelError(source, f"epoch {epoch}: cannot compute activations: "
                                         f"{one_line(exc, 200)}") from None
            out.append({"__rows": np.asarray(part[0].shape[0]), "__size": np.asarray(size),
                        **dict(zip(wanted, values, strict=True))})
        return out

    def read_layers(self, model: Any, path: str | Path) -> ModelLayers:
        names, shapes, dtypes, firsts = self.layout
        outputs = [o.name for o in model.session.get_outputs()]
        first = [x[:self.fixed_batch or PREDICT_BATCH] for x in self.first_xs]
        values = self._run_values(first, outputs, 0, path)[0]
        found = {k: [int(d) for d in np.shape(v)] for k, v in values.items()
                 if not k.startswith("__")}
        for n, x in zip(names, first, strict=True):
            found[n] = [self.fixed_batch or int(x.shape[0]), *x.shape[1:]]
        batch = self.fixed_batch or int(first[0].shape[0])
        self.graph, self.walk = build_onnx_graph(model.model, names, found, batch, path,
                                                 model.classes)
        for e in self.graph.entries:
            e.info.params = int(sum(np.size(w) for w in self.walk.weights(e)))
        return ModelLayers(infos=[e.info for e in self.graph.entries], input_names=names,
                           input_dtypes=dtypes, warnings=self.graph.warnings,
                           input_shapes=shapes, channels_first=firsts)

    @property
    def framework(self) -> str:
        return onnx_version()

    @property
    def model_name(self) -> str:
        return self.model.name

    def _skip(self, e: Any) -> Scores | None:
        shape = self.walk.shapes.get(e.probs, [])
        batch = self.walk.batch or 1
        heads = shape[0] // batch if len(shape) == 3 else (shape[1] if len(shape) == 4 else 1)
        t, s = (shape[-2], shape[-1]) if len(shape) >= 3 else (0, 0)
        if self.storage.max_tokens is not None and max(t, s) > self.storage.max_tokens:
            return Scores(None, *e.sides, skipped=TOKENS)
        size = self.count * heads * t * s
        if size > self.max_attention:
            return Scores(None, *e.sides, skipped=BUDGET, size=size)
        return None

    def run(self, xs: list[np.ndarray], epoch: int, source: str | Path) -> list[np.ndarray]:
        if self.walk.graph is not self.model.model.graph:  # a series' next epoch
            self.walk.graph = self.model.model.graph
            self.walk.consts = Constants(self.walk.graph)
        entries = self.graph.entries
        skipped = {i: self._skip(e) for i, e in enumerate(entries) if e.probs}
        probs = [e.probs for i, e in enumerate(entries) if e.probs and skipped[i] is None]
        wanted = list(dict.fromkeys([e.value for e in entries if e.input_index is None]
                                    + probs))
        chunks = self._run_values(xs, wanted, epoch, source)
        acts: list[np.ndarray] = []
        masked: list[str] = []
        for e in entries:
            if e.input_index is not None:
                acts.append(drawn(xs[e.input_index], e.tag))
                continue
            parts = [self._value(c[e.value], e, int(c["__rows"]), masked) for c in chunks]
            acts.append(np.concatenate(parts) if len(parts) > 1 else parts[0])
        note_masked(self.warnings, masked)
        self._scores = {}
        for i, e in enumerate(entries):
            if not e.probs:
                continue
            if skipped[i] is not None:
                self._scores[i] = skipped[i]  # type: ignore[assignment]
                continue
            parts = []
            for c in chunks:
                arr, rows, size = c[e.probs], int(c["__rows"]), int(c["__size"])
                if arr.ndim == 3 and arr.shape[0] % size == 0:
                    arr = arr.reshape(size, arr.shape[0] // size, *arr.shape[1:])
                parts.append(arr[:rows])
            self._scores[i] = Scores(np.concatenate(parts), *e.sides)
        return acts

    def _value(self, arr: np.ndarray, e: Any, rows: int, masked: list[str]) -> np.ndarray:
        arr = np.asarray(arr)
        if e.generic or arr.dtype.kind not in "biuf":
            return np.zeros((rows, 1), np.float32)
        if e.functional:
            arr, found = finite(arr)
            if found:
                masked.append(e.info.name)
        if e.tag.batch is None:
            return np.broadcast_to(arr[np.newaxis], (rows, *arr.shape)).copy()
        return drawn(arr.astype(np.float32) if arr.dtype.kind == "b" else arr, e.tag, rows)

    def attention_scores(self) -> dict[int, Scores]:
        return self._scores

    def layer_weights(self) -> list[list[np.ndarray]]:
        out = []
        for e in self.graph.entries:
            ws = self.walk.weights(e) if e.input_index is None else []
            out.append([np.asarray(w) for w in ws])
        return out


def onnx_series(files: list[Path], source: str, allow_gaps: bool,
                read: Callable[[Path, int], Any] | None = None) -> tuple[Any, Series | None]:
    """The first file's model and, for several files, every file as an epoch (``read``:
    how a file becomes an ONNX model; ``load_onnx`` by default)."""
    read = read or (lambda p, n: load_onnx(p, n))
    ordered = number_files(files, source, allow_gaps) if len(files) > 1 else [(0, files[0])]
    first = read(ordered[0][1], ordered[0][0])
    if len(ordered) == 1:
        return first, None

    def loader(path: Path, epoch: int) -> Any:
        return lambda state: state.swap(read(path, epoch), path, epoch)

    series = [EpochLoad(n, str(p), loader(p, n) if i else None)
              for i, (n, p) in enumerate(ordered)]
    return first, series


def dump_onnx(
    model_path: str | Path | Sequence[str | Path],
    inputs: Any,
    out_dir: str | Path,
    *,
    allow_gaps: bool = False,
    labels: Sequence[Any] | np.ndarray | None = None,
    input_source: str = "",
    dtype: str = "float32",
    metrics_by_epoch: dict[int, dict[str, float]] | None = None,
    max_maps: int | None = None,
    max_side: int | None = None,
    maps_select: str = "even",
    store_weights: bool = True,
    compress: bool = False,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    max_attention: int = ATTENTION_BUDGET,
    vocab: Sequence[str] | str | Path | Vocab | None = None,
) -> Path:
    """Record an ONNX model (a ``.onnx`` file, or a glob/folder/list of them: one epoch
    each, the first gives the graph) for ``inputs`` (arrays in the model's layout) into
    the dump folder ``out_dir``. Storage options as ``dump_keras``."""
    if isinstance(model_path, (str, Path)):
        files = find_model_files(str(model_path), (".onnx",))
    else:
        files = [Path(p) for p in model_path]
    label = str(model_path) if isinstance(model_path, (str, Path)) else str(files[0])
    model, series = onnx_series(files, label, allow_gaps)
    state = OnnxState(model, files[0].stem, files[0])
    capture = OnnxCapture(state, inputs, path=label, labels=labels, input_source=input_source,
                          dtype=dtype, max_maps=max_maps, max_side=max_side,
                          maps_select=maps_select, max_tokens=max_tokens,
                          max_attention=max_attention, vocab=vocab)
    return write_dump(capture, series or [EpochLoad(0, label, None)], out_dir,
                      source_label=label, metrics_by_epoch=metrics_by_epoch,
                      store_weights=store_weights, compress=compress)
