"""TorchScript modules (``torch.jit.save`` files), read through an in-memory ONNX export.

A TorchScript module runs its sub-modules inside the TorchScript interpreter, out of reach
of forward hooks, and ``torch.export`` does not take it; the TorchScript-based ONNX
exporter does (``dynamo=False``), naming every node by its module scope. So each file is
exported for the dump's inputs (batch axis free) and read by the ONNX reader, with the
module classes (``original_name``) to name the layers. The exporter folds each BatchNorm
into its convolution, so those have no entry of their own.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError, one_line
from nnrender.model.torch_env import (
    EXPORT_HINT,
    onnx_exporter,
    quiet,
    script_converter,
    silenced,
    torch_module,
)


def load_script(path: Path, epoch: int = 0) -> Any:
    """``torch.jit.load`` of one file; a corrupt file is a one-line error."""
    if not path.is_file():
        raise ModelError(path, "model file does not exist")
    torch = torch_module()
    try:
        with quiet():
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        at = f"epoch {epoch}: " if epoch else ""
        raise ModelError(path, f"{at}cannot load the TorchScript module (corrupt or "
                               f"truncated?): {one_line(exc, 160)}") from None
    module.eval()
    return module


def script_classes(module: Any) -> dict[str, str]:
    """Each sub-module's path and class name (``layer1.0.conv1`` -> ``Conv2d``)."""
    out = {}
    for name, sub in module.named_modules():
        cls = getattr(sub, "original_name", None) or type(sub).__name__
        if name:
            out[name] = str(cls)
    return out


def script_program(module: Any, examples: list[np.ndarray], source: str | Path) -> Any:
    """The module converted to an ``ExportedProgram`` (``TS2EPConverter``): for modules
    the ONNX exporter cannot take. Its graph has no module calls; weighted ops are named
    by their parameters' module paths."""
    torch = torch_module()
    args = tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in examples)
    try:
        with quiet(), silenced():
            return script_converter()(module, args).convert()
    except Exception as exc:
        raise ModelError(source, f"cannot read the TorchScript module: {type(exc).__name__}: "
                                 f"{one_line(exc, 160)}; {EXPORT_HINT}") from None


def script_to_onnx(module: Any, examples: list[np.ndarray], source: str | Path) -> bytes:
    """The module exported to ONNX (opset default, batch axis free) for these inputs."""
    torch = torch_module()
    onnx = onnx_exporter()
    args = tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in examples)
    names = [f"input_{i}" if i else "input" for i in range(len(args))]
    buffer = io.BytesIO()
    try:
        with quiet(), silenced(), torch.no_grad():
            onnx.export(module, args, buffer, dynamo=False, input_names=names,
                        dynamic_axes={n: {0: "batch"} for n in names},
                        training=onnx.TrainingMode.EVAL, do_constant_folding=True)
    except Exception as exc:
        raise ModelError(source, f"cannot convert the TorchScript module to ONNX to read it: "
                                 f"{type(exc).__name__}: {one_line(exc, 160)}") from None
    return buffer.getvalue()
