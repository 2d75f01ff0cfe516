"""``nnrender.render(...)`` and ``nnrender.still(...)``: a video or a still from a notebook or
a script in one call, from a dump folder, a model file or a Keras model object.

Both run ``nnrender render`` in a child process: a model is read there by ``nnrender
dump`` (in a process of its own again) and Blender renders there, so TensorFlow (already
loaded where a Keras model object lives) and bpy never share a process, and a Blender
crash never takes the notebook's kernel with it. A ``tqdm.auto`` bar counts the frames as
they land in the output folder (a notebook widget under Jupyter), the child's warnings and
estimate are passed on, and its one-line error is raised as ``NNRenderError``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nnrender.errors import NNRenderError, did_you_mean
from nnrender.sources import TF_NOISE, output_stem

POLL = 0.25  # seconds between looks at the frames folder


def _sections() -> dict[str, list[str]]:
    """Scene sections and their keys (``render``: engine, resolution, ...)."""
    from pydantic import BaseModel

    from nnrender.config.schema import SceneConfig

    out = {}
    for name, field in SceneConfig.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out[name] = list(ann.model_fields)
    return out


def settings_layer(settings: dict[str, Any]) -> dict[str, Any]:
    """Keyword settings as a scene layer. A top-level key as itself (``render={"samples":
    4}``, ``epochs=[0, 8]``); ``section_key`` for one key of a section (``render_samples=4``,
    ``camera_orbit=30``); a section's key by its own name where only one section has it
    (``resolution=(640, 360)``, ``orbit=30``)."""
    from nnrender.config.schema import SceneConfig

    sections = _sections()
    top = list(SceneConfig.model_fields)
    owners: dict[str, list[str]] = {}
    for section, keys in sections.items():
        for key in keys:
            owners.setdefault(key, []).append(section)
    layer: dict[str, Any] = {}
    for name, value in settings.items():
        value = list(value) if isinstance(value, tuple) else value
        head, _, rest = name.partition("_")
        if name in top:
            layer[name] = value
        elif head in sections and rest in sections[head]:
            layer.setdefault(head, {})[rest] = value
        elif len(owners.get(name, [])) == 1:
            layer.setdefault(owners[name][0], {})[name] = value
        elif name in owners:
            both = " or ".join(f"{s}_{name}" for s in owners[name])
            raise NNRenderError(None, f"{name}: a key of {', '.join(owners[name])}: give {both}")
        else:
            known = top + [f"{s}_{k}" for s, ks in sections.items() for k in ks] + list(owners)
            raise NNRenderError(None, f"{name}: unknown setting{did_you_mean(name, known)}")
    return layer


def _input_specs(inputs: Any, tmp: Path) -> list[str]:
    """``--input`` specs: paths and ``digits:N`` as given, arrays saved as .npy files (a
    list holds one per model input)."""
    if inputs is None:
        return []
    items = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    specs = []
    for k, item in enumerate(items):
        if hasattr(item, "shape") and hasattr(item, "dtype"):
            import numpy as np

            path = tmp / f"input_{k}.npy"
            np.save(path, np.asarray(item))
            specs.append(str(path))
        else:
            specs.append(str(item))
    return specs


def _source_path(source: Any, tmp: Path) -> tuple[Path, str]:
    """A dump folder or model file as given; a Keras model object saved as a .keras file
    (it already lives in this process, with its framework)."""
    if isinstance(source, str | Path):
        return Path(source), output_stem(source)
    if hasattr(source, "save") and hasattr(source, "layers"):
        name = output_stem(str(getattr(source, "name", None) or "model"))
        path = tmp / f"{name}.keras"  # the outputs are named after the model
        source.save(path)
        return path, name
    raise NNRenderError(None, f"source: a dump folder, a model file or a Keras model, not a "
                              f"{type(source).__name__}")


class _Child:
    """``nnrender render`` running: its stderr passed on, its frames counted."""

    def __init__(self, argv: list[str], out: Path) -> None:
        self.out = out
        self.started = time.time()
        self.errors: list[str] = []
        self.tail: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "nnrender", "render", *argv],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.reader = threading.Thread(target=self._relay, daemon=True)
        self.reader.start()

    def _relay(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.startswith("nnrender: error: "):
                self.errors.append(line.rstrip("\n")[len("nnrender: error: "):])
            elif not TF_NOISE.match(line):
                sys.stderr.write(line)
                self.tail = (self.tail + [line.strip()])[-5:]

    def total(self) -> int | None:
        """The video's frames, once this run's plan.json is written."""
        plan = self.out / "plan.json"
        try:
            if plan.stat().st_mtime < self.started - 1:
                return None
            story = json.loads(plan.read_text(encoding="utf-8"))["story"]
            return int(story["last_frame"]) - int(story["first_frame"]) + 1
        except (OSError, ValueError, KeyError):
            return None

    def done(self) -> int:
        return len(list((self.out / "frames").glob("frame_[0-9]*.png")))

    def wait(self, video: bool, progress: bool) -> list[Path]:
        bar = None
        while self.proc.poll() is None:
            if progress and video:
                bar = self._update(bar)
            time.sleep(POLL)
        if bar is not None:
            self._update(bar)
            bar.close()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout.read()
        self.reader.join()
        if self.proc.returncode != 0:
            if self.errors:
                raise NNRenderError(None, self.errors[-1])
            raise RuntimeError(f"nnrender render failed (exit {self.proc.returncode}): "
                               + " / ".join(self.tail))
        return [Path(line) for line in stdout.splitlines() if line.strip()]

    def _update(self, bar: Any) -> Any:
        total = self.total()
        if total is None:
            return bar
        if bar is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="frame", desc="render", file=sys.stderr)
        bar.update(min(self.done(), total) - bar.n)
        return bar


def show_inline(path: Path, video: bool = False) -> bool:
    """Show an image or a video in a Jupyter notebook's output (IPython.display); False
    elsewhere (a script, a terminal IPython) or without IPython."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, Video, display
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or "ZMQ" not in type(shell).__name__:  # a notebook's kernel
        return False
    display(Video(str(path), embed=True) if video else Image(filename=str(path)))
    return True


