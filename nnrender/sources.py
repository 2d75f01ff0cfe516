"""What a command draws: a scene YAML (or a bundled scene's name), a dump folder, or a model
file that ``nnrender dump`` reads. A model is dumped by ``nnrender dump`` in a child process,
so TensorFlow or PyTorch never loads where Blender does (their thread pools collide), and
any format the reader takes works here too."""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nnrender.config.bundled import names as bundled_names
from nnrender.errors import NNRenderError, did_you_mean
from nnrender.model.ir import MANIFEST

SCENE_SUFFIXES = (".yaml", ".yml")
STAMP = ".dump-source.json"  # beside OUT/dump: what it was dumped from
# TensorFlow's C++ start-up chatter (absl, oneDNN info lines): dropped, the rest passed on
TF_NOISE = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} \d\d:)")


def kind_of(source: str | Path) -> str:
    """``scene``, ``dump`` or ``model``."""
    path = Path(source)
    if path.suffix.lower() in SCENE_SUFFIXES:
        return "scene"
    if path.is_dir() and (path / MANIFEST).is_file():
        return "dump"
    if not path.exists() and len(path.parts) == 1 and str(source) in bundled_names("scene"):
        return "scene"
    return "model"


def stem(source: str | Path) -> str:
    """A source's name for its default output folder: ``model`` for ``model.keras``."""
    path = Path(source)
    return path.stem or path.resolve().name


def output_stem(source: str | Path) -> str:
    """A source's name as a file name (``output.name`` of a render without a scene)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem(source)).strip(".") or "nnrender"


@dataclass
class ReaderOptions:
    """The ``nnrender dump`` options a model source is read with."""

    inputs: list[str] = field(default_factory=list)
    weights: str | None = None
    builder: str | None = None
    imports: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # further ``nnrender dump`` arguments

    @property
    def given(self) -> bool:
        return bool(self.inputs or self.weights or self.builder or self.imports or self.extra)

    def argv(self) -> list[str]:
        out = [arg for spec in self.inputs for arg in ("--input", str(spec))]
        for flag, value in (("--weights", self.weights), ("--builder", self.builder)):
            if value:
                out += [flag, str(value)]
        out += [arg for module in self.imports for arg in ("--import", str(module))]
        return out + list(self.extra)

    def paths(self) -> list[str]:
        """The files these options read (for the stamp that lets a dump be reused)."""
        return [p for p in (*self.inputs, self.weights or "", *self.imports) if p]


def _stats(spec: str) -> list[list]:
    """(path, size, mtime) of a file, of a folder's files, or of a glob's matches."""
    path = Path(spec)
    if path.is_file():
        found = [path]
    elif path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        found = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
    out = []
    for p in found:
        st = p.stat()
        out.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
    return out


def _stamp(model: Path, options: ReaderOptions) -> dict:
    return {"argv": [str(model.resolve()), *options.argv()],
            "files": [_stats(str(model)), *(_stats(p) for p in options.paths())]}


def run_dump(argv: list[str], what: str | Path) -> None:
    """``nnrender dump ARGV`` in a child process, its warnings passed on (TensorFlow's
    chatter dropped); a one-line error of its own becomes ours."""
    cmd = [sys.executable, "-m", "nnrender", "dump", *argv]
    proc = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    errors, tail = [], []
    for line in proc.stderr:
        if line.startswith("nnrender: error: "):
            errors.append(line.rstrip("\n")[len("nnrender: error: "):])
        elif not TF_NOISE.match(line):
            sys.stderr.write(line)
            tail = (tail + [line.strip()])[-3:]
    if proc.wait() != 0:
        if errors:
            raise NNRenderError(None, errors[-1])
        last = " ".join(tail[-1:]) or f"exit {proc.returncode}"
        raise NNRenderError(what, f"nnrender dump failed: {last}")


def dump_model(model: Path, out: Path, options: ReaderOptions) -> Path:
    """Dump ``model`` into ``out`` (``nnrender dump``, in a child process) unless ``out``
    already holds the dump of the same model files and options, as a re-run of a render
    finds it; returns ``out``."""
    if not model.exists() and not glob.glob(str(model)):
        hint = did_you_mean(model, bundled_names("scene")) if len(model.parts) == 1 else ""
        raise NNRenderError(model, "file not found" + hint.replace("mean", "mean the scene"))
    if not options.inputs:
        raise NNRenderError("--input", "a model needs at least one input to show (an "
                                       "image, a .npy file or digits:N); `nnrender figure "
                                       "MODEL` draws its architecture without one")
    stamp = out.parent / STAMP
    wanted = _stamp(model, options)
    try:
        same = json.loads(stamp.read_text(encoding="utf-8")) == wanted
    except (OSError, ValueError):
        same = False
    if same and (out / MANIFEST).is_file():
        print(f"nnrender: {out}: the dump of {model} is up to date", file=sys.stderr)
        return out
    run_dump([str(model), *options.argv(), "-o", str(out)], model)
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps(wanted) + "\n", encoding="utf-8")
    tmp.replace(stamp)
    return out
