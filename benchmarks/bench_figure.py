"""How long ``nnrender figure`` takes and how big its files are (issue 14).

Two cases, each in its own subprocess (this script re-invoked with ``--case``), timed from
source to file after the imports (reported on their own):

- ``resnet50``: ``keras.applications.ResNet50(weights=None)`` dumped for one image with its
  weights (a TensorFlow subprocess, ``bench_build.py --make-dump``; a dump kept in
  ``--dumps`` is reused), drawn with ``scenes/resnet50_paper.yaml``: every block, 8 maps a
  layer as activation tiles at 300 dpi, 7.16 in wide, as a PDF. Goal: under 5 s, under 10 MB.
- ``demo``: the digits CNN (``--demo-dump``, e.g. ``nnrender-demo/model/dump``; else the
  synthetic network of the same shape, 9 epochs, 4 inputs) with ``scenes/demo.yaml``, as a
  PDF. Goal: under 1 s.

It also writes the SVG and PNG of each and prints their sizes and times.

    python benchmarks/bench_figure.py
    python benchmarks/bench_figure.py --cases demo --demo-dump nnrender-demo/model/dump
    python benchmarks/bench_figure.py --dumps /tmp/bench-dumps --keep DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tables import format_table

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"resnet50": (5.0, 10.0), "demo": (1.0, None)}  # seconds, MB of the PDF
SCENES = {"resnet50": ROOT / "scenes" / "resnet50_paper.yaml",
          "demo": ROOT / "scenes" / "demo.yaml"}
DEMO_EPOCHS, DEMO_INPUTS = 9, 4


def run_case(name: str, dump: Path, out: Path, result: Path) -> None:
    """Source -> PDF (then SVG and PNG) in this process; figures as JSON."""
    from nnrender.runtime import isolate_home

    isolate_home()
    t0 = time.perf_counter()
    import matplotlib  # noqa: F401

    import nnrender.figure
    from nnrender.figure.api import make_figure

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fig = make_figure(SCENES[name], sets=[f"dump={dump}"], columns=2, dpi=300)
    figure_s = time.perf_counter() - t0
    figures = {"import_s": import_s, "figure_s": figure_s,
               "cells": fig.nnrender_plan.cell_count,
               "labels": sum(1 for p in fig.nnrender_labels if p.kind in ("layer", "group"))}
    for fmt in ("pdf", "svg", "png"):
        t0 = time.perf_counter()
        path = nnrender.figure.save(fig, out / f"{name}.{fmt}")
        figures[f"{fmt}_s"] = time.perf_counter() - t0
        figures[f"{fmt}_mb"] = path.stat().st_size / 1e6
    figures["total_s"] = figure_s + figures["pdf_s"]
    result.write_text(json.dumps(figures), encoding="utf-8")


def resnet_dump(folder: Path, timeout: float) -> Path:
    for name in ("resnet50-edges", "resnet50"):  # kept by bench_build.py --keep-dumps
        if (folder / name / "manifest.json").is_file():
            return folder / name
    path = folder / "resnet50-edges"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_build.py"), "--make-dump",
           "resnet50-edges", "--dump", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"resnet50 dump failed:\n{proc.stderr[-2000:]}")
    return path


def demo_dump(folder: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    from nnrender.model.synthetic import cnn_layers, write_synthetic

    return Path(write_synthetic(folder / "demo", cnn_layers(), epochs=DEMO_EPOCHS,
                                count=DEMO_INPUTS))


def spawn(name: str, dump: Path, out: Path, work: Path, timeout: float) -> dict:
    result = work / f"{name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", name, "--dump", str(dump),
           "--out", str(out), "--result", str(result)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0 or not result.is_file():
        return {"error": proc.stderr.strip().splitlines()[-5:]}
    figures = json.loads(result.read_text(encoding="utf-8"))
    figures["wall_s"] = time.perf_counter() - t0
    return figures


def report(results: dict[str, dict]) -> str:
    head = ["case", "cells", "labels", "import s", "figure s", "pdf s", "total s", "goal",
            "pdf MB", "svg s", "svg MB", "png s", "png MB", "met"]
    lines = []
    for name, r in results.items():
        if "error" in r:
            lines.append([name, "error: " + " | ".join(r["error"])] + [""] * (len(head) - 2))
            continue
        goal_s, goal_mb = GOALS[name]
        met = r["total_s"] < goal_s and (goal_mb is None or r["pdf_mb"] < goal_mb)
        goal = f"< {goal_s:g} s" + (f", < {goal_mb:g} MB" if goal_mb else "")
        lines.append([name, str(r["cells"]), str(r["labels"]), f"{r['import_s']:.2f}",
                      f"{r['figure_s']:.2f}", f"{r['pdf_s']:.2f}", f"{r['total_s']:.2f}", goal,
                      f"{r['pdf_mb']:.2f}", f"{r['svg_s']:.2f}", f"{r['svg_mb']:.2f}",
                      f"{r['png_s']:.2f}", f"{r['png_mb']:.2f}", "yes" if met else "NO"])
    return format_table(head, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=list(GOALS), default=list(GOALS))
    parser.add_argument("--demo-dump", type=Path, help="a real demo dump to draw")
    parser.add_argument("--dumps", type=Path, default=Path(tempfile.gettempdir()) / "bench-dumps",
                        help="where the ResNet-50 dump is kept and reused")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the figures here")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--case", choices=list(GOALS), help=argparse.SUPPRESS)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        run_case(args.case, args.dump, args.out, args.result)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-figure-") as tmp:
        work = Path(tmp)
        out = args.keep or work
        out.mkdir(parents=True, exist_ok=True)
        results = {}
        for name in args.cases:
            if name == "resnet50":
                args.dumps.mkdir(parents=True, exist_ok=True)
                dump = resnet_dump(args.dumps, args.timeout)
            else:
                dump = demo_dump(work, args.demo_dump)
            results[name] = spawn(name, dump, out, work, args.timeout)
        print(report(results))
        if args.json:
            print(json.dumps(results, indent=1))
        failed = any("error" in r for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
