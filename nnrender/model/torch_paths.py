"""Which files the PyTorch and ONNX readers take, by name and content. Pure Python.

The command line asks ``is_torch_source`` before importing any framework: ``.pt2``
(``torch.export``), ``.pt``/``.pth``/``.ckpt``/``.bin``/``.tar`` (``torch.save`` state
dicts or checkpoints, or TorchScript archives: ``file_kind`` looks inside the zip) and
``.onnx`` files, alone, in a folder or in a glob, go to those readers; the rest to Keras.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

PROGRAM_SUFFIXES = (".pt2",)
STATE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".tar")
ONNX_SUFFIXES = (".onnx",)
TORCH_SUFFIXES = PROGRAM_SUFFIXES + STATE_SUFFIXES + ONNX_SUFFIXES


def _suffix_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PROGRAM_SUFFIXES):
        return "program"
    if name.endswith(ONNX_SUFFIXES):
        return "onnx"
    return "state"


def is_torchscript(path: Path) -> bool:
    """A TorchScript archive (``torch.jit.save``): a zip with ``code/`` and
    ``constants.pkl``; a ``torch.save`` file has neither."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any("/code/" in n for n in names) and any(n.endswith("constants.pkl")
                                                     for n in names)


def file_kind(path: Path) -> str:
    """``program``, ``onnx``, ``torchscript`` or ``state`` (a ``torch.save`` file)."""
    kind = _suffix_kind(path)
    if kind == "state" and is_torchscript(path):
        return "torchscript"
    return kind


def is_torch_source(source: str | Path) -> bool:
    """Whether ``nnrender dump`` reads ``source`` with the PyTorch/ONNX readers: a file, a
    folder's files or a glob ending in one of ``TORCH_SUFFIXES`` (not a TensorFlow
    checkpoint prefix such as ``model.ckpt`` beside ``model.ckpt.index``)."""
    text = os.path.expanduser(str(source))
    path = Path(text)
    if path.is_dir():
        names = [p.name.lower() for p in path.iterdir() if p.is_file()]
        return any(n.endswith(TORCH_SUFFIXES) for n in names) and not any(
            n.endswith((".keras", ".h5", ".hdf5", ".index")) or n == "saved_model.pb"
            for n in names)
    if path.is_file():
        return path.name.lower().endswith(TORCH_SUFFIXES)
    if Path(text + ".index").is_file():
        return False
    return text.lower().endswith(TORCH_SUFFIXES)


def is_torch_save(path: Path) -> bool:
    """Whether a file looks like ``torch.save``'s output: a zip archive, or (the legacy
    format) a pickle."""
    if zipfile.is_zipfile(path):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(1) == b"\x80"
    except OSError:
        return False
