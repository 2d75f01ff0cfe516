"""Running the flattened graph (``keras_graph``): every record's activations, and the
attention layers' scores, for a batch of inputs.

The graph runs eagerly, call by call, in inference mode (``training=False``), in batches of
``PREDICT_BATCH``. A custom layer recorded as a sub-graph runs under a ``Collector``
(``keras_nested``) that keeps its nested calls' outputs. TensorFlow's "triggered
tf.function retracing" warnings (Keras builds a fresh XLA function per grouped-convolution
call on the CPU) are silenced here, and only here: they say nothing about the user's model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError, one_line
from nnrender.model.keras_attention import call_with_scores
from nnrender.model.keras_env import keras_module
from nnrender.model.keras_graph import Graph, Step
from nnrender.model.keras_nested import Collector, observing
from nnrender.model.scores import Scores

PREDICT_BATCH = 64  # samples per forward pass: bounds memory for big input sets
RETRACING = "triggered tf.function retracing"


class _NoRetracing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            return RETRACING not in record.getMessage()
        except Exception:  # a record whose message cannot be formatted: let it through
            return True


@contextmanager
def quiet_retracing() -> Iterator[None]:
    """Drop TensorFlow's retracing warnings (the ``tensorflow`` and ``absl`` loggers)."""
    quiet = _NoRetracing()
    loggers = [logging.getLogger("tensorflow"), logging.getLogger("absl")]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def _array(value: Any, rows: int, name: str, warnings: list[str]) -> np.ndarray:
    """One record's output as numpy, batch first; outputs with nothing to draw become zeros,
    outputs without a batch axis are repeated for every input (with a warning)."""
    keras = keras_module()
    try:
        arr = np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:
        try:
            arr = np.asarray(value)
        except Exception:
            arr = np.zeros((rows, 1), np.float32)
    if arr.dtype.kind not in "biuf":  # strings, objects: nothing to draw
        arr = np.zeros((rows, 1), np.float32)
    if arr.ndim == 0 or arr.shape[0] != rows:
        message = (f"layer {name}: its output {list(arr.shape)} has no batch axis; "
                   "recorded as the same value for every input")
        if message not in warnings:
            warnings.append(message)
        arr = np.broadcast_to(arr[np.newaxis], (rows, *arr.shape))
    return arr


def _call(graph: Graph, step: Step, args: tuple, kwargs: dict, epoch: int,
          source: str | Path) -> tuple[Any, dict[int, Any], dict[int, Scores]]:
    """Call one step: (its result, nested records' outputs, attention scores by record)."""
    policy = graph.policy
    if step.nested is not None and step.record is not None:
        wanted = {key: entry for key, (_, entry) in step.nested.items()}
        collector = Collector(graph.records[step.record].info.name, wanted, policy)
        with observing(collector):
            result = step.op(*args, **kwargs)
        outputs: dict[int, Any] = {}
        scores: dict[int, Scores] = {}
        for key, (index, entry) in step.nested.items():
            if key not in collector.outputs:
                raise ModelError(source, f"epoch {epoch}: layer {entry.name}: this nested "
                                         "call was traced but not made when running")
            outputs[index] = collector.outputs[key]
            if key in collector.scores:
                scores[index] = collector.scores[key]
        return result, outputs, scores
    if step.attention is not None and policy is not None and step.record is not None:
        result, found = call_with_scores(step.op, step.op, args, kwargs, policy)
        found.query, found.key = step.attention
        return result, {}, {step.record: found}
    return step.op(*args, **kwargs), {}, {}


def _run_chunk(graph: Graph, xs: list[np.ndarray], start: int, stop: int, epoch: int,
               source: str | Path) -> tuple[list[np.ndarray], dict[int, Scores]]:
    keras = keras_module()
    rows = stop - start
    values = {
        rec.slot: keras.ops.convert_to_tensor(xs[rec.input_index][start:stop])
        for rec in graph.records if rec.input_index is not None
    }
    out: list[Any] = [None] * len(graph.records)
    for r, rec in enumerate(graph.records):
        if rec.input_index is not None:
            out[r] = np.asarray(xs[rec.input_index][start:stop])
    scores: dict[int, Scores] = {}
    for step in graph.steps:
        tensors = {tid: values[s] for tid, s in step.in_slots.items()}
        try:
            args, kwargs = step.arguments.fill_in(tensors)
            if "training" in getattr(step.op, "_call_context_args", ()):
                kwargs["training"] = False
            result, nested, found = _call(graph, step, args, kwargs, epoch, source)
            result = keras.tree.flatten(result)
        except ModelError:
            raise
        except Exception as exc:
            what = (f"layer {graph.records[step.record].info.name}"
                    if step.record is not None else f"operation {step.op.name}")
            raise ModelError(
                source, f"epoch {epoch}: {what}: cannot compute activations: {one_line(exc)}"
            ) from None
        for s, y in zip(step.out_slots, result, strict=False):
            values[s] = y
        if step.record is not None:
            out[step.record] = _array(result[0] if result else None, rows,
                                      graph.records[step.record].info.name, graph.warnings)
        for index, value in nested.items():
            out[index] = _array(value, rows, graph.records[index].info.name, graph.warnings)
        scores.update(found)
        for s in step.frees:
            values.pop(s, None)
    return out, scores


def _join_scores(parts: list[dict[int, Scores]]) -> dict[int, Scores]:
    """One ``Scores`` per record from the batches' (a skip in any batch wins)."""
    if len(parts) == 1:
        return parts[0]
    joined: dict[int, Scores] = {}
    for index in parts[0]:
        pieces = [p.get(index) for p in parts]
        first = pieces[0]
        assert first is not None
        missing = [p for p in pieces if p is None or p.values is None]
        if missing:
            real = next((p for p in missing if p is not None), None)
            joined[index] = real or Scores(None, first.query, first.key,
                                           skipped="not returned for every batch")
            continue
        try:
            values = np.concatenate([p.values for p in pieces])  # type: ignore[union-attr]
        except ValueError:  # batches with different shapes: report the shape problem
            values = np.asarray(pieces[0].values)
        joined[index] = Scores(values, first.query, first.key)
    return joined


def run_graph(graph: Graph, xs: list[np.ndarray], epoch: int, source: str | Path
              ) -> tuple[list[np.ndarray], dict[int, Scores]]:
    """Every record's activations for the inputs ``xs``, and the attention scores of the
    records that have them (keyed by record index)."""
    count = int(xs[0].shape[0])
    chunks: list[list[np.ndarray]] = []
    parts: list[dict[int, Scores]] = []
    with quiet_retracing():
        for start in range(0, count, PREDICT_BATCH):
            out, scores = _run_chunk(graph, xs, start, min(count, start + PREDICT_BATCH),
                                     epoch, source)
            chunks.append(out)
            parts.append(scores)
    scores = _join_scores(parts)
    if len(chunks) == 1:
        return chunks[0], scores
    return [np.concatenate([c[r] for c in chunks]) for r in range(len(graph.records))], scores