def _run(source: Any, inputs: Any, style: str | None, out: str | Path | None,
         what: list[str], settings: dict[str, Any], *, quality: str | None,
         sets: Sequence[str] | None, progress: bool) -> list[Path]:
    layer = settings_layer(settings)
    from nnrender.config.load import load_config

    load_config(None, layer)  # a misspelt setting is an error here, before any work
    with tempfile.TemporaryDirectory(prefix="nnrender-api-") as tmp:
        path, name = _source_path(source, Path(tmp))
        folder = Path(out) if out is not None else Path("nnrender-out") / name
        argv = [str(path), "-o", str(folder), "--no-progress", "--yes", *what]
        for flag, value in (("-s", style), ("-q", quality)):
            if value:
                argv += [flag, value]
        for spec in _input_specs(inputs, Path(tmp)):
            argv += ["--input", spec]
        for key, value in layer.items():
            argv += ["--set", f"{key}={json.dumps(value)}"]
        for item in sets or []:
            argv += ["--set", item]
        return _Child(argv, folder).wait(video="--still" not in what, progress=progress)


def render(source: Any, inputs: Any = None, style: str | None = "paper",
           out: str | Path | None = None, *, quality: str | None = None,
           frames: str | None = None, sets: Sequence[str] | None = None, show: bool = True,
           progress: bool = True, **settings: Any) -> list[Path]:
    """Render the video of ``source`` (a dump folder, a model file ``nnrender dump`` reads,
    or a Keras model object) and return its files (``output.formats``: an MP4 by default).

    ``inputs``: for a model, what it is shown: image paths, ``.npy`` paths, ``"digits:4"``,
    or numpy arrays (a list: one per model input). ``style``: paper, talk, cinematic or
    None (the defaults); ``quality``: draft, preview, final, 4k; ``out``: the output folder
    (``nnrender-out/<name>``); ``frames``: ``"A-B"`` renders those frames only (no video;
    the frames folder is returned). ``settings``: scene keys (see ``settings_layer``), and
    ``sets``: ``"key=value"`` as on the command line. Under Jupyter the video is shown
    inline (``show``)."""
    what = ["--frames", frames] if frames else []
    paths = _run(source, inputs, style, out, what, settings, quality=quality, sets=sets,
                 progress=progress)
    videos = [p for p in paths if p.suffix in (".mp4", ".webm")]
    if show and videos:
        show_inline(videos[0], video=True)
    return paths


def still(source: Any, inputs: Any = None, style: str | None = "paper",
          out: str | Path | None = None, *, frame: int | None = None,
          quality: str | None = None, sets: Sequence[str] | None = None, show: bool = True,
          progress: bool = True, **settings: Any) -> Path:
    """Render one still of ``source`` (see ``render``) and return the PNG's path: ``frame``
    of the video (``output.still_frame``, else the last, by default). Under Jupyter it is
    shown inline (``show``)."""
    what = ["--still"] + ([str(int(frame))] if frame is not None else [])
    paths = _run(source, inputs, style, out, what, settings, quality=quality, sets=sets,
                 progress=progress)
    pngs = [p for p in paths if p.suffix == ".png"]
    if not pngs:
        raise RuntimeError(f"nnrender render --still wrote no PNG ({paths})")
    if show:
        show_inline(pngs[0])
    return pngs[0]
