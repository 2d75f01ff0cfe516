"""Timed renders of one frame of a built scene at a reduced size and sample count, for the
render-time estimate (``nnrender/estimate.py``): the settings the plan gave are restored
after, so the same built scene then renders the real frames."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from nnrender.blender.render import render_to
from nnrender.blender.scene import BuiltScene


def _scenes(built: BuiltScene) -> list:
    return [s for s in (built.scene, built.overlay_scene) if s is not None]


def _set_samples(built: BuiltScene, samples: int | None) -> int | None:
    """Set the main scene's samples (Cycles, Eevee); returns the previous value."""
    if samples is None or built.engine == "workbench":
        return None
    scene = built.scene
    if built.engine == "cycles":
        old, scene.cycles.samples = scene.cycles.samples, samples
    else:
        old, scene.eevee.taa_render_samples = scene.eevee.taa_render_samples, samples
    return old


def timed_render(built: BuiltScene, frame: int, percent: int, samples: int | None = None,
                 log: Path | None = None) -> float:
    """Seconds to render ``frame`` at ``percent`` % of the plan's resolution (both the main
    and the overlay scene) with ``samples`` (None: the plan's), the image written and
    thrown away, as a real frame is written."""
    old_percent = [s.render.resolution_percentage for s in _scenes(built)]
    for s in _scenes(built):
        s.render.resolution_percentage = max(1, min(100, int(percent)))
    old_samples = _set_samples(built, samples)
    # Workbench refills its images only when the epoch shown changes: a real frame does
    built.shown = [None] * len(built.shown)
    try:
        with tempfile.TemporaryDirectory(prefix="nnrender-timing-") as tmp:
            start = time.perf_counter()
            render_to(built, frame, Path(tmp) / "frame.png", log)
            return time.perf_counter() - start
    finally:
        for s, p in zip(_scenes(built), old_percent, strict=True):
            s.render.resolution_percentage = p
        _set_samples(built, old_samples)
