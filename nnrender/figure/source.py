"""What a figure is drawn from: a scene YAML (or a bundled scene's name), a dump folder, or
a model file (architecture only: ``nnrender dump --shapes-only`` writes its shapes-only
dump in a subprocess, so no framework is ever imported here; with inputs, its full dump is
written the same way), turned into the config the figure plans with.

The figure shows one state: one recorded epoch, the camera at the shown frame's azimuth
seen orthographically (the paper style's projection, as the Cycles still of the same scene
can be), connections as bundled as the video ends, each layer in its last arrangement.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrender.config.bundled import resolve
from nnrender.config.load import load_config, parse_set
from nnrender.config.schema import SceneConfig
from nnrender.errors import ConfigError, NNRenderError
from nnrender.figure.shapes import is_shapes_only
from nnrender.model.ir import Dump
from nnrender.sources import ReaderOptions, dump_model, kind_of

STYLE = "paper"  # a figure's style unless one is asked for
WIDE = (2400, 1000)  # frame of a figure with no scene (rows wrap to fill it)


@dataclass
class Source:
    """A resolved figure source: the config to plan, its dump, and where it came from."""

    config: SceneConfig
    dump: Dump
    origin: str | Path  # names the file in errors
    name: str  # the default output's stem
    notes: list[str] = field(default_factory=list)
    workdir: tempfile.TemporaryDirectory | None = None  # a model's shapes-only dump


def shapes_only_dump(model: Path, out: Path) -> Path:
    """``nnrender dump MODEL --shapes-only -o OUT`` in a child process (the framework stays
    there); its one-line error becomes ours."""
    cmd = [sys.executable, "-m", "nnrender", "dump", str(model), "--shapes-only", "-o",
           str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("nnrender: error: ")]
        if lines:
            raise NNRenderError(None, lines[-1][len("nnrender: error: "):])
        tail = " ".join(proc.stderr.strip().splitlines()[-1:]) or f"exit {proc.returncode}"
        raise NNRenderError(model, f"nnrender dump --shapes-only failed: {tail}")
    return out


def _final_bundle(config: SceneConfig) -> float:
    changes = sorted(config.edges.changes, key=lambda c: c.at)
    return float(changes[-1].to) if changes else float(config.edges.bundle)


def settle(config: SceneConfig, dump: Dump, origin: str | Path, architecture: bool
           ) -> SceneConfig:
    """The config of the one state a figure shows (see the module docstring)."""
    config = config.model_copy(deep=True)
    recorded = [ep.epoch for ep in dump.manifest.epochs]
    epoch = config.figure.epoch
    if epoch is None:
        epoch = (config.epochs or recorded)[-1]
    if epoch not in recorded:
        raise ConfigError(origin, f"figure.epoch: {epoch} not in the dump (has {recorded})")
    config.epochs = [epoch]
    cam = config.camera
    cam.azimuth = cam.azimuth + cam.orbit / 2  # the first frame's
    cam.orbit = 0.0
    cam.projection = "orthographic"
    config.edges.bundle = _final_bundle(config)
    config.edges.changes = []
    for entry in config.layout.layers.values():
        if entry.changes:
            entry.arrange = entry.changes[-1].arrange
            entry.changes = []
    if architecture:
        config.look.activations = False
    if not config.look.activations and "arrange" not in config.layout.model_fields_set:
        config.layout.arrange = "fold"  # one box per layer, sized by its shape
    return config


def open_source(source: str | Path, sets: list[str] | None = None, style: str | None = None,
                quality: str | None = None, architecture: bool = False,
                reader: ReaderOptions | None = None) -> Source:
    """The config and dump a figure of ``source`` plans (see the module docstring);
    ``reader``: how a model file is dumped (with inputs: its activations are drawn)."""
    kind = kind_of(source)
    if reader is not None and reader.given and kind != "model":
        raise NNRenderError("--input", f"only for a model file: {source} is a {kind}")
    layer: dict[str, Any] = parse_set(sets or [])
    if isinstance(layer.get("dump"), str) and not Path(layer["dump"]).is_absolute():
        layer["dump"] = str(Path.cwd() / layer["dump"])
    workdir = None
    path = Path(source)
    if kind == "scene":
        scene = path if path.exists() or path.suffix else resolve("scene", str(source))
        config, base = load_config(scene, layer, quality, style or STYLE)
        if not config.dump:
            raise ConfigError(scene, "dump: missing (the dump folder made by `nnrender "
                                     "dump`; or --set dump=DIR)")
        dump_path = Path(config.dump) if Path(config.dump).is_absolute() else base / config.dump
        origin: str | Path = scene
        name = config.output.name if "name" in config.output.model_fields_set else scene.stem
    else:
        if kind == "model":
            if not path.exists():
                raise NNRenderError(path, "file not found")
            workdir = tempfile.TemporaryDirectory(prefix="nnrender-figure-")
            if reader is not None and reader.given:
                dump_path = dump_model(path, Path(workdir.name) / "dump", reader)
            else:
                dump_path = shapes_only_dump(path, Path(workdir.name) / "dump")
        else:
            dump_path = path
        layer["dump"] = str(dump_path.resolve())
        # no scene and so no still to match: the wide frame a figure across a page has
        render = layer.setdefault("render", {})
        if isinstance(render, dict):
            render.setdefault("resolution", list(WIDE))
        config, _ = load_config(None, layer, quality, style or STYLE)
        origin, name = path, path.stem or path.resolve().name
    dump = Dump(dump_path)
    notes = []
    shapes = is_shapes_only(dump.manifest)
    if shapes and config.look.activations and kind != "model":
        notes.append(f"{dump_path}: a shapes-only dump: drawn as an architecture figure")
    config = settle(config, dump, origin, architecture or shapes)
    return Source(config, dump, origin, name, notes, workdir)
