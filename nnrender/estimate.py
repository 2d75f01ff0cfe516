"""How long a render will take, said before it starts (``nnrender inspect``, ``nnrender
render``): one calibration frame of the built scene, rendered small, scaled to the size and
samples asked for.

A frame costs ``a + P * (b * S + c)`` seconds for ``P`` pixels and ``S`` samples: ``a`` the
per-frame work that does not grow with the image (scene sync, the Workbench refill, the
compositor's set-up), ``b`` one sample of one pixel, ``c`` the per-pixel work that does not
grow with the samples (denoising, compositing, the PNG). The calibration frame is rendered
four times, each a fraction of a second: once to warm up (the first render builds the BVH
and compiles shaders), then at two small sizes and two sample counts, which gives the three
coefficients; extrapolating a straight line in pixels and samples is what Cycles does, and
a tiny frame alone, scaled by its pixels, would count its fixed costs thousands of times.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nnrender.plan.types import ScenePlan

if TYPE_CHECKING:  # bpy loads only when a scene is built
    from nnrender.blender.scene import BuiltScene

SMALL_WIDTH = 64  # px: the smaller calibration size (the larger is twice as wide)
MAX_SAMPLES = 8  # samples of the calibration frame at most
HOUR = 3600.0


@dataclass
class Cost:
    """Seconds a frame of this scene costs: ``a + pixels * (b * samples + c)``."""

    a: float
    b: float
    c: float
    warmup: float  # the first frame's extra seconds after a build
    sizes: list[tuple[int, int]]  # the calibration frame's sizes

    def frame(self, width: int, height: int, samples: int) -> float:
        return self.a + width * height * (self.b * samples + self.c)


@dataclass
class Estimate:
    """A render's frames, seconds a frame, and the one-off seconds before the first."""

    frames: int
    per_frame: float
    engine: str
    resolution: tuple[int, int]
    samples: int
    frame: int  # the calibration frame
    sizes: list[tuple[int, int]]
    build: float = 0.0  # building the scene (already spent when render prints it)
    warmup: float = 0.0  # the first frame's extra (idem)

    @property
    def total(self) -> float:
        return self.build + self.warmup + self.frames * self.per_frame

    def line(self) -> str:
        """One line: ``259 frames x 2.1 s = 9 min (...)``."""
        w, h = self.resolution
        sizes = " and ".join(f"{a}x{b}" for a, b in dict.fromkeys(self.sizes))
        setup = self.build + self.warmup
        head = f"{self.frames} frame{'s' * (self.frames != 1)} x {seconds(self.per_frame)}"
        if setup >= 0.05:
            head += f" + {seconds(setup)} to build"
        samples = ("" if self.engine == "workbench"
                   else f", {self.samples} sample{'s' * (self.samples != 1)}")
        return (f"{head} = {seconds(self.total)} ({self.engine} {w}x{h}{samples}; frame "
                f"{self.frame} timed at {sizes})")


def seconds(s: float) -> str:
    """A duration for people: ``0.42 s``, ``12 s``, ``9 min``, ``3.2 h``, ``4.1 days``."""
    if s < 10:
        return f"{s:.2g} s" if s < 1 else f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    if s < 2 * HOUR:
        return f"{s / 60:.0f} min"
    if s < 48 * HOUR:
        return f"{s / HOUR:.1f} h"
    return f"{s / (24 * HOUR):.1f} days"


def percents(width: int) -> tuple[int, int]:
    """The calibration's two sizes, as percentages of the requested width."""
    small = min(100, max(1, math.ceil(100 * SMALL_WIDTH / width)))
    return small, min(100, 2 * small)


def _size(resolution: tuple[int, int], percent: int) -> tuple[int, int]:
    w, h = resolution
    return max(1, w * percent // 100), max(1, h * percent // 100)


def calibrate(built: BuiltScene, plan: ScenePlan, frame: int, log: Path | None = None
              ) -> Cost:
    """Time ``frame`` of ``built`` (see the module docstring) and fit the frame cost."""
    from nnrender.blender.timing import timed_render

    resolution = tuple(plan.render.resolution)
    small, large = percents(resolution[0])
    samples = int(plan.render.samples)
    s2 = min(samples, MAX_SAMPLES)
    vary_samples = built.engine != "workbench" and s2 > 1
    first = timed_render(built, frame, large, s2, log)
    t_large = timed_render(built, frame, large, s2, log)
    p_large = math.prod(_size(resolution, large))
    p_small = math.prod(_size(resolution, small))
    t_small = timed_render(built, frame, small, s2, log) if small < large else t_large
    # seconds a pixel costs at s2 samples (0 when one size is all there is: the request is
    # that size, and its time is all ``a``)
    slope = max(0.0, (t_large - t_small) / (p_large - p_small)) if p_large > p_small else 0.0
    a = max(0.0, t_large - p_large * slope)
    b = 0.0
    if vary_samples:
        t_one = timed_render(built, frame, large, 1, log)
        b = max(0.0, (t_large - t_one) / (p_large * (s2 - 1)))
        b = min(b, slope / s2) if slope > 0 else b
        if slope == 0:  # one size: the sample cost comes out of the fixed part
            a = max(0.0, a - p_large * b * s2)
    c = max(0.0, slope - b * s2)
    sizes = [_size(resolution, small), _size(resolution, large)]
    return Cost(a, b, c, max(0.0, first - t_large), sizes)


def estimate_built(built: BuiltScene, plan: ScenePlan, frames: list[int],
                   log: Path | None = None, build: float | None = None) -> Estimate:
    """The estimate for rendering ``frames`` of a built scene (one of them is timed).
    ``build``: the seconds the build took, counted with the first frame's warm-up; None
    when both are spent already (a render that goes on with this scene)."""
    frame = frames[len(frames) // 2]
    cost = calibrate(built, plan, frame, log)
    w, h = (int(v) for v in plan.render.resolution)
    samples = int(plan.render.samples)
    return Estimate(len(frames), cost.frame(w, h, samples), built.engine, (w, h), samples,
                    frame, cost.sizes, build=build or 0.0,
                    warmup=cost.warmup if build is not None else 0.0)


def estimate_plan(plan: ScenePlan, engine: str, frames: list[int], log: Path | None = None
                  ) -> Estimate:
    """Build the plan (as ``render`` would) and estimate rendering ``frames`` of it,
    the build and the first frame's warm-up included."""
    from nnrender.blender import build as bbuild

    start = time.perf_counter()
    built = bbuild.build(plan, engine)
    took = time.perf_counter() - start
    return estimate_built(built, plan, frames, log, build=took)


def confirm(estimate: Estimate, yes: bool, where: str = "--yes") -> None:
    """Over an hour, on a terminal, without ``--yes``: ask before going on; a no is an
    error line (nothing rendered). Scripts and farms (no terminal) go on."""
    from nnrender.errors import NNRenderError

    remaining = estimate.frames * estimate.per_frame
    if yes or remaining <= HOUR or not sys.stdin.isatty():
        return
    print(f"nnrender: this render takes about {seconds(remaining)}; go on? [y/N] (--yes "
          "skips this question) ", end="", file=sys.stderr, flush=True)
    try:
        answer = input()
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise NNRenderError(where, f"the render would take about {seconds(remaining)}: "
                                   "not started (add --yes to start it without asking)")
