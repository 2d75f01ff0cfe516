"""The same 48-frame draft job (320x180, 8 samples, Cycles) rendered by one local process
and by `nnrender farm` on a 2-worker LocalCluster, on this machine.

Prints the wall time of each, and the per-chunk overhead (process start, plan, scene build:
what a chunk pays before its first frame) as a share of the farm's total chunk time. The
overhead is measured from two plain `nnrender render --frames` runs of 1 and 12 frames:
overhead = t(1) - (t(12) - t(1)) / 11.

    python benchmarks/bench_farm.py                # chunks of 12 frames
    python benchmarks/bench_farm.py --chunk 6 --workers 2
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

FRAMES = 48


def scene(folder: Path) -> Path:
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
        "quality: draft\nstyle: talk\ndump: dump\n"
        f"timeline: {{hold: {hold}, blend: {blend}, end_hold: {end:.6f}}}\n"
        "output: {name: bench}\n", encoding="utf-8")
    return path


def run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=12, help="frames per chunk (default 12)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="nnrender-bench-farm-")) if args.keep is None \
        else args.keep.resolve()
    work.mkdir(parents=True, exist_ok=True)
    nnr = [sys.executable, "-m", "nnrender"]
    try:
        path = scene(work)
        single = run([*nnr, "render", str(path), "-o", str(work / "single"), "--no-progress"],
                     work)
        farm = run([*nnr, "farm", str(path), "-o", str(work / "farm"), "--no-progress",
                    "--workers", str(args.workers), "--chunk", str(args.chunk)], work)
        one = run([*nnr, "render", str(path), "--frames", "1-1", "-o", str(work / "one"),
                   "--no-progress"], work)
        twelve = run([*nnr, "render", str(path), "--frames", "1-12", "-o",
                      str(work / "twelve"), "--no-progress"], work)
        per_frame = (twelve - one) / 11
        overhead = one - per_frame
        job = json.loads((work / "farm" / "farm.json").read_text(encoding="utf-8"))
        chunks = job["chunks"]
        chunk_total = sum(c["seconds"] for c in chunks)
        print(f"nnrender farm benchmark: {FRAMES} frames, draft (320x180, 8 samples, Cycles, "
              f"talk style), {os.cpu_count()} cores\n")
        print(format_table(
            ["run", "wall s", "s/frame", "chunks"],
            [["1 local process (nnrender render)", f"{single:.1f}", f"{single / FRAMES:.2f}",
              "1"],
             [f"farm, LocalCluster {args.workers} workers, chunks of {args.chunk}",
              f"{farm:.1f}", f"{farm / FRAMES:.2f}", str(len(chunks))]]))
        print(f"\nper chunk: {overhead:.1f} s overhead (process start, plan, scene build) + "
              f"{per_frame:.2f} s a frame (from 1- and 12-frame runs: {one:.1f} s, "
              f"{twelve:.1f} s)")
        share = overhead * len(chunks) / chunk_total if chunk_total else 0.0
        print(f"overhead share of the farm's chunk time: {overhead * len(chunks):.1f} s of "
              f"{chunk_total:.1f} s = {share:.0%}")
        print(f"farm vs one process: {single / farm:.2f}x")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
