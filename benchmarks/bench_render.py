"""Seconds per frame for each render engine on the demo-shaped network.

Render time dominates every nnrender job, and it differs by an order of magnitude between
engines (and, on this machine, Eevee runs on software GL). This benchmark gives the numbers
a user needs to pick an engine and a quality preset: for Cycles, Eevee and Workbench it
builds the demo-shaped synthetic network (``cnn_layers()``, 9 epochs) at one small fixed
resolution and renders a few frames spread over the timeline. The first frame is reported on
its own, because it pays for scene sync and (Eevee) shader compilation; the rest give the
steady-state seconds per frame with persistent data on, as in a real animation.

With ``--story`` each engine renders four timelines, to show what a talk's story adds to a
frame (goal: under 10%), frames spread over each one:

- ``epochs``: the plain epoch timeline, orbiting once;
- ``forward``: the same, plus two forward-pass waves with edge pulses, an input change and
  the metrics inset (goal against ``epochs``);
- ``camera``: the demo storyboard's camera path (``scenes/demo.yaml`` shots: overview,
  orbit, push into the output, overview) without titles, captions, waves or inset;
- ``story``: the whole demo storyboard (goal against ``camera``: the same views).

``camera`` against ``epochs`` is the price of the views themselves: a close-up fills the
frame with geometry that every path-traced sample must shade, where the orbit sees mostly
background.

Each engine runs in its own subprocess (this script re-invoked with ``--engine-run NAME``)
with a timeout, so a slow or crashing engine never takes the others down.

    python benchmarks/bench_render.py
    python benchmarks/bench_render.py --engines cycles workbench --resolution 640x360
    python benchmarks/bench_render.py --engines cycles --story --frames 8
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ENGINES = ("cycles", "eevee", "workbench")
DEMO_EPOCHS = 9
DEMO_INPUTS = 4
STORY_KEYS = ("shots", "forward", "inputs", "metrics")
STORY_GOAL = 0.10  # a story's features may add this share to the mean frame time
VARIANTS = ("epochs", "forward", "camera", "story", "demo")
ROOT = Path(__file__).resolve().parents[1]
DEMO_SCENE = ROOT / "scenes" / "demo.yaml"
OVERHEAD_GOAL = 0.05  # a job's wall time outside the render calls
GOALS = {"forward": "epochs", "story": "camera"}  # variant: the one it is measured against
METRICS = {"show": ["accuracy"], "corner": "upper_left"}  # what the synthetic dump records


def storyboard() -> dict[str, Any]:
    """The demo scene's story sections, its metric swapped for the synthetic dump's."""
    import yaml

    scene = yaml.safe_load((Path(__file__).resolve().parents[1] / "scenes" / "demo.yaml")
                           .read_text(encoding="utf-8"))
    story = {k: scene[k] for k in STORY_KEYS if k in scene}
    story["metrics"] = METRICS
    return story


def variant_scene(variant: str, seconds: float) -> dict[str, Any]:
    """Scene sections of a variant; ``seconds``: the plain epoch timeline's length."""
    if variant == "epochs":
        return {}
    if variant == "forward":
        return {"forward": [{"at": 0.1 * seconds, "duration": 0.25 * seconds},
                            {"at": 0.6 * seconds, "duration": 0.25 * seconds}],
                # in the last epoch's hold: inputs never blend while the epochs do
                "inputs": [{"at": seconds - 1.0, "sample": 1, "blend": 0.3}],
                "metrics": METRICS}
    story = storyboard()
    if variant == "camera":
        shots = [{k: v for k, v in shot.items() if k not in ("title", "caption")}
                 for shot in story["shots"]]
        return {"shots": shots}
    return story


