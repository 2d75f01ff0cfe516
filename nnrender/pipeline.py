"""The render job: config -> plan -> Blender scene -> frames -> video and still.

Everything before ``build`` runs without bpy and fails fast on bad input, before any earlier
output is touched; bpy is imported only once the plan exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnrender.config.schema import SceneConfig
from nnrender.errors import ConfigError, NNRenderError
from nnrender.model.ir import Dump
from nnrender.output.encode import clear_stale_temps, encode_all, frame_name, temp_path
from nnrender.plan import ScenePlan, make_plan
from nnrender.plan.saved import load_plan

if TYPE_CHECKING:  # no bpy at import time: Blender loads only once a plan exists
    from nnrender.blender.scene import BuiltScene

EXPECT_PLAN_ENV = "NNRENDER_EXPECT_PLAN"  # set by a farm: the fingerprint its chunks must plan


@dataclass
class RenderRequest:
    out_dir: Path
    frames: str | None = None  # 'A-B': only these frames, no video
    video: bool = True
    still: int | None = None  # also render a still; 0 picks output.still_frame or the last
    save_blend: Path | None = None
    engine: str | None = None
    progress: bool = True
    # called once the scene is built, before any frame (the estimate, ``nnrender render``'s
    # question): the built scene, the plan, the frames still to render, the build's seconds
    after_build: Callable[[BuiltScene, ScenePlan, list[int], float], None] | None = None


@dataclass
class RenderResult:
    plan: ScenePlan
    frames_dir: Path | None = None
    rendered: list[int] = field(default_factory=list)
    video: Path | None = None  # the first of ``videos``
    videos: list[Path] = field(default_factory=list)
    still: Path | None = None
    seconds_per_frame: float = 0.0


def resolve_dump(config: SceneConfig, base_dir: Path, source: str | Path) -> Path:
    if not config.dump:
        raise ConfigError(source, "dump: missing (the dump folder made by `nnrender dump`)")
    path = Path(config.dump)
    return path if path.is_absolute() else (base_dir / path)


def parse_frames(text: str, last: int) -> tuple[int, int]:
    """``A-B`` or ``A`` to an inclusive range inside 1..last."""
    try:
        parts = [int(p) for p in text.split("-", 1)]
    except ValueError:
        raise ConfigError("--frames", f"{text!r}: expected A-B, e.g. 1-48") from None
    a, b = (parts[0], parts[-1])
    if not 1 <= a <= b <= last:
        raise ConfigError("--frames", f"{text}: the video has frames 1-{last}")
    return a, b


def plan_fingerprint(plan: ScenePlan, engine: str) -> str:
    """Frames on disk are reused only when they come from the same plan and engine."""
    h = hashlib.sha256()
    h.update(json.dumps(plan.to_json(), sort_keys=True).encode())
    for page in plan.atlas.blocks:
        h.update(memoryview(np.ascontiguousarray(page)).cast("B"))
    h.update(engine.encode())
    return h.hexdigest()[:16]


def _progress_bar(total: int, done: int, enabled: bool):
    from tqdm.auto import tqdm  # a notebook's own bar under Jupyter

    return tqdm(total=total, initial=done, unit="frame", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, desc="render")


def _still_frame(request: RenderRequest, config: SceneConfig, last: int,
                 source: str | Path) -> int | None:
    if request.still is None:
        return None
    frame = request.still or config.output.still_frame or last
    if not 1 <= frame <= last:
        where = "--still" if request.still else f"{source}: output.still_frame"
        raise ConfigError(where, f"frame {frame} outside 1-{last}")
    return frame


def _stamp_frames(frames_dir: Path, fingerprint: str) -> None:
    """Frames of another plan are removed (reusing them would mix scenes; only our own files
    go, render_frames clears the temporaries), then the folder is stamped with this plan."""
    stamp = frames_dir / ".plan"
    current = stamp.is_file() and stamp.read_text() == fingerprint
    if frames_dir.is_dir() and not current:
        for old in frames_dir.glob("frame_[0-9]*.png"):
            old.unlink()
    frames_dir.mkdir(parents=True, exist_ok=True)
    if not current:  # atomically: farm chunks in other processes read it at any moment
        tmp = temp_path(stamp)
        tmp.write_text(fingerprint)
        tmp.replace(stamp)


def _render_video(built: BuiltScene, plan: ScenePlan, config: SceneConfig, engine: str,
                  frames: tuple[int, int], request: RenderRequest, log: Path,
                  result: RenderResult) -> None:
    """Frames ``frames`` (inclusive) that are not on disk yet, then the video when they are
    the whole timeline."""
    from nnrender.blender import render as brender

    out = request.out_dir
    frames_dir = out / "frames"
    fingerprint = plan_fingerprint(plan, engine)
    expected = os.environ.get(EXPECT_PLAN_ENV)
    if expected and expected != fingerprint:  # a farm chunk on a different install
        raise NNRenderError(out, "this machine plans the scene differently from the farm "
                                 "(another nnrender or numpy version?): frames not "
                                 "rendered here")
    _stamp_frames(frames_dir, fingerprint)
    first, last = frames
    todo = list(range(first, last + 1))
    already = sum((frames_dir / frame_name(f)).is_file() for f in todo)
    bar = _progress_bar(len(todo), already, request.progress)
    times: list[float] = []

    def tick(frame: int, seconds: float) -> None:
        if seconds > 0:
            times.append(seconds)
            bar.update(1)

    try:
        result.rendered = brender.render_frames(built, todo, frames_dir, log, tick)
    finally:
        bar.close()
    result.frames_dir = frames_dir
    result.seconds_per_frame = sum(times) / len(times) if times else 0.0
    whole = (first, last) == (plan.story.first_frame, plan.story.last_frame)
    if config.output.video and whole:
        result.videos = encode_all(config.output, frames_dir, first, len(todo),
                                   config.render.fps, out)
        result.video = result.videos[0]


def run_render(config: SceneConfig, base_dir: Path, request: RenderRequest,
               source: str | Path = "scene") -> RenderResult:
    engine = request.engine or config.render.engine
    expected = os.environ.get(EXPECT_PLAN_ENV)
    # a farm's chunk: the farm's own plan when this install would make the same one
    plan = load_plan(request.out_dir, expected) if expected else None
    if plan is None:
        plan = make_plan(Dump(resolve_dump(config, base_dir, source)), config, source)
    last = plan.story.last_frame
    frames = (parse_frames(request.frames, last) if request.frames
              else (plan.story.first_frame, last))
    still_frame = _still_frame(request, config, last, source)
    for msg in plan.warnings:  # after the request is checked: a bad one is one line
        print(f"nnrender: warning: {msg}", file=sys.stderr)
    out = request.out_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NNRenderError(out, f"cannot create the output folder: {exc.strerror}") from None
    if request.save_blend is not None:
        check_blend_path(request.save_blend)
    clear_stale_temps(out)  # a still from a killed run

    from nnrender.blender import build as bbuild  # heavy: Blender loads here
    from nnrender.blender import render as brender

    log = out / "blender.log"
    t0 = time.perf_counter()
    built = bbuild.build(plan, engine)
    build_s = time.perf_counter() - t0
    if request.after_build is not None:
        todo = frames_to_render(plan, engine, out, frames if request.video else None,
                                still_frame)
        request.after_build(built, plan, todo, build_s)
    plan.save(out)  # after the question: a render not started replaces nothing
    if request.save_blend:
        with brender.blender_output_to(log):  # Blender's "Info: Saved copy as ..."
            brender.save_blend(request.save_blend)
    result = RenderResult(plan)
    if request.video:
        _render_video(built, plan, config, engine, frames, request, log, result)
    if still_frame is not None:
        result.still = _still(built, plan, engine, out, still_frame, config.output.name, log)
    print(f"nnrender: built {plan.cell_count} cells in {build_s:.2f} s"
          + (f", {result.seconds_per_frame:.2f} s/frame" if result.seconds_per_frame else ""),
          file=sys.stderr)
    return result


def frames_to_render(plan: ScenePlan, engine: str, out: Path, frames: tuple[int, int] | None,
                     still: int | None) -> list[int]:
    """The frames a render will render: those of ``frames`` (inclusive; None: no video)
    not on disk from this plan and engine already, then the still's unless it is one of
    the video's (it is copied then)."""
    video = list(range(frames[0], frames[1] + 1)) if frames is not None else []
    todo = video
    if todo and _same_frames(plan, engine, out):
        todo = [f for f in todo if not (out / "frames" / frame_name(f)).is_file()]
    return todo + ([still] if still is not None and still not in video else [])


def _same_frames(plan: ScenePlan, engine: str, out: Path) -> bool:
    """Whether the frames on disk are this plan's, rendered by this engine."""
    stamp = out / "frames" / ".plan"
    return stamp.is_file() and stamp.read_text() == plan_fingerprint(plan, engine)


def _still(built: BuiltScene, plan: ScenePlan, engine: str, out: Path, frame: int, name: str,
           log: Path) -> Path:
    """The still: a copy of the video's frame when it is on disk from this plan (the same
    pixels, one render saved), else rendered."""
    from nnrender.blender import render as brender

    path = out / f"{name}.png"
    rendered = out / "frames" / frame_name(frame)
    if rendered.is_file() and _same_frames(plan, engine, out):
        tmp = temp_path(path)
        shutil.copyfile(rendered, tmp)
        os.replace(tmp, path)
        return path
    return brender.render_to(built, frame, path, log)


def check_blend_path(path: Path) -> Path:
    if path.is_dir() or path.parent.exists() and not path.parent.is_dir():
        raise NNRenderError(path, "--save-blend needs a file path (e.g. scene.blend)")
    return path


def check_output_dir(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise NNRenderError(path, "output path exists and is not a folder")
    return path
