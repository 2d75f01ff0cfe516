"""PyTorch for the torch reader tests, imported only when a test uses it.

A test module that imported ``torch`` at collection would load it into the session's own
process, the one that also runs Blender when both kinds of tests are selected; the
``torch``-marked tests run in a child process then (``tests/conftest.py``), and only there
is PyTorch imported, through these stand-ins.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import pytest

MISSING = any(importlib.util.find_spec(m) is None for m in ("torch", "onnx", "onnxruntime"))
SKIP = pytest.mark.skipif(MISSING, reason="needs PyTorch, onnx and onnxruntime "
                                          "(pip install -e '.[torch]')")


class Lazy:
    """A module imported on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_") or attr.startswith("pytest"):  # pytest's collection looks
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._name), attr)


torch = Lazy("torch")
torch_nets = Lazy("torch_nets")
api = Lazy("nnrender.torch")


def dump_torch(*args: Any, **kwargs: Any) -> Any:
    return api.dump_torch(*args, **kwargs)


def dump_onnx(*args: Any, **kwargs: Any) -> Any:
    return api.dump_onnx(*args, **kwargs)