def peak_rss_mb() -> float:
    """This process's RSS high-water mark in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def resolution(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 320x180") from None
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError("width and height must be at least 16")
    return w, h


# --------------------------------------------------------------------------- child side


def demo_config(dump_path: Path, engine: str, extra: dict[str, Any] | None = None) -> Any:
    """``scenes/demo.yaml`` as ``nnrender demo`` renders it (preview, talk, edges), on
    ``dump_path``; the synthetic dump records only accuracy."""
    from nnrender.config.load import load_config
    from nnrender.model.ir import Dump

    metrics = Dump(dump_path).manifest.epochs[0].metrics
    over = {"dump": str(dump_path), "render": {"engine": engine}, **(extra or {})}
    if "val_accuracy" not in metrics:
        over["metrics"] = METRICS
    return load_config(DEMO_SCENE, over)


def run_engine(engine: str, dump_path: Path, size: tuple[int, int], samples: int,
               frames: int, out_dir: Path, result_path: Path, variant: str = "epochs") -> None:
    """Build for ``engine`` and render ``frames`` frames; figures go to ``result_path`` after
    every frame, so a run killed by the timeout still reports what it finished."""
    from nnrender.runtime import isolate_home

    isolate_home()
    from nnrender.blender.build import build
    from nnrender.blender.render import render_to
    from nnrender.config.load import load_config
    from nnrender.model.ir import Dump
    from nnrender.plan import make_plan

    overrides = {"dump": str(dump_path),
                 "render": {"engine": engine, "resolution": list(size), "samples": samples,
                            "denoise": "off"}}
    config, _ = (demo_config(dump_path, engine) if variant == "demo"
                 else load_config(None, overrides))
    plan = make_plan(Dump(dump_path), config, "bench")
    if variant not in ("epochs", "demo"):
        seconds = plan.story.frame_count / config.render.fps
        config, _ = load_config(None, {**overrides, **variant_scene(variant, seconds)})
        plan = make_plan(Dump(dump_path), config, "bench")
    t0 = time.perf_counter()
    built = build(plan, engine)
    result: dict[str, Any] = {"build_s": time.perf_counter() - t0, "cells": plan.cell_count,
                              "frames": [], "times": [],
                              "resolution": "x".join(map(str, config.render.resolution)),
                              "samples": config.render.samples}
    first, last = plan.story.first_frame, plan.story.last_frame
    # spread over the timeline so epoch blends (and the orbiting camera) really change
    picks = sorted({round(first + (last - first) * i / max(1, frames - 1))
                    for i in range(frames)})
    log = out_dir / "blender.log"
    for frame in picks:
        t0 = time.perf_counter()
        render_to(built, frame, out_dir / f"frame_{frame:04d}.png", log)
        result["times"].append(time.perf_counter() - t0)
        result["frames"].append(frame)
        result["peak_mb"] = peak_rss_mb()
        result_path.write_text(json.dumps(result), encoding="utf-8")


def run_job(engine: str, dump_path: Path, count: int, out_dir: Path,
            result_path: Path) -> None:
    """A whole ``count``-frame job of the demo scene through the pipeline (plan, build,
    frames, videos, still), with Blender's render handlers timing each frame's render
    call in place: the rest of the wall time is what runs outside the renderer."""
    from nnrender.runtime import isolate_home

    isolate_home()
    import bpy

    from nnrender.model.ir import Dump
    from nnrender.pipeline import RenderRequest, run_render
    from nnrender.plan import make_plan

    config, base = demo_config(dump_path, engine)
    plan = make_plan(Dump(dump_path), config, "bench")
    if count < plan.story.frame_count:
        raise SystemExit(f"--job {count}: the demo's storyboard is "
                         f"{plan.story.frame_count} frames; ask for at least that many")
    shots = [s.model_dump(mode="json") for s in config.shots]
    shots[-1]["duration"] += (count - plan.story.frame_count) / config.render.fps  # lingers
    config, base = demo_config(dump_path, engine, {"shots": shots})
    marks: dict[str, list[float]] = {"pre": [], "post": [], "write": []}

    def mark(key: str) -> Any:
        # persistent: the build starts from factory settings, which drops other handlers
        return bpy.app.handlers.persistent(lambda *_: marks[key].append(time.perf_counter()))

    handlers = [(bpy.app.handlers.render_pre, mark("pre")),
                (bpy.app.handlers.render_post, mark("post")),
                (bpy.app.handlers.render_write, mark("write"))]
    for chain, fn in handlers:
        chain.append(fn)
    build: dict[str, float] = {}
    t0 = time.perf_counter()
    result = run_render(config, base, RenderRequest(
        out_dir=out_dir, progress=False,
        after_build=lambda _b, _p, _t, s: build.update(build_s=s)))
    wall = time.perf_counter() - t0
    pre, post, write = (np.array(marks[k]) for k in ("pre", "post", "write"))
    out = {"frames": result.plan.story.frame_count, "renders": len(pre), "wall_s": wall,
           "build_s": build.get("build_s", 0.0), "frame_s": result.seconds_per_frame,
           "render_s": float(np.sum(post - pre)), "write_s": float(np.sum(write - post)),
           "videos": [p.name for p in result.videos],
           "resolution": list(config.render.resolution), "samples": config.render.samples}
    result_path.write_text(json.dumps(out), encoding="utf-8")


def job_lines(r: dict[str, Any]) -> list[str]:
    """The job's split: the render calls, per-frame work outside them, and the rest."""
    loop = r["frame_s"] * r["frames"]  # the frame loop, as the pipeline timed it
    outside = r["wall_s"] - r["render_s"]
    share = outside / r["wall_s"]
    w, h = r["resolution"]
    return [
        f"job: {r['frames']} frames of scenes/demo.yaml ({r['engine']}, {w}x{h}, "
        f"{r['samples']} samples) in {r['wall_s']:.1f} s: render calls {r['render_s']:.1f} s "
        f"({r['render_s'] / r['renders']:.2f} s each, {r['renders']} calls, timed by "
        f"render_pre/render_post; Cycles' scene sync, the compositor and the PNG write "
        f"happen inside them), the rest of the frame loop {loop - r['render_s']:.1f} s "
        f"(frame set, per-frame updates, renames), plan + build + videos + still "
        f"{r['wall_s'] - loop:.1f} s "
        f"({', '.join(r['videos'])})",
        f"goal job overhead: {share:.1%} of the wall time outside the render calls "
        f"(< {OVERHEAD_GOAL:.0%}): {'PASS' if share < OVERHEAD_GOAL else 'MISS'}",
    ]


