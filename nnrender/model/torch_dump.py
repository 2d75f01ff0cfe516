"""Dumping PyTorch and ONNX models: the reader for each kind of file, and the entry points.

``torch_capture`` picks the reader for a live module (its exported program, or forward
hooks where ``torch.export`` fails); ``dump_opened`` dumps whatever ``torch_files.open_torch``
found (a ``.pt2`` program or series, a builder's module with state-dict epochs, TorchScript
files read through ONNX, ``.onnx`` files); ``dump_torch`` is the Python entry point and
``input_layout`` tells the command line how to load ``--input`` files for the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError, one_line
from nnrender.model.capture import Capture, write_dump
from nnrender.model.epochs import EpochLoad, Series, number_files
from nnrender.model.onnx_capture import (
    OnnxCapture,
    OnnxState,
    load_onnx,
    onnx_series,
)
from nnrender.model.onnx_capture import (
    input_layout as onnx_layout,
)
from nnrender.model.scores import ATTENTION_BUDGET
from nnrender.model.storage import DEFAULT_MAX_TOKENS
from nnrender.model.torch_capture import (
    ProgramCapture,
    ProgramState,
    export_module,
    fitted_inputs,
)
from nnrender.model.torch_env import is_module, torch_module
from nnrender.model.torch_files import Opened, open_torch, state_dict_series
from nnrender.model.torch_graph import input_tag
from nnrender.model.torch_hooks import HookCapture
from nnrender.model.torch_inputs import InputSpec, input_specs
from nnrender.model.torch_ops import meta_dtype, meta_shape
from nnrender.model.torch_run import PREDICT_BATCH
from nnrender.model.torch_script import (
    load_script,
    script_classes,
    script_program,
    script_to_onnx,
)
from nnrender.model.vocab import Vocab


def _as_arrays(inputs: Any) -> Any:
    torch = torch_module()
    if isinstance(inputs, torch.Tensor):
        return inputs.detach().cpu().numpy()
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(_as_arrays(x) for x in inputs)
    if isinstance(inputs, dict):
        return {k: _as_arrays(v) for k, v in inputs.items()}
    return inputs


def _one(xs: list[np.ndarray]) -> Any:
    """Fitted arrays as ``Capture`` takes them: one array for a one-input model."""
    return xs[0] if len(xs) == 1 else xs


def torch_capture(model: Any, inputs: Any, *, example: Any = None,
                  input_shape: list[int] | None = None, **options: Any) -> Capture:
    """The capture of a live module: its exported program, or forward hooks where it
    cannot be exported (see the module docstring)."""
    if not is_module(model):
        raise ModelError(None, f"model: expected a torch.nn.Module, got {type(model).__name__}")
    where = options.get("input_source") or "inputs"
    xs = fitted_inputs(_as_arrays(inputs), input_specs(model, example, input_shape), where)
    size = min(int(xs[0].shape[0]), PREDICT_BATCH)
    try:
        program = export_module(model, [x[:size] for x in xs], options.get("path", "model"))
    except Exception as exc:
        reason = one_line(f"{type(exc).__name__}: {exc}", 160)
        return HookCapture(model, xs, reason=reason, **options)
    return ProgramCapture(model, _one(xs), program, **options)


def program_inputs(program: Any) -> list[InputSpec]:
    """An exported program's inputs (shapes without the batch axis, model layout)."""
    specs = program.graph_signature.input_specs
    users = {s.arg.name for s in specs if s.kind.name == "USER_INPUT"}
    out = []
    for node in program.graph_module.graph.nodes:
        if node.op == "placeholder" and node.name in users:
            shape = meta_shape(node) or [0]
            value = node.meta.get("val")
            dims = [d if isinstance(d, int) else None for d in value.shape][1:]
            out.append(InputSpec(dims, meta_dtype(node),
                                 input_tag(node, len(shape)).channel is not None))
    return out


def input_layout(opened: Opened, input_shape: list[int] | None = None
                 ) -> tuple[list[list[int | None]], list[bool]]:
    """How ``--input`` files are loaded for the opened model: each input's shape in the
    model's layout and whether it is channels-first."""
    if opened.kind == "program":
        specs = program_inputs(opened.model.program)
    elif opened.kind == "onnx":
        _, shapes, _, firsts = onnx_layout(load_onnx(opened.files[0]))
        return shapes, firsts
    elif opened.kind == "torchscript":
        specs = input_specs(load_script(opened.files[0]), None, input_shape)
    else:
        specs = input_specs(opened.model, opened.example, input_shape)
    return [s.shape for s in specs], [s.channels_first for s in specs]


def _script_capture(opened: Opened, inputs: Any, input_shape: list[int] | None,
                    allow_gaps: bool, options: dict[str, Any]) -> tuple[Capture, Series | None]:
    """TorchScript files through ONNX; where the ONNX exporter fails, through
    ``TS2EPConverter`` (an exported program without module calls)."""
    first = load_script(opened.files[0])
    where = options.get("input_source") or "inputs"
    xs = fitted_inputs(_as_arrays(inputs), input_specs(first, None, input_shape), where)
    examples = [x[:min(int(x.shape[0]), PREDICT_BATCH)] for x in xs]
    try:  # (a module exported twice loses its scope names: each file is exported once)
        first_onnx = script_to_onnx(first, examples, opened.files[0])
    except ModelError:
        return _script_program(opened, first, xs, examples, allow_gaps, options)

    def read(path: Path, epoch: int) -> Any:
        if path == opened.files[0]:
            return load_onnx(first_onnx, epoch)
        return load_onnx(script_to_onnx(load_script(path, epoch), examples, path), epoch)

    model, series = onnx_series(opened.files, opened.label, allow_gaps, read)
    state = OnnxState(model, opened.files[0].stem, opened.files[0], script_classes(first))
    return OnnxCapture(state, _one(xs), **options), series


