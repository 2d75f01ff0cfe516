"""The one importer of ``onnx`` and ``onnxruntime``: the other ``onnx_*`` modules ask here.

Both are imported on first use, so the command line checks its arguments and files first
and no render process ever loads them.
"""

from __future__ import annotations

import sys
from typing import Any


def onnx_module() -> Any:
    """The ``onnx`` package."""
    if "onnx" in sys.modules:
        return sys.modules["onnx"]
    import onnx
    import onnx.numpy_helper
    import onnx.shape_inference

    return onnx


def ort_module() -> Any:
    """The ``onnxruntime`` package (quiet: warnings only from its C++ logger)."""
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)
    return onnxruntime


def onnx_version() -> str:
    """``onnxruntime <version>`` for the manifest."""
    return f"onnxruntime {ort_module().__version__}"


def to_array(tensor: Any) -> Any:
    """An initializer (``TensorProto``) as a numpy array."""
    return onnx_module().numpy_helper.to_array(tensor)
