"""PyTorch integration for users' code: ``from nnrender.torch import Recorder``.

``Recorder`` records a module while it trains (``nnrender.model.torch_recorder``);
``dump_torch`` dumps a module, a ``.pt2``/TorchScript file or state-dict epochs, and
``dump_onnx`` an ``.onnx`` model or series, as ``nnrender.keras``' ``dump_keras`` does.
"""

from nnrender.model.onnx_capture import dump_onnx
from nnrender.model.torch_dump import dump_torch
from nnrender.model.torch_recorder import Recorder

__all__ = ["Recorder", "dump_onnx", "dump_torch"]