def _script_program(opened: Opened, first: Any, xs: list[np.ndarray],
                    examples: list[np.ndarray], allow_gaps: bool, options: dict[str, Any]
                    ) -> tuple[Capture, Series | None]:
    holder = ProgramState(script_program(first, examples, opened.files[0]),
                          opened.files[0].stem)
    capture = ProgramCapture(holder, _one(xs), holder.program, **options)
    if len(opened.files) == 1:
        return capture, None
    ordered = number_files(opened.files, opened.label, allow_gaps)

    def loader(path: Path, epoch: int) -> Any:
        def load(state: Any) -> None:
            state.swap(script_program(load_script(path, epoch), examples, path), path, epoch)
        return load

    return capture, [EpochLoad(n, str(p), loader(p, n) if i else None)
                     for i, (n, p) in enumerate(ordered)]


def dump_opened(opened: Opened, inputs: Any, out_dir: str | Path, *,
                input_shape: list[int] | None = None, allow_gaps: bool = False,
                metrics_by_epoch: dict[int, dict[str, float]] | None = None,
                store_weights: bool = True, compress: bool = False,
                **options: Any) -> Path:
    """Dump what ``open_torch`` found (see the module docstring)."""
    options.setdefault("path", opened.label)
    series: Series | None = opened.series
    if opened.kind == "program":
        capture: Capture = ProgramCapture(opened.model, _as_arrays(inputs),
                                          opened.model.program, **options)
    elif opened.kind == "module":
        capture = torch_capture(opened.model, inputs, example=opened.example,
                                input_shape=input_shape, **options)
    elif opened.kind == "torchscript":
        capture, series = _script_capture(opened, inputs, input_shape, allow_gaps, options)
    else:
        model, series = onnx_series(opened.files, opened.label, allow_gaps)
        state = OnnxState(model, opened.files[0].stem, opened.files[0])
        capture = OnnxCapture(state, _as_arrays(inputs), **options)
    return write_dump(capture, series or [EpochLoad(0, opened.label, None)], out_dir,
                      source_label=opened.label, metrics_by_epoch=metrics_by_epoch,
                      store_weights=store_weights, compress=compress)


def dump_torch(
    model_or_path: str | Path | Any,
    weights: Any,
    inputs: np.ndarray | Sequence[np.ndarray] | dict[str, np.ndarray] | Any,
    out_dir: str | Path,
    *,
    builder: str | None = None,
    state_key: str | None = None,
    allow_gaps: bool = False,
    input_shape: list[int] | None = None,
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
    """Record a PyTorch model's layers and, for each epoch, every layer's activations for
    ``inputs`` (arrays in the model's layout, or tensors) into the dump folder ``out_dir``
    (written atomically: a failure leaves an earlier dump there untouched). Returns it.

    ``model_or_path``: an ``nn.Module`` (its own weights are epoch 0, unless ``weights``
    names state-dict files to restore into it, one per epoch), or a path as ``nnrender
    dump`` takes it (``torch_files.open_torch``): a ``.pt2`` program or series, TorchScript
    files, ``.onnx`` files, or state-dict files with ``builder="module:function"``.
    ``state_key``: the entry of a wrapped checkpoint holding the state dict.
    ``input_shape``: the first input's shape (model layout, no batch) when the module
    cannot tell (``torch_inputs``). Storage, vocabulary and attention options as
    ``dump_keras``.
    """
    options = {"labels": labels, "input_source": input_source, "dtype": dtype,
               "max_maps": max_maps, "max_side": max_side, "maps_select": maps_select,
               "max_tokens": max_tokens, "max_attention": max_attention, "vocab": vocab}
    common = {"metrics_by_epoch": metrics_by_epoch, "store_weights": store_weights,
              "compress": compress}
    if isinstance(model_or_path, (str, Path)):
        opened = open_torch(model_or_path, builder=builder, weights=weights,
                            state_key=state_key, allow_gaps=allow_gaps)
        return dump_opened(opened, inputs, out_dir, input_shape=input_shape,
                           allow_gaps=allow_gaps, **common, **options)
    module = model_or_path
    label = type(module).__name__
    series = state_dict_series(weights, label, state_key, allow_gaps) \
        if weights is not None else None
    opened = Opened("module", module, series, label)
    return dump_opened(opened, inputs, out_dir, input_shape=input_shape, **common, **options)


def dump_cli(model: str | Path, out_dir: str | Path, specs: Sequence[str], *,
             builder: str | None, weights: str | None, state_key: str | None,
             allow_gaps: bool, input_shape: str | None, scale: str, resize: str,
             zeros: Any = None, **options: Any) -> Path:
    """``nnrender dump`` for PyTorch and ONNX files: open them, load ``specs`` (``--input``)
    in the model's layout (``zeros(shapes)``: zero inputs instead, for ``--shapes-only``),
    dump."""
    from nnrender.model.inputs import load_layout_inputs
    from nnrender.model.torch_inputs import parse_shape

    shape = parse_shape(input_shape) if input_shape else None
    opened = open_torch(model, builder=builder, weights=weights, state_key=state_key,
                        allow_gaps=allow_gaps)
    shapes, firsts = input_layout(opened, shape)
    if zeros is not None:
        made = list(zeros(shapes))
        inputs: Any = made[0] if len(made) == 1 else made
    else:
        inputs = load_layout_inputs(specs, shapes, firsts, scale=scale, resize=resize)
    return dump_opened(opened, inputs, out_dir, input_shape=shape, allow_gaps=allow_gaps,
                       input_source=",".join(str(p) for p in specs), **options)
