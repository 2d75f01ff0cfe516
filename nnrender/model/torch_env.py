"""The one importer of PyTorch: the other ``torch_*`` modules ask here.

PyTorch is imported on first use, not when nnrender is imported, so the command line checks
its arguments and files first, the pure parts of the reader never pay for it, and no render
process ever loads it (the DESIGN.md fence: only the readers import a framework).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

EXPORT_HINT = ("export it with torch.export.export(model, (example,)) and "
               "torch.export.save(program, 'model.pt2'), or with torch.onnx.export(model, "
               "(example,), 'model.onnx', dynamo=False), and dump that file")


def torch_module() -> Any:
    """The ``torch`` module (with ``torch.export`` and ``torch.fx``), imported on first use."""
    if "torch" in sys.modules and hasattr(sys.modules["torch"], "export"):
        return sys.modules["torch"]
    import torch
    import torch.export
    import torch.fx

    return torch


def torch_version() -> str:
    """``torch <version>`` for the manifest."""
    return f"torch {torch_module().__version__.split('+')[0]}"


def onnx_exporter() -> Any:
    """``torch.onnx`` (TorchScript modules are read through an in-memory ONNX export)."""
    torch_module()
    import torch.onnx

    return torch.onnx


def script_converter() -> Any:
    """``TS2EPConverter``: a TorchScript module to an ``ExportedProgram`` (private API of
    ``torch._export``; its absence is an ImportError the caller reports)."""
    torch_module()
    from torch._export.converter import TS2EPConverter

    return TS2EPConverter


def is_module(value: Any) -> bool:
    """Whether ``value`` is a ``torch.nn.Module`` (TorchScript modules included)."""
    return isinstance(value, torch_module().nn.Module)


def is_script_module(value: Any) -> bool:
    """Whether ``value`` is a TorchScript module (``torch.jit.load``'s result)."""
    return isinstance(value, torch_module().jit.ScriptModule)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """PyTorch's warnings and log lines while exporting and loading (about buffers assigned
    during export, a trace that failed and is retried another way...) say nothing the user
    must act on; nnrender's own warnings still pass."""
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name == "torch" or name.startswith(("torch.", "onnx"))]
    loggers.append(logging.getLogger("torch"))
    before = [(lg, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        with _no_warnings():
            yield
    finally:
        for lg, was in before:
            lg.disabled = was


@contextlib.contextmanager
def _no_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"torch(\.|$)")
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*(export|tensor "
                                r"attributes|TracerWarning|TorchScript).*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


@contextlib.contextmanager
def no_fast_path() -> Iterator[None]:
    """``torch.nn``'s fused transformer fast path off, so the layers inside a
    ``TransformerEncoderLayer`` run (and are traced) one by one."""
    torch = torch_module()
    mha = getattr(getattr(torch.backends, "mha", None), "set_fastpath_enabled", None)
    get = getattr(getattr(torch.backends, "mha", None), "get_fastpath_enabled", None)
    if mha is None or get is None:
        yield
        return
    before = get()
    mha(False)
    try:
        yield
    finally:
        mha(before)


def state_arrays(state: dict[str, Any]) -> dict[str, Any]:
    """Float tensors by name as numpy arrays (integer counters left out)."""
    torch = torch_module()
    out = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            out[key] = value.detach().float().cpu().numpy()
    return out


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Standard output and error closed at the file level: PyTorch's exporters print
    whole graphs from C++ when they fail, which would bury the one-line error."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