# -------------------------------------------------------------------------- parent side


def spawn(engine: str, dump_path: Path, size: tuple[int, int], samples: int, frames: int,
          work: Path, timeout: float, variant: str = "epochs", job: int = 0
          ) -> dict[str, Any]:
    name = f"{engine}-{'job' if job else variant}"
    out_dir = work / name
    out_dir.mkdir()
    result_path = work / f"{name}.json"
    log_path = work / f"{name}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--engine-run", engine,
           "--dump", str(dump_path), "--resolution", f"{size[0]}x{size[1]}",
           "--samples", str(samples), "--frames", str(frames), "--out", str(out_dir),
           "--result", str(result_path), "--variant", variant, "--job-run", str(job)]
    error = None
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                                  check=False)
            if proc.returncode != 0:
                error = f"exit code {proc.returncode}"
        except subprocess.TimeoutExpired:
            error = f"timed out after {timeout:.0f} s"
    result: dict[str, Any] = {}
    if result_path.is_file():
        result = json.loads(result_path.read_text(encoding="utf-8"))
    if error:
        result["error"] = error
        result["log"] = log_path.read_text(errors="replace").strip().splitlines()[-15:]
    return result


def table(rows: list[dict[str, Any]]) -> str:
    head = ["engine", "timeline", "resolution", "samples", "build s", "first-frame s",
            "mean s/frame rest", "frames", "peak RSS MB", "note"]
    lines = []
    for r in rows:
        times = r.get("times", [])
        rest = times[1:]
        lines.append([
            r["engine"], r.get("variant", "epochs"), r["resolution"],
            str(r["samples"]),
            f"{r['build_s']:.2f}" if "build_s" in r else "-",
            f"{times[0]:.2f}" if times else "-",
            f"{sum(rest) / len(rest):.2f}" if rest else "-",
            str(len(times)),
            f"{r['peak_mb']:.0f}" if "peak_mb" in r else "-",
            r.get("error", ""),
        ])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in (0, len(cells) - 1) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [fmt(head), "  ".join("-" * w for w in widths)]
    out += [fmt(line) for line in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES),
                        help="engines to time (default: all three)")
    parser.add_argument("--resolution", type=resolution, default=(320, 180),
                        help="WIDTHxHEIGHT (default 320x180)")
    parser.add_argument("--samples", type=int, default=16,
                        help="render samples (Cycles spp, Eevee TAA samples; default 16)")
    parser.add_argument("--frames", type=int, default=4,
                        help="frames per engine, the first reported separately (default 4)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds allowed per engine, build included (default 300)")
    parser.add_argument("--story", action="store_true",
                        help="render four timelines per engine (epochs, forward, camera, "
                             "story) to time what a talk's story adds to a frame")
    parser.add_argument("--demo", action="store_true",
                        help="also time scenes/demo.yaml as `nnrender demo` renders it "
                             "(preview 640x360, 12 samples, talk style, edges, its shots)")
    parser.add_argument("--job", type=int, default=0, metavar="N",
                        help="also render an N-frame job of the demo scene per engine "
                             "through the pipeline and split its wall time: render calls, "
                             "per-frame work outside them, plan/build/encoding (goal: < 5%% "
                             "outside the render calls; try 300)")
    parser.add_argument("--demo-dump", type=Path,
                        help="the real demo dump for --demo/--job (nnrender-demo/model/dump); "
                             "default: the demo-shaped synthetic network with weights")
    parser.add_argument("--variant", choices=VARIANTS, default="epochs",
                        help=argparse.SUPPRESS)
    parser.add_argument("--job-run", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=Path, default=None,
                        help="copy the rendered frames and logs here instead of deleting them")
    # internal: one engine in this process
    parser.add_argument("--engine-run", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be at least 1")

    if args.engine_run and args.job_run:
        run_job(args.engine_run, args.dump, args.job_run, args.out, args.result)
        return 0
    if args.engine_run:
        run_engine(args.engine_run, args.dump, args.resolution, args.samples, args.frames,
                   args.out, args.result, args.variant)
        return 0

    from nnrender.model.synthetic import cnn_layers, write_synthetic

    size = args.resolution
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="nnrender-bench-render-"))
    try:
        dump_path = Path(write_synthetic(work / "dump", cnn_layers(), epochs=DEMO_EPOCHS,
                                         count=DEMO_INPUTS))
        demo_dump = args.demo_dump
        if (args.demo or args.job) and demo_dump is None:
            demo_dump = Path(write_synthetic(work / "demo-dump", cnn_layers(),
                                             epochs=DEMO_EPOCHS, count=DEMO_INPUTS,
                                             with_weights=True))
        plain = [v for v in VARIANTS if v != "demo"] if args.story else ["epochs"]
        runs = [(e, v) for e in args.engines for v in plain + (["demo"] if args.demo else [])]
        for engine, variant in runs:
            print(f"{engine} {variant}: rendering {args.frames} frames ...", file=sys.stderr,
                  flush=True)
            row = spawn(engine, demo_dump if variant == "demo" else dump_path, size,
                        args.samples, args.frames, work, args.timeout, variant)
            row.setdefault("resolution", f"{size[0]}x{size[1]}")
            row.setdefault("samples", args.samples)
            row.update(engine=engine, variant=variant)
            if "error" in row:
                print(f"{engine}: {row['error']}", file=sys.stderr)
                for line in row.get("log", []):
                    print(f"    {line}", file=sys.stderr)
            rows.append(row)
        jobs = []
        for engine in args.engines if args.job else []:
            print(f"{engine}: a {args.job}-frame job of the demo scene ...", file=sys.stderr,
                  flush=True)
            job = spawn(engine, demo_dump, size, args.samples, args.frames, work,
                        args.timeout * 10, job=args.job)
            job["engine"] = engine
            jobs.append(job)
        if args.keep is not None:
            shutil.copytree(work, args.keep, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("dump", "demo-dump"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nnnrender render benchmark (demo-shaped synthetic network, {DEMO_EPOCHS} epochs; "
          "persistent data on; denoising off; first frame includes sync/shader compilation)")
    if args.demo or args.job:
        which = (f"the demo dump {args.demo_dump}" if args.demo_dump
                 else "the demo-shaped synthetic network with weights")
        print(f"demo scene: scenes/demo.yaml on {which}")
    print(table(rows))
    for line in story_overheads(rows):
        print(line)
    for job in jobs:
        if "error" in job:
            print(f"job {job['engine']}: {job['error']}")
            for line in job.get("log", []):
                print(f"    {line}")
            continue
        for line in job_lines(job):
            print(line)
    return 1 if any("error" in r for r in rows + jobs) else 0


def story_overheads(rows: list[dict[str, Any]]) -> list[str]:
    """What each story variant adds to the mean frame time of the one it is measured
    against (a goal line), and what the storyboard's views cost over the orbit's."""
    def mean_rest(r: dict[str, Any]) -> float | None:
        rest = r.get("times", [])[1:]
        return sum(rest) / len(rest) if rest and "error" not in r else None

    means = {(r["engine"], r.get("variant", "epochs")): mean_rest(r) for r in rows}
    out = []
    for (engine, variant), value in means.items():
        against = GOALS.get(variant, "epochs" if variant == "camera" else None)
        base = means.get((engine, against)) if against else None
        if value is None or not base:
            continue
        extra = value / base - 1.0
        line = (f"{engine} {variant} vs {against}: {value:.2f} vs {base:.2f} s/frame, "
                f"{extra:+.1%}")
        if variant in GOALS:
            verdict = "PASS" if extra < STORY_GOAL else "MISS"
            out.append(f"goal {line} (< {STORY_GOAL:.0%}): {verdict}")
        else:
            out.append(f"{line} (the views themselves; no goal)")
    return out

if __name__ == "__main__":
    sys.exit(main())
