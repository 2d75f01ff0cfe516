"""``Recorder``: writes the dump from a PyTorch training loop, epoch by epoch.

    recorder = Recorder("dump", model, inputs=x_test[:4])
    recorder.record(0)                      # the state before training
    for epoch in range(1, epochs + 1):
        train_one_epoch(model, ...)
        recorder.record(epoch, {"loss": loss})

``record`` captures what the model computes for ``inputs`` now (in eval mode, without
gradients; the model's train/eval mode is left as it was) and appends it to the dump
(``DumpAppender``): every epoch is complete on disk when written, so an interrupted run
leaves a valid dump. A run resumed into the same folder appends its epochs; recording an
epoch again replaces it and drops the later ones (training restarted from there); a
folder holding another architecture's dump is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnrender.model.capture import Capture
from nnrender.model.incremental import DumpAppender
from nnrender.model.scores import ATTENTION_BUDGET
from nnrender.model.storage import DEFAULT_MAX_TOKENS
from nnrender.model.torch_dump import torch_capture


class Recorder:
    """Records every layer's activations for ``inputs`` (and the weights) while ``model``
    trains; ``every``: record epochs that are multiples of it (and epoch 0)."""

    def __init__(self, out_dir: str | Path, model: Any, inputs: Any, every: int = 1, *,
                 labels: Any = None, dtype: str = "float32", max_maps: int | None = None,
                 max_side: int | None = None, maps_select: str = "even",
                 store_weights: bool = True, max_tokens: int | None = DEFAULT_MAX_TOKENS,
                 max_attention: int = ATTENTION_BUDGET, vocab: Any = None,
                 input_shape: list[int] | None = None) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, not {every!r}")
        self.out_dir = Path(out_dir)
        self.model = model
        self.inputs = inputs
        self.every = every
        self.input_shape = input_shape
        self.options = {"labels": labels, "dtype": dtype, "max_maps": max_maps,
                        "max_side": max_side, "maps_select": maps_select,
                        "max_tokens": max_tokens, "max_attention": max_attention,
                        "vocab": vocab}
        self.store_weights = store_weights
        self._capture: Capture | None = None
        self._dump: DumpAppender | None = None

    @property
    def recorded(self) -> list[int]:
        """The epochs the dump holds (after the first ``record``)."""
        return self._dump.recorded if self._dump is not None else []

    def _with_mode(self, fn: Any) -> Any:
        was = bool(getattr(self.model, "training", False))
        try:
            return fn()
        finally:
            self.model.train(was)

    def record(self, epoch: int, logs: dict[str, Any] | None = None, *,
               force: bool = False) -> bool:
        """Record the model as it is now as ``epoch`` (with ``logs``: loss, metrics) when
        ``epoch`` is 0 or a multiple of ``every`` (or ``force``); returns whether it did."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a whole number >= 0, not {epoch!r}")
        if epoch % self.every and not force:
            return False
        source = f"epoch {epoch}"
        if self._capture is None:
            self._capture = self._with_mode(lambda: torch_capture(
                self.model, self.inputs, input_shape=self.input_shape, path=self.out_dir,
                input_source="Recorder inputs", **self.options))
        capture = self._capture
        arrays = self._with_mode(lambda: capture.capture_epoch(epoch, source))
        if self._dump is None:
            capture.warn_late(stacklevel=3)
            self._dump = DumpAppender(
                self.out_dir, capture.model_info(f"{capture.model_name} (recorded during "
                                                 "training)"),
                capture.infos, capture.inputs_info(), input_arrays=capture.input_arrays(),
                dtype=self.options["dtype"])
        self._dump.add_epoch(epoch, arrays.activations,
                             arrays.weights if self.store_weights else None, metrics=logs,
                             source="torch training", attention=arrays.attention)
        return True
