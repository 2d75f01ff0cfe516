"""``--builder module:function``: import the user's function that builds the model, call it.

Framework-neutral: formats that hold variables but not layers (TensorFlow checkpoints and
SavedModels, PyTorch state_dicts) need the user's own code to make the architecture, and
each reader checks that what came back is a model of its framework.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from nnrender.errors import ModelError, one_line


def _import_file(builder: str, spec_text: str) -> ModuleType:
    file = Path(spec_text).expanduser()
    if not file.is_file():
        raise ModelError(builder, f"builder file {file} does not exist")
    name = "nnrender_builder_" + re.sub(r"\W", "_", file.stem)
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ModelError(builder, f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.resolve().parent))  # its own helper modules import too
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(file.resolve().parent))
    return module


def call_builder(builder: str) -> Any:
    """Call ``module:function`` or ``path/to/file.py:function`` and return what it returns.

    The current folder is importable while the module loads, as with ``python -m``. Every
    failure (a bad spec, an import error, the function raising) is a one-line ``ModelError``
    naming the builder."""
    spec_text, sep, func_name = builder.rpartition(":")
    if not sep or not spec_text or not func_name.isidentifier():
        raise ModelError(
            builder, "builder must look like module:function or path/to/file.py:function"
        )
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        if spec_text.endswith(".py") or os.sep in spec_text or "/" in spec_text:
            module = _import_file(builder, spec_text)
        else:
            module = importlib.import_module(spec_text)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            builder, f"cannot import the builder: {type(exc).__name__}: {one_line(exc)}"
        ) from None
    finally:
        if added:
            sys.path.remove(os.getcwd())
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ModelError(builder, f"{spec_text} has no function {func_name}")
    try:
        return func()
    except Exception as exc:
        raise ModelError(
            builder, f"the builder failed: {type(exc).__name__}: {one_line(exc)}"
        ) from None
