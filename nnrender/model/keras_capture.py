"""Keras capture: run the flattened graph (``keras_graph``) and dump a Keras model.

``ModelCapture`` is Keras' half of ``capture.Capture``: it reads the layers with
``keras_graph.build_graph``, computes activations (and attention scores) by running that
graph eagerly, call by call, in inference mode (``keras_run``), and reads each layer's
weights. ``dump_keras`` is the entry point
for a model file or a built model plus a series of epochs; the training ``Recorder``
(``keras_recorder``) shares ``ModelCapture``. Every problem the user can fix is a one-line
``ModelError`` naming the file and, where known, the layer and epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError
from nnrender.model.capture import Capture, ModelLayers, write_dump
from nnrender.model.epochs import WeightsArg, resolve_series
from nnrender.model.keras_attention import AttentionPolicy
from nnrender.model.keras_env import keras_module
from nnrender.model.keras_files import file_loader, load_keras_model
from nnrender.model.keras_graph import build_graph
from nnrender.model.keras_run import PREDICT_BATCH, quiet_retracing, run_graph
from nnrender.model.scores import ATTENTION_BUDGET, Scores
from nnrender.model.storage import DEFAULT_MAX_TOKENS
from nnrender.model.vocab import Vocab

__all__ = ["PREDICT_BATCH", "ModelCapture", "dump_keras", "run_graph"]

class ModelCapture(Capture):
    """A Keras model's layers and, on demand, their activations and weights (see
    ``capture.Capture``; ``options`` are its keyword arguments: ``path``, ``labels``,
    ``input_source``, ``dtype``, ``max_maps``, ``max_side``, ``maps_select``,
    ``max_tokens``, ``max_attention``, ``vocab``)."""

    def __init__(self, model: Any, inputs: Any, **options: Any) -> None:
        self.keras = keras_module()
        if not isinstance(model, self.keras.Model):
            raise ModelError(None, f"model: expected a model file or a Keras model, got "
                             f"{type(model).__name__}")
        super().__init__(model, inputs, **options)

    def read_layers(self, model: Any, path: str | Path) -> ModelLayers:
        """The flattened graph's entries; input dtypes from the model's input tensors."""
        with quiet_retracing():
            self.graph = build_graph(model, path)
        self._scores: dict[int, Scores] = {}
        dtypes = [str(getattr(t, "dtype", "float32") or "float32") for t in self.graph.inputs]
        return ModelLayers(infos=[rec.info for rec in self.graph.records],
                           input_names=self.graph.input_names, input_dtypes=dtypes,
                           warnings=self.graph.warnings)

    @property
    def framework(self) -> str:
        """``keras <version>``."""
        return f"keras {self.keras.__version__}"

    def run(self, xs: list[np.ndarray], epoch: int, source: str | Path) -> list[np.ndarray]:
        """Every entry's activations (``run_graph``); the attention scores are kept for
        ``attention_scores``."""
        self.graph.policy = AttentionPolicy(int(xs[0].shape[0]), self.storage.max_tokens,
                                            self.max_attention)
        activations, self._scores = run_graph(self.graph, xs, epoch, source)
        return activations

    def attention_scores(self) -> dict[int, Scores]:
        """The last run's attention scores, by entry index."""
        return self._scores

    def layer_weights(self) -> list[list[np.ndarray]]:
        """``get_weights()`` of each entry's layer (none for inputs and later shared calls)."""
        keras = self.keras
        out: list[list[np.ndarray]] = []
        for rec in self.graph.records:
            if rec.layer is None:
                out.append([])
            elif rec.exclude:  # an expanded block: its own variables, not its sublayers'
                out.append([np.asarray(keras.ops.convert_to_numpy(v)) for v in rec.layer.weights
                            if id(v) not in rec.exclude])
            else:
                out.append([np.asarray(w) for w in rec.layer.get_weights()])
        return out


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
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    max_attention: int = ATTENTION_BUDGET,
    vocab: Sequence[str] | str | Path | Vocab | None = None,
    custom_objects: dict[str, Any] | None = None,
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
    then records ``stored_shape`` and ``channels`` per reduced layer. ``max_tokens``: a
    tokens layer (T, D) or a volume (T, H, W, C) longer than this keeps that many evenly
    spaced positions of its first axis (``positions``; None keeps all). ``store_weights=False``
    leaves weights out; ``compress`` zips the arrays.

    Attention layers (``MultiHeadAttention``, ``Attention``..., also inside custom layers)
    record their scores unless one layer's would exceed ``max_attention`` values (inputs x
    heads x queries x keys). ``vocab``: the token texts of integer inputs, a list or a file
    (``vocab.load_vocab``). ``custom_objects``: the custom classes a model file needs, by
    name. Warnings (placeholder layers, types drawn by their shape only, reduced layers)
    are issued as ``NNRenderWarning`` and listed in ``model["warnings"]``.
    """
    if isinstance(model_path, (str, Path)):
        path: str | Path = Path(model_path)
        # checks the file before importing Keras
        model = load_keras_model(path, custom_objects=custom_objects)
        source_label = str(model_path)
    else:
        model = model_path
        path = source_label = str(getattr(model, "name", "model"))
    capture = ModelCapture(model, inputs, path=path, labels=labels, input_source=input_source,
                           dtype=dtype, max_maps=max_maps, max_side=max_side,
                           maps_select=maps_select, max_tokens=max_tokens,
                           max_attention=max_attention, vocab=vocab)
    series = resolve_series(weights, source_label, file_loader)
    return write_dump(capture, series, out_dir, source_label=source_label,
                      metrics_by_epoch=metrics_by_epoch, store_weights=store_weights,
                      compress=compress)
