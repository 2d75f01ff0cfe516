"""``Recorder``: a Keras callback that writes the dump while the model trains.

Add it to ``model.fit(..., callbacks=[Recorder("dump", inputs=x[:4])])``: it records the
state before training as epoch 0, then every ``every``-th epoch (and the last one) with the
epoch's logs (loss, metrics) in the manifest. Each epoch is complete on disk when written
(``DumpAppender``), so an interrupted run leaves a valid dump, and a run resumed into the
same folder (``fit(..., initial_epoch=k)``) appends to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnrender.model.capture import EpochArrays
from nnrender.model.incremental import DumpAppender
from nnrender.model.keras_capture import ModelCapture
from nnrender.model.keras_env import keras_module
from nnrender.model.scores import ATTENTION_BUDGET
from nnrender.model.storage import DEFAULT_MAX_TOKENS

keras = keras_module()  # the callback base class is needed when this module is imported


class Recorder(keras.callbacks.Callback):
    """Records every layer's activations for ``inputs`` (and the weights) during ``fit``."""

    def __init__(self, out_dir: str | Path, inputs: Any, every: int = 1, *,
                 labels: Any = None, dtype: str = "float32", max_maps: int | None = None,
                 max_side: int | None = None, maps_select: str = "even",
                 store_weights: bool = True, max_tokens: int | None = DEFAULT_MAX_TOKENS,
                 max_attention: int = ATTENTION_BUDGET, vocab: Any = None) -> None:
        super().__init__()
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, not {every!r}")
        self.out_dir = Path(out_dir)
        self.inputs = inputs
        self.every = every
        self.options = {"labels": labels, "dtype": dtype, "max_maps": max_maps,
                        "max_side": max_side, "maps_select": maps_select,
                        "max_tokens": max_tokens, "max_attention": max_attention,
                        "vocab": vocab}
        self.store_weights = store_weights
        self._capture: ModelCapture | None = None
        self._dump: DumpAppender | None = None
        self._last_seen: int | None = None
        self._last_written: int | None = None
        self._logs: dict[str, Any] = {}

    def _write(self, epoch: int, logs: dict[str, Any] | None,
               first: EpochArrays | None = None) -> None:
        assert self._capture is not None and self._dump is not None
        arrays = first or self._capture.capture_epoch(epoch, f"epoch {epoch}")
        self._dump.add_epoch(epoch, arrays.activations,
                             arrays.weights if self.store_weights else None,
                             metrics=logs, source="keras fit", attention=arrays.attention)
        self._last_written = epoch

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._capture = ModelCapture(self.model, self.inputs, path=self.out_dir,
                                     input_source="Recorder inputs", **self.options)
        # the first capture fixes shapes and storage; the dump's layers need them
        first = self._capture.capture_epoch(0, "before training")
        self._capture.warn_late(stacklevel=3)  # found while running: reduced layers...
        self._dump = DumpAppender(
            self.out_dir,
            self._capture.model_info(f"{self.model.name} (recorded during fit)"),
            self._capture.infos, self._capture.inputs_info(),
            input_arrays=self._capture.input_arrays(), dtype=self.options["dtype"])
        if not self._dump.recorded:  # a fresh run: the untrained state is epoch 0
            self._write(0, None, first)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        done = epoch + 1  # Keras counts from 0, and from initial_epoch when resuming
        self._last_seen = done
        if done % self.every == 0:
            self._write(done, logs)
        self._logs = dict(logs or {})

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._last_seen is not None and self._last_written != self._last_seen:
            self._write(self._last_seen, self._logs)

