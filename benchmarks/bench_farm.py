"""The same 48-frame draft job (320x180, 8 samples, Cycles) rendered by one local process
and by `nnrender farm` on a 2-worker LocalCluster, on this machine.

Prints the wall time of each, and what a chunk pays before its frames (process start,
imports, the plan, the scene build, the first frame's scene sync) against a 12-frame chunk
of the job's own frames (goal: at most 5%). The overhead comes from chunks run as the farm
runs them (its command, its saved plan, its fingerprint in the environment) of 1 and 12
frames: overhead = t(1) - (t(12) - t(1)) / 11; and, for comparison, from the same two
chunks planning for themselves (no saved plan).

A chunk's fixed cost is a share of its frames' time, so it depends on the quality: at
``draft`` (a third of a second a frame) no process start fits in 5% of 12 frames; at
``final`` it must.

    python benchmarks/bench_farm.py                # draft, chunks of 12 frames
    python benchmarks/bench_farm.py --chunk 6 --workers 2
    python benchmarks/bench_farm.py --quality final --chunks-only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tables import format_table

from nnrender.model.ir import Dump

FRAMES = 48
OVERHEAD_GOAL = 0.05  # of a 12-frame chunk's time


def scene(folder: Path, quality: str) -> Path:
    """A demo-shaped network (the digits CNN's layers, 3 epochs, with weights: edges
    drawn) and a timeline of exactly 48 frames at 24 fps."""
    from nnrender.model.synthetic import cnn_layers, write_synthetic
    from nnrender.timeline.epochs import EpochTimeline

    write_synthetic(folder / "dump", cnn_layers(), epochs=3, count=2, with_weights=True)
    hold, blend = 0.25, 0.5
    end = next(e / 24 for e in range(0, 200)
               if EpochTimeline.from_seconds(3, 24, hold, blend, e / 24).last_frame == FRAMES)
    path = folder / "scene.yaml"
    path.write_text(
        f"quality: {quality}\nstyle: talk\ndump: dump\n"
        f"timeline: {{hold: {hold}, blend: {blend}, end_hold: {end:.6f}}}\n"
        "output: {name: bench}\n", encoding="utf-8")
    return path


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env=None if env is None else dict(os.environ, **env))
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def save_farm_plan(path: Path, out: Path) -> str:
    """What ``nnrender farm`` does before its chunks: plan once, save the plan into the
    job's folder; returns the fingerprint the chunks are given."""
    from nnrender.config.load import load_config
    from nnrender.pipeline import plan_fingerprint, resolve_dump
    from nnrender.plan import make_plan
    from nnrender.plan.saved import save_plan

    config, base = load_config(path)
    plan = make_plan(Dump(resolve_dump(config, base, path)), config, path)
    fingerprint = plan_fingerprint(plan, config.render.engine)
    save_plan(plan, out, fingerprint)
    return fingerprint


def chunk_overhead(path: Path, work: Path, saved: bool, chunk: int
                   ) -> tuple[float, float, float, float]:
    """(overhead s, s a frame, t(1), t(chunk)) of chunks of ``path``, run as the farm runs
    them: with its saved plan and fingerprint, or (``saved`` false) planning themselves."""
    from nnrender.pipeline import EXPECT_PLAN_ENV

    times = []
    for n in (1, chunk):
        out = work / f"{'saved' if saved else 'planning'}-{n}"
        out.mkdir()
        env = {EXPECT_PLAN_ENV: save_farm_plan(path, out)} if saved else None
        times.append(run([sys.executable, "-m", "nnrender", "render", str(path), "--frames",
                          f"1-{n}", "-o", str(out), "--no-progress"], work, env))
    per_frame = (times[1] - times[0]) / (chunk - 1)
    return times[0] - per_frame, per_frame, times[0], times[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=12, help="frames per chunk (default 12)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    parser.add_argument("--quality", default="draft", help="the job's preset (default draft)")
    parser.add_argument("--chunks-only", action="store_true",
                        help="only time the chunks (not the whole job, locally and on the "
                             "farm)")
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="nnrender-bench-farm-")) if args.keep is None \
        else args.keep.resolve()
    work.mkdir(parents=True, exist_ok=True)
    nnr = [sys.executable, "-m", "nnrender"]
    try:
        path = scene(work, args.quality)
        saved = chunk_overhead(path, work, True, args.chunk)
        planning = chunk_overhead(path, work, False, args.chunk)
        print(f"nnrender farm benchmark: {FRAMES} frames, {args.quality} (Cycles, talk "
              f"style), {os.cpu_count()} cores\n")
        if not args.chunks_only:
            single = run([*nnr, "render", str(path), "-o", str(work / "single"),
                          "--no-progress"], work)
            farm = run([*nnr, "farm", str(path), "-o", str(work / "farm"), "--no-progress",
                        "--workers", str(args.workers), "--chunk", str(args.chunk)], work)
            job = json.loads((work / "farm" / "farm.json").read_text(encoding="utf-8"))
            print(format_table(["run", "wall s", "s/frame", "chunks"], [
                ["1 local process (nnrender render)", f"{single:.1f}",
                 f"{single / FRAMES:.2f}", "1"],
                [f"farm, LocalCluster {args.workers} workers, chunks of {args.chunk}",
                 f"{farm:.1f}", f"{farm / FRAMES:.2f}", str(len(job["chunks"]))]]))
            print(f"farm vs one process: {single / farm:.2f}x\n")
        for label, (over, per_frame, one, many) in (("the farm's saved plan", saved),
                                                    ("planning itself", planning)):
            share = over / many
            print(f"chunk, {label}: {over:.2f} s overhead (process start, imports, plan, "
                  f"build, first sync) + {per_frame:.2f} s a frame (1 and {args.chunk} "
                  f"frames: {one:.1f} s, {many:.1f} s): {share:.1%} of a {args.chunk}-frame "
                  f"chunk")
        share = saved[0] / saved[3]
        print(f"goal chunk overhead: {share:.1%} of a {args.chunk}-frame {args.quality} chunk "
              f"(<= {OVERHEAD_GOAL:.0%}): {'PASS' if share <= OVERHEAD_GOAL else 'MISS'}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
