"""Keras capture: run the flattened graph (``keras_graph``) and dump a Keras model.

``ModelCapture`` is Keras' half of ``capture.Capture``: it reads the layers with
``keras_graph.build_graph``, computes activations by running that graph eagerly, call by
call, in inference mode, and reads each layer's weights. ``dump_keras`` is the entry point
for a model file or a built model plus a series of epochs; the training ``Recorder``
(``keras_recorder``) shares ``ModelCapture``. Every problem the user can fix is a one-line
``ModelError`` naming the file and, where known, the layer and epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError, one_line
from nnrender.model.capture import Capture, ModelLayers, write_dump
from nnrender.model.epochs import WeightsArg, resolve_series
from nnrender.model.keras_env import keras_module
from nnrender.model.keras_files import file_loader, load_keras_model
from nnrender.model.keras_graph import Graph, build_graph

PREDICT_BATCH = 64  # samples per forward pass: bounds memory for big input sets


def run_graph(graph: Graph, xs: list[np.ndarray], epoch: int,
               source: str | Path) -> list[np.ndarray]:
    """Every record's activations for the inputs ``xs``: the graph runs eagerly, call by
    call, in inference mode (training=False), in batches of ``PREDICT_BATCH``."""
    keras = keras_module()
    count = int(xs[0].shape[0])
    chunks: list[list[np.ndarray]] = []
    for start in range(0, count, PREDICT_BATCH):
        stop = min(count, start + PREDICT_BATCH)
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
                    f"{one_line(exc)}"
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


class ModelCapture(Capture):
    """A Keras model's layers and, on demand, their activations and weights (see
    ``capture.Capture``; ``options`` are its keyword arguments: ``path``, ``labels``,
    ``input_source``, ``dtype``, ``max_maps``, ``max_side``, ``maps_select``)."""

    def __init__(self, model: Any, inputs: Any, **options: Any) -> None:
        self.keras = keras_module()
        if not isinstance(model, self.keras.Model):
            raise ModelError(None, f"model: expected a model file or a Keras model, got "
                             f"{type(model).__name__}")
        super().__init__(model, inputs, **options)

    def read_layers(self, model: Any, path: str | Path) -> ModelLayers:
        """The flattened graph's entries; input dtypes from the model's input tensors."""
        self.graph = build_graph(model, path)
        dtypes = [str(getattr(t, "dtype", "float32") or "float32") for t in self.graph.inputs]
        return ModelLayers(infos=[rec.info for rec in self.graph.records],
                           input_names=self.graph.input_names, input_dtypes=dtypes,
                           warnings=self.graph.warnings)

    @property
    def framework(self) -> str:
        """``keras <version>``."""
        return f"keras {self.keras.__version__}"

    def run(self, xs: list[np.ndarray], epoch: int, source: str | Path) -> list[np.ndarray]:
        """Every entry's activations (``run_graph``)."""
        return run_graph(self.graph, xs, epoch, source)

    def layer_weights(self) -> list[list[np.ndarray]]:
        """``get_weights()`` of each entry's layer (none for inputs and later shared calls)."""
        return [
            [np.asarray(w) for w in rec.layer.get_weights()] if rec.layer is not None else []
            for rec in self.graph.records
        ]


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
    several outputs) are issued as ``NNRenderWarning`` and listed in ``model["warnings"]``.
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
    series = resolve_series(weights, source_label, file_loader)
    return write_dump(capture, series, out_dir, source_label=source_label,
                      metrics_by_epoch=metrics_by_epoch, store_weights=store_weights,
                      compress=compress)
