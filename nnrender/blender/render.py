"""Rendering frames and stills: atomic writes, resumable, with Blender's chatter kept in a log."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import bpy

from nnrender.blender.scene import BuiltScene
from nnrender.output.encode import clear_stale_temps, frame_name, temp_path


@contextlib.contextmanager
def blender_output_to(log: Path | None) -> Iterator[None]:
    """Send C-level stdout and stderr (Cycles prints a line per tile, Mesa EGL notices) to
    ``log`` while rendering, so the terminal keeps only the progress bar and real errors."""
    if log is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def render_to(built: BuiltScene, frame: int, path: Path, log: Path | None = None) -> Path:
    """Render one frame to ``path`` via a temporary name, so a killed run leaves no file
    that looks finished but is not."""
    scene = built.scene
    scene.frame_set(frame)
    built.update_frame(frame)
    tmp = temp_path(path)
    scene.render.filepath = str(tmp)
    with blender_output_to(log):
        bpy.ops.render.render(write_still=True)
    if not tmp.is_file():
        raise RuntimeError(f"Blender wrote no image for frame {frame}")
    os.replace(tmp, path)
    return path


def render_frames(
    built: BuiltScene,
    frames: list[int],
    folder: Path,
    log: Path | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> list[int]:
    """Render the frames that are not already on disk; returns the frames rendered."""
    folder.mkdir(parents=True, exist_ok=True)
    clear_stale_temps(folder)
    done = []
    for frame in frames:
        target = folder / frame_name(frame)
        if target.is_file():
            if progress:
                progress(frame, 0.0)
            continue
        start = time.perf_counter()
        render_to(built, frame, target, log)
        done.append(frame)
        if progress:
            progress(frame, time.perf_counter() - start)
    return done


def save_blend(path: Path) -> Path:
    """Save the scene with its generated atlas packed, so it opens anywhere."""
    for img in bpy.data.images:
        if img.source in {"GENERATED", "FILE"} and img.packed_file is None:
            img.pack()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.blend")
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), compress=True, copy=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
