"""Open a trained PyTorch or ONNX model however it was kept: an architecture + epoch loaders.

What the user has on disk, and what ``open_torch`` makes of it:

- ``model.pt2`` (``torch.export.save``): the program (graph and weights); a folder or glob
  of ``.pt2`` files is a series (the first file gives the graph, each file an epoch), and
  ``--weights`` state-dict files can be restored into one program.
- state-dict files (``torch.save(model.state_dict(), 'ckpt/epoch_3.pt')``, ``.pt``/``.pth``/
  ``.ckpt``) with ``builder="module:function"`` returning the ``nn.Module`` (or ``(module,
  example_input)``); read with ``torch.load(..., weights_only=True)``. A wrapped checkpoint
  (``{"model": state_dict, "optimizer": ..., "epoch": 3}``) gives the one dict of tensors
  whose names are the module's, or ``state_key``'s.
- TorchScript files (``torch.jit.save``), one or a series: read through an ONNX export
  of each (``torch_script``), since TorchScript runs its modules out of reach of hooks.
- ``model.onnx`` (or a series): the ONNX reader (``onnx_capture``).

Epoch numbers and gaps are ``epochs``' rules; each loader's errors are one line naming the
file, the epoch and the first key or shape that does not fit.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrender.errors import ModelError, one_line
from nnrender.model.builders import call_builder
from nnrender.model.epochs import (
    EpochLoad,
    Loader,
    Series,
    find_model_files,
    number_files,
    resolve_weights,
)
from nnrender.model.torch_capture import ProgramState
from nnrender.model.torch_env import is_module, quiet, torch_module
from nnrender.model.torch_paths import TORCH_SUFFIXES, file_kind, is_torch_save


@dataclass
class Opened:
    """What ``open_torch`` found: ``kind`` is ``program`` (``model``: a ``ProgramState``
    source, the loaded program), ``module`` (an ``nn.Module``), ``torchscript`` or
    ``onnx`` (``files``: the series' files, the first gives the graph)."""

    kind: str
    model: Any
    series: Series | None
    label: str
    example: Any = None
    files: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- what is on disk


def _files(source: str) -> list[Path]:
    return find_model_files(source, TORCH_SUFFIXES)


# --------------------------------------------------------------------------- programs


def load_program(path: Path, epoch: int = 0) -> Any:
    """``torch.export.load``, a corrupt or truncated file a one-line error."""
    if not path.is_file():
        raise ModelError(path, "model file does not exist")
    if not zipfile.is_zipfile(path):
        raise ModelError(path, "not a valid .pt2 file (not a zip archive; corrupt or "
                               "truncated?)")
    torch = torch_module()
    try:
        with quiet():
            return torch.export.load(str(path))
    except Exception as exc:
        where = f"epoch {epoch}: " if epoch else ""
        raise ModelError(path, f"{where}cannot load the exported program (corrupt or "
                               f"truncated?): {type(exc).__name__}: {one_line(exc, 160)}"
                         ) from None


def _program_loader(path: Path, epoch: int) -> Loader:
    def load(holder: Any) -> None:
        holder.swap(load_program(path, epoch), path, epoch)
    return load


# --------------------------------------------------------------------------- state dicts


def read_state_file(path: Path, epoch: int) -> Any:
    """``torch.load(weights_only=True)`` of one file (tensors and plain containers only)."""
    if not path.is_file():
        raise ModelError(path, f"epoch {epoch}: weights file does not exist")
    torch = torch_module()
    try:
        with quiet():
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        text = one_line(exc, 200)
        if "weights_only" in text or "Unsupported global" in text:
            raise ModelError(path, f"epoch {epoch}: the file holds pickled objects, not "
                                   "only tensors (a whole saved module?); save "
                                   "model.state_dict() instead, or export the model") from None
        raise ModelError(path, f"epoch {epoch}: not a readable PyTorch file (corrupt or "
                               f"truncated?): {type(exc).__name__}: {one_line(exc, 160)}"
                         ) from None


def _tensor_dict(value: Any) -> bool:
    torch = torch_module()
    return isinstance(value, dict) and bool(value) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _strip_prefix(state: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    """``module.`` (DataParallel) or ``_orig_mod.`` (torch.compile) prefixes removed when
    the module's own names lack them."""
    for prefix in ("module.", "_orig_mod.", "model."):
        if not (set(state) & wanted) and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def find_state_dict(loaded: Any, wanted: set[str], path: Path, epoch: int,
                    state_key: str | None) -> dict[str, Any]:
    """The state dict inside what ``torch.load`` returned (see the module docstring)."""
    if state_key is not None:
        if not isinstance(loaded, dict) or state_key not in loaded:
            keys = ", ".join(map(str, loaded)) if isinstance(loaded, dict) else "none"
            raise ModelError(path, f"epoch {epoch}: no entry {state_key!r} (--state-key) in "
                                   f"the checkpoint; its entries: {keys}")
        loaded = loaded[state_key]
        if not _tensor_dict(loaded):
            raise ModelError(path, f"epoch {epoch}: the checkpoint's {state_key!r} is not a "
                                   "state dict (names -> tensors)")
        return _strip_prefix(loaded, wanted)
    if _tensor_dict(loaded):
        return _strip_prefix(loaded, wanted)
    if not isinstance(loaded, dict):
        raise ModelError(path, f"epoch {epoch}: the file holds a {type(loaded).__name__}, "
                               "not a state dict")
    found = [(k, _strip_prefix(v, wanted)) for k, v in loaded.items() if _tensor_dict(v)]
    matching = [(k, v) for k, v in found if set(v) & wanted]
    if len(matching) == 1:
        return matching[0][1]
    if len(matching) > 1:
        names = ", ".join(repr(k) for k, _ in matching)
        raise ModelError(path, f"epoch {epoch}: the checkpoint holds several state dicts "
                               f"({names}); pass --state-key (state_key) with the one to draw")
    keys = ", ".join(map(repr, loaded)) or "none"
    raise ModelError(path, f"epoch {epoch}: no state dict with the model's parameter names in "
                           f"the checkpoint (entries: {keys}); pass --state-key")


def check_fit(state: dict[str, Any], own: dict[str, Any], path: Path, epoch: int) -> None:
    """The first missing key, unexpected key or shape that differs, as a one-line error."""
    for kind, keys in (("missing", [k for k in own if k not in state]),
                       ("unexpected", [k for k in state if k not in own])):
        if keys:
            more = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
            raise ModelError(path, f"epoch {epoch}: the state dict does not fit the model: "
                                   f"{kind} key {keys[0]!r}{more}")
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise ModelError(path, f"epoch {epoch}: the state dict does not fit the model: "
                                   f"{key} has shape {list(state[key].shape)}, the model's "
                                   f"is {list(value.shape)}")


def _state_loader(path: Path, epoch: int, state_key: str | None) -> Loader:
    def load(target: Any) -> None:
        loaded = read_state_file(path, epoch)
        torch = torch_module()
        if is_module(target):
            own = target.state_dict()
            state = find_state_dict(loaded, set(own), path, epoch, state_key)
            check_fit(state, own, path, epoch)
            with torch.no_grad():
                target.load_state_dict(state, strict=True)
            return
        own = target.state  # a ProgramState: the program's parameters by the same names
        state = find_state_dict(loaded, set(own), path, epoch, state_key)
        check_fit({k: v for k, v in state.items() if k in own}, own, path, epoch)
        target.state = {k: state[k] for k in own}
    return load


def state_dict_series(weights: Any, source: str, state_key: str | None,
                      allow_gaps: bool) -> Series:
    """The epochs of a glob/folder/list of state-dict files, in epoch order."""
    if isinstance(weights, (str, Path)):
        files = _files(str(weights))
        pairs = number_files(files, str(weights), allow_gaps)
    else:
        pairs = resolve_weights(weights, suffix=".pt")
    return [EpochLoad(n, str(p), _state_loader(p, n, state_key)) for n, p in pairs]


# --------------------------------------------------------------------------- builders


def build_module(builder: str) -> tuple[Any, Any]:
    """Call ``module:function``: an ``nn.Module``, or ``(module, example_input)``."""
    torch_module()  # imported before the builder's own `import torch`
    with quiet():
        made = call_builder(builder)
    example = None
    if isinstance(made, tuple) and len(made) == 2 and is_module(made[0]):
        made, example = made
    if not is_module(made):
        raise ModelError(builder, f"the builder returned {type(made).__name__}, not a "
                                  "torch.nn.Module")
    return made, example


# --------------------------------------------------------------------------- open


def _ordered(files: list[Path], source: str, allow_gaps: bool) -> list[tuple[int, Path]]:
    return number_files(files, source, allow_gaps)


def open_torch(path: str | Path, *, builder: str | None = None, weights: Any = None,
               state_key: str | None = None, allow_gaps: bool = False) -> Opened:
    """What ``path`` (and ``builder``/``weights``) hold (see the module docstring)."""
    source = os.path.expanduser(str(path))
    if builder is not None:
        module, example = build_module(builder)
        where = weights if weights is not None else source
        series = state_dict_series(where, str(where), state_key, allow_gaps)
        return Opened("module", module, series, type(module).__name__, example)
    files = _files(source)
    kinds = {file_kind(p) for p in files}
    if len(kinds) > 1:
        raise ModelError(source, f"the files are of different kinds ({', '.join(sorted(kinds))})"
                                 "; narrow the pattern to one kind")
    kind = kinds.pop()
    ordered = _ordered(files, source, allow_gaps) if len(files) > 1 \
        else [(0, files[0])]
    if kind == "state":
        bad = next((p for p in files if not is_torch_save(p)), None)
        if bad is not None:
            raise ModelError(bad, "not a valid PyTorch file (neither a zip archive nor a "
                                  "pickle; corrupt or truncated?)")
        raise ModelError(files[0], "a PyTorch state dict holds weights, not layers: pass "
                                   "--builder module:function (a function returning the "
                                   "nn.Module to restore them into)")
    if kind in ("onnx", "torchscript"):
        if weights is not None:
            raise ModelError(source, f"--weights is not for {kind} files: each file is an "
                                     "epoch; give them as a glob")
        return Opened(kind, None, None, source, files=[p for _, p in ordered])
    first = load_program(ordered[0][1])
    holder = ProgramState(first, Path(ordered[0][1]).stem)
    if weights is not None:
        if len(ordered) > 1:
            raise ModelError(source, "give one .pt2 file when the weights come separately")
        return Opened("program", holder, state_dict_series(weights, str(weights), state_key,
                                                           allow_gaps), source)
    if len(ordered) == 1:
        return Opened("program", holder, None, source)
    series = [EpochLoad(n, str(p), _program_loader(p, n) if i else None)
              for i, (n, p) in enumerate(ordered)]
    return Opened("program", holder, series, source)
