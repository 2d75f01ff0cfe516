"""PyTorch capture: a module or an exported program, read and run as ``capture.Capture``.

``ProgramCapture`` reads an ``ExportedProgram`` (a ``.pt2`` file, or ``torch.export`` of a
module) with ``torch_graph`` and runs it with ``torch_run``; the parameters come from the
live module when there is one (a builder's module restored epoch by epoch, a module
training under the ``Recorder``), else from the program itself. ``torch_capture`` picks the
reader for a module: ``torch.export.export`` first; a module that cannot be exported
(data-dependent control flow) falls back to forward hooks (``torch_hooks``), and one that
cannot even run eagerly is an error saying how to export it. ``dump_torch`` is the entry
point for a module, a ``.pt2``/``.pt`` path and a series of epochs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError
from nnrender.model.capture import Capture, ModelLayers, model_inputs
from nnrender.model.layer_kinds import BLOCK_TYPES
from nnrender.model.scores import Scores
from nnrender.model.torch_env import no_fast_path, quiet, state_arrays, torch_module, torch_version
from nnrender.model.torch_graph import TorchGraph, build_graph
from nnrender.model.torch_inputs import InputSpec
from nnrender.model.torch_run import ScorePolicy, run_program
from nnrender.model.torch_weights import entry_weights, param_count


class ProgramState:
    """A ``.pt2`` file's program and the state it runs with (a series swaps the state in
    epoch by epoch)."""

    def __init__(self, program: Any, name: str) -> None:
        self.program = program
        self.name = name
        self.state = dict(program.state_dict)
        self.constants = dict(getattr(program, "constants", {}) or {})

    def swap(self, other: Any, source: str | Path, epoch: int) -> None:
        """Take the parameters of ``other`` (the next epoch's program): the same names and
        shapes, or a one-line error naming the first that differs."""
        state = dict(other.state_dict)
        for key, value in self.state.items():
            if key not in state:
                raise ModelError(source, f"epoch {epoch}: the program has no {key!r}: it is "
                                         "not the same architecture as the first file's")
            if tuple(state[key].shape) != tuple(value.shape):
                raise ModelError(source, f"epoch {epoch}: {key} has shape "
                                         f"{list(state[key].shape)}, the first file's "
                                         f"{list(value.shape)}")
        self.state = state
        self.constants = dict(getattr(other, "constants", {}) or {})


class ProgramCapture(Capture):
    """An exported program's entries and, on demand, their activations and weights (see
    ``capture.Capture``). ``model``: the live ``nn.Module`` the program was exported from
    (its current parameters are used) or a ``ProgramState``."""

    def __init__(self, model: Any, inputs: Any, program: Any, **options: Any) -> None:
        self.program = program
        self.torch = torch_module()
        self._scores: dict[int, Scores] = {}
        super().__init__(model, inputs, **options)

    def read_layers(self, model: Any, path: str | Path) -> ModelLayers:
        self.graph: TorchGraph = build_graph(self.program, path)
        arrays = self._arrays()
        for e in self.graph.entries:
            if e.module is not None and e.info.type not in BLOCK_TYPES:
                e.info.params = param_count(e.module, arrays)
        dtypes = [("int64" if d.startswith(("int", "uint", "long")) else d)
                  for d in self.graph.input_dtypes]
        firsts = [e.tag.channel is not None for e in self.graph.entries
                  if e.input_index is not None]
        return ModelLayers(infos=[e.info for e in self.graph.entries],
                           input_names=[e.info.name for e in self.graph.entries
                                        if e.input_index is not None],
                           input_dtypes=dtypes, warnings=self.graph.warnings,
                           input_shapes=self.graph.input_shapes, channels_first=firsts)

    @property
    def framework(self) -> str:
        return torch_version()

    @property
    def model_name(self) -> str:
        if isinstance(self.model, ProgramState):
            return self.model.name
        return type(self.model).__name__

    def _state(self) -> dict[str, Any]:
        if isinstance(self.model, ProgramState):
            return self.model.state
        found = dict(self.model.named_parameters(remove_duplicate=False))
        found.update(self.model.named_buffers(remove_duplicate=False))
        return found

    def _arrays(self) -> dict[str, np.ndarray]:
        return state_arrays(self._state())

    def _lookup(self, source: str | Path) -> Any:
        state = self._state()
        constants = self.model.constants if isinstance(self.model, ProgramState) \
            else dict(getattr(self.program, "constants", {}) or {})
        program_state = self.program.state_dict

        def get(kind: str, target: str) -> Any:
            for table in (state, constants, program_state):
                if target in table:
                    return table[target]
            raise ModelError(source, f"the model has no {kind.lower()} {target!r} that its "
                                     "exported graph reads")

        return get

    def run(self, xs: list[np.ndarray], epoch: int, source: str | Path) -> list[np.ndarray]:
        policy = ScorePolicy(int(xs[0].shape[0]), self.storage.max_tokens, self.max_attention)
        with quiet():
            acts, self._scores = run_program(self.graph, self.program.graph_module,
                                             self._lookup(source), xs, epoch, source, policy)
        return acts

    def attention_scores(self) -> dict[int, Scores]:
        return self._scores

    def layer_weights(self) -> list[list[np.ndarray]]:
        arrays = self._arrays()
        return [entry_weights(e.info.type, e.info.config, e.module, arrays)
                if e.module is not None else [] for e in self.graph.entries]


def export_module(module: Any, examples: list[np.ndarray], source: str | Path) -> Any:
    """``torch.export.export`` of a module in eval mode for these example inputs (one
    traced batch); raises what export raises."""
    torch = torch_module()
    was = module.training
    module.eval()
    args = tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in examples)
    try:
        with quiet(), no_fast_path():
            return torch.export.export(module, args, strict=False)
    finally:
        module.train(was)


def fitted_inputs(inputs: Any, specs: list[InputSpec], where: str) -> list[np.ndarray]:
    """The input arrays fitted to a module's (guessed) inputs, in its layout."""
    names = [f"input_{i}" if i else "input" for i in range(len(specs))]
    if isinstance(inputs, dict):
        inputs = list(inputs.values())
    if len(specs) == 1 and isinstance(inputs, (list, tuple)) and len(inputs) > 1 \
            and all(hasattr(x, "shape") for x in inputs):
        specs = specs + [InputSpec([None] * (np.ndim(x) - 1), "int64" if np.asarray(x).dtype.kind
                                   in "iu" else "float32") for x in inputs[1:]]
        names = [f"input_{i}" if i else "input" for i in range(len(specs))]
    dtypes = ["int64" if s.dtype.startswith(("int", "uint")) else "float32" for s in specs]
    given = list(inputs) if isinstance(inputs, (list, tuple)) and len(specs) > 1 \
        else [inputs]
    shapes = [s.fitted(np.ndim(x) if hasattr(x, "shape") else 0) for s, x in
              zip(specs, given + [None] * (len(specs) - len(given)), strict=False)]
    return model_inputs(inputs, names, shapes, dtypes, where,
                        [s.channels_first for s in specs])
