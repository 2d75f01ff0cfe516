"""The user's own code: ``--builder module:function`` (import the function that builds the
model, call it) and ``--import MODULE|path/file.py`` (import the module that defines or
registers a model's custom layers before the model is loaded).

Framework-neutral: formats that hold variables but not layers (TensorFlow checkpoints and
SavedModels, PyTorch state_dicts) need the user's own code to make the architecture, and
each reader checks that what came back is a model of its framework. A module is named by
its import name (``mylayers``, ``pkg.layers``) or by a file path (``mylayers.py``,
``src/layers.py``); the current folder is importable while it loads, as with ``python -m``.
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


def _import_file(builder: str, spec_text: str, what: str = "builder") -> ModuleType:
    file = Path(spec_text).expanduser()
    if not file.is_file():
        raise ModelError(builder, f"{what} file {file} does not exist")
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


def _is_path(spec_text: str) -> bool:
    return spec_text.endswith(".py") or os.sep in spec_text or "/" in spec_text


def import_code(spec: str, what: str = "builder") -> ModuleType:
    """Import a module by name or by file path (see the module docstring); a failure is a
    one-line ``ModelError`` naming ``spec``."""
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        if _is_path(spec):
            return _import_file(spec, spec, what)
        return importlib.import_module(spec)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            spec, f"cannot import the {what}: {type(exc).__name__}: {one_line(exc)}"
        ) from None
    finally:
        if added:
            sys.path.remove(os.getcwd())


def user_objects(modules: list[ModuleType]) -> dict[str, Any]:
    """The classes and functions the modules define themselves, by name: what a model file
    may name as its custom objects (registered or not)."""
    found: dict[str, Any] = {}
    for module in modules:
        for name, value in vars(module).items():
            if (isinstance(value, type) or callable(value)) and not name.startswith("__") \
                    and getattr(value, "__module__", None) == module.__name__:
                found[getattr(value, "__name__", name)] = value
    return found


def import_modules(specs: list[str]) -> dict[str, Any]:
    """``--import``: import each module (registering its custom classes) and return its
    classes and functions by name, for loading a model that uses them."""
    return user_objects([import_code(spec, "module") for spec in specs])


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
    try:
        module = import_code(spec_text)
    except ModelError as exc:
        raise ModelError(builder, exc.message) from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ModelError(builder, f"{spec_text} has no function {func_name}")
    try:
        return func()
    except Exception as exc:
        raise ModelError(
            builder, f"the builder failed: {type(exc).__name__}: {one_line(exc)}"
        ) from None
