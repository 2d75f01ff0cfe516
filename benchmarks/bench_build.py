"""How long planning and building a scene take, and how much memory they need.

The design promises that big networks stay cheap because feature maps are Geometry Nodes
instances sampling one texture atlas (DESIGN.md, "Fast bpy"). This benchmark keeps that
promise honest: it times ``make_plan`` and ``build`` for the demo-shaped network, for a
synthetic network of 25,000 feature maps, and for real ResNet-50 and VGG16 dumps (every
feature map of every layer, one epoch; goal for those and the 25k network: under 5 s and
2 GB). It also times the evaluation of the built scene's depsgraph, because instancing is
lazy and its real cost can hide there rather than in ``build``.

Each case runs in its own subprocess (this script re-invoked with ``--case NAME``), so the
peak RSS reported is that case's alone. Synthetic dumps are written by the parent process,
and the Keras dumps by a TensorFlow subprocess (``--make-dump``; TensorFlow and bpy in one
process crash), into a temporary folder, so dump writing never counts towards a case.

    python benchmarks/bench_build.py                     # all cases
    python benchmarks/bench_build.py --cases resnet50 vgg16 --keep-dumps /tmp/bench-dumps
    python benchmarks/bench_build.py --cases resnet50 --profile
    python benchmarks/bench_build.py --demo-dump nnrender-demo/model/dump
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tables import format_table

GOAL_SECONDS = 5.0
GOAL_MB = 2048.0
WIDE_MAPS = 25_000
WIDE_HW = 16
DEMO_EPOCHS = 9  # the demo dumps epoch 0 (before training) and 8 trained epochs
DEMO_INPUTS = 4  # the demo records 4 test digits


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "demo", "wide" or "keras" (a real keras.applications model)
    epochs: int
    goal: bool  # checked against GOAL_SECONDS / GOAL_MB
    weights: bool = False  # Keras: store the weights too, so connections are drawn
    model: str = ""  # Keras: the keras.applications model (default: the case name)
    scene: tuple[tuple[str, Any], ...] = ()  # scene sections over the defaults
    goal_s: float = GOAL_SECONDS
    goal_mb: float = GOAL_MB
    dump_of: str = ""  # read this other case's dump (same model, another scene)
    plan_goal_s: float = 0.0  # also checked: planning alone under this many seconds


# A 3,000-frame talk storyboard (issue 15) over ResNet-50: every camera move, three forward
# passes with pulses along the drawn edges, titles and captions; 125 s at 24 fps.
STORYBOARD = (
    ("shots", [
        {"move": "overview", "duration": 10, "title": "ResNet-50"},
        {"move": "orbit", "duration": 30, "orbit": 90, "transition": {"blend": 2}},
        {"move": "focus", "duration": 20, "layers": ["conv3_block1_out", "conv3_block4_out"],
         "transition": {"blend": 2}, "caption": "stage 3"},
        {"move": "fly", "duration": 35, "transition": {"blend": 2}},
        {"move": "push", "duration": 15, "layer": "conv5_block3_out"},
        {"move": "overview", "duration": 15, "transition": {"blend": 3}},
    ]),
    ("forward", [{"at": 2, "duration": 6}, {"at": 45, "per_layer": 0.2},
                 {"at": 100, "duration": 10}]),
)


CASES = {
    "demo": Case("demo", "demo", DEMO_EPOCHS, goal=False),
    "wide25k-e1": Case("wide25k-e1", "wide", 1, goal=True),
    "wide25k-e2": Case("wide25k-e2", "wide", 2, goal=True),
    "resnet50": Case("resnet50", "keras", 1, goal=True),
    "vgg16": Case("vgg16", "keras", 1, goal=True),
    # with its weights: the top 3 inputs of each map in layers of up to 128 maps
    # (edges.max_targets), the skip arcs and the 2048->1000 dense
    "resnet50-edges": Case("resnet50-edges", "keras", 1, goal=True, weights=True,
                           model="resnet50"),
    # ViT-B/16-shaped (issue 12): 12 blocks of 197 tokens x 768, 12 heads' attention maps,
    # and attention edges for every head (each head its group, capped by max_per_group)
    "vit-b16": Case("vit-b16", "keras", 1, goal=True, weights=True, model="vit_b16",
                    scene=(("edges", {"attention": {"heads": "each"}}),), goal_s=10.0,
                    goal_mb=3072.0),
    "resnet50-story": Case("resnet50-story", "keras", 1, goal=True, weights=True,
                           model="resnet50", dump_of="resnet50-edges", scene=STORYBOARD,
                           goal_s=10.0, plan_goal_s=GOAL_SECONDS),
}
KERAS_DTYPE = "float16"  # activations as stored in the Keras dumps (halves the files)
PROFILE_LINES = 18  # rows of each cProfile table printed with --profile


def peak_rss_mb() -> float:
    """This process's RSS high-water mark in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- child side


def _profiled(enabled: bool, func: Any, *args: Any) -> tuple[Any, str]:
    """``func(*args)``, and with ``enabled`` cProfile's top entries by cumulative time."""
    if not enabled:
        return func(*args), ""
    prof = cProfile.Profile()
    result = prof.runcall(func, *args)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(PROFILE_LINES)
    out.write("\n")
    stats.sort_stats("tottime").print_stats(PROFILE_LINES)
    return result, out.getvalue()


def atlas_figures(plan: Any) -> dict[str, Any]:
    """Pages, their sizes and the tile factors; works with one-image and paged layouts."""
    lay = plan.atlas.layout
    pages = getattr(lay, "pages", None)
    sizes = ([f"{p.width}x{p.height}" for p in pages] if pages
             else [f"{lay.width}x{lay.height}"])
    pixels = (sum(p.width * p.height for p in pages) if pages else lay.width * lay.height)
    return {
        "atlas": " + ".join(sizes),
        "atlas_pages": len(sizes),
        "atlas_mpx": pixels / 1e6,
        "tile_factor": max(lay.factor),
        "tile_factor_min": min(lay.factor),
    }


def run_case(dump_path: Path, engine: str, result_path: Path, profile: bool = False,
             scene: dict[str, Any] | None = None) -> None:
    """Plan + build + depsgraph evaluation of one dump; writes the figures as JSON."""
    from nnrender.runtime import isolate_home

    isolate_home()
    t0 = time.perf_counter()
    import bpy  # noqa: F401  (imported here so the baseline includes Blender itself)

    from nnrender.blender.build import build
    from nnrender.config.load import load_config
    from nnrender.model.ir import Dump
    from nnrender.plan import make_plan

    import_s = time.perf_counter() - t0
    baseline = peak_rss_mb()

    config, _ = load_config(None, {"dump": str(dump_path), "render": {"engine": engine},
                                   **(scene or {})})
    dump = Dump(dump_path)
    t0 = time.perf_counter()
    plan, plan_prof = _profiled(profile, make_plan, dump, config, "bench")
    plan_s = time.perf_counter() - t0
    dump.close()
    after_plan = peak_rss_mb()

    t0 = time.perf_counter()
    built, build_prof = _profiled(profile, build, plan, engine)
    build_s = time.perf_counter() - t0
    after_build = peak_rss_mb()

    # the evaluated depsgraph as a renderer would see it: GN instances realised lazily
    t0 = time.perf_counter()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    layer_names = {obj.name for obj in built.layer_objects}
    instances = sum(1 for inst in depsgraph.object_instances
                    if inst.is_instance and inst.parent is not None
                    and inst.parent.name in layer_names)  # text objects are instances too
    depsgraph_s = time.perf_counter() - t0

    # force the Geometry Nodes to run again (build's final frame_set already ran them once)
    t0 = time.perf_counter()
    for obj in built.layer_objects + built.edge_objects:
        obj.update_tag()
    depsgraph.update()
    reeval_s = time.perf_counter() - t0
    after_eval = peak_rss_mb()

    result = {
        "cells": plan.cell_count,
        "edges": sum(g.count for g in plan.edges),
        "layers": len(plan.layers),
        "epochs": len(plan.epochs),
        "frames": plan.story.frame_count,
        **atlas_figures(plan),
        "engine": engine,
        "instances": instances,
        "import_s": import_s,
        "plan_s": plan_s,
        "build_s": build_s,
        "depsgraph_s": depsgraph_s,
        "reeval_s": reeval_s,
        "baseline_mb": baseline,
        "plan_peak_mb": after_plan,
        "build_peak_mb": after_build,
        "peak_mb": after_eval,
    }
    if profile:
        result["profile"] = {"plan": plan_prof, "build": build_prof}
    result_path.write_text(json.dumps(result), encoding="utf-8")


def make_keras_dump(name: str, out: Path) -> None:
    """Dump a keras.applications model (``weights=None``) for one image, one epoch, every map.

    Runs in its own TensorFlow subprocess: TensorFlow and bpy in one process crash.
    """
    from nnrender.runtime import isolate_home

    isolate_home()
    from keras_apps import application

    from nnrender.model.keras_capture import dump_keras

    case = CASES[name]
    model, x = application(case.model or name)
    # no max_maps / max_side: every feature map at full size; weights only where edges are
    dump_keras(model, None, x, out, dtype=KERAS_DTYPE, store_weights=case.weights)


# -------------------------------------------------------------------------- parent side


def write_dump(case: Case, folder: Path, timeout: float) -> tuple[Path, float]:
    """The dump a case reads, and the seconds it took to write (0 when reused)."""
    from nnrender.model.ir import MANIFEST

    t0 = time.perf_counter()
    path = folder / (case.dump_of or case.name)
    if case.kind == "keras":
        if (path / MANIFEST).is_file():
            return path, 0.0  # kept from an earlier run (--keep-dumps)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--make-dump", path.name,
               "--dump", str(path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if proc.returncode != 0 or not (path / MANIFEST).is_file():
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"{case.name}: dump failed (exit {proc.returncode})\n{tail}")
        return path, time.perf_counter() - t0

    from nnrender.model.synthetic import cnn_layers, wide_layers, write_synthetic

    if case.kind == "demo":
        written = write_synthetic(path, cnn_layers(), epochs=case.epochs, count=DEMO_INPUTS)
    else:
        written = write_synthetic(path, wide_layers(WIDE_MAPS, hw=WIDE_HW),
                                  epochs=case.epochs, count=1)
    return Path(written), time.perf_counter() - t0


def spawn(case: Case, dump_path: Path, engine: str, work: Path, timeout: float,
          profile: bool = False) -> dict[str, Any]:
    """Run one case in a fresh interpreter; its figures, or an ``error`` entry."""
    result_path = work / f"{case.name}.json"
    log_path = work / f"{case.name}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", case.name,
           "--dump", str(dump_path), "--engine", engine, "--result", str(result_path)]
    if profile:
        cmd.append("--profile")
    t0 = time.perf_counter()
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not result_path.is_file():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        return {"error": f"exit code {proc.returncode}", "log": tail}
    out = json.loads(result_path.read_text(encoding="utf-8"))
    out["wall_s"] = wall
    return out


def table(rows: list[dict[str, Any]]) -> str:
    head = ["case", "cells", "edges", "epochs", "plan s", "build s", "depsgraph s", "GN re-eval s",
            "plan peak MB", "peak RSS MB", "over bpy MB", "cell instances"]
    lines = []
    for r in rows:
        if "error" in r:
            lines.append([r["case"], *["-"] * (len(head) - 2), r["error"]])
            continue
        lines.append([
            r["case"], f"{r['cells']:,}", f"{r['edges']:,}", str(r["epochs"]), f"{r['plan_s']:.2f}",
            f"{r['build_s']:.2f}", f"{r['depsgraph_s']:.2f}", f"{r['reeval_s']:.2f}",
            f"{r['plan_peak_mb']:.0f}", f"{r['peak_mb']:.0f}",
            f"{r['peak_mb'] - r['baseline_mb']:.0f}", f"{r['instances']:,}",
        ])
    return format_table(head, lines)


def atlas_table(rows: list[dict[str, Any]]) -> str:
    head = ["case", "layers", "atlas pages", "Mpx", "tile factor", "page sizes"]
    lines = [[r["case"], str(r["layers"]), str(r["atlas_pages"]), f"{r['atlas_mpx']:.1f}",
              f"{r['tile_factor_min']}..{r['tile_factor']}", r["atlas"]]
             for r in rows if "error" not in r]
    return format_table(head, lines) if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES),
                        help="which cases to run (default: all)")
    parser.add_argument("--demo-dump", type=Path, default=None,
                        help="a real demo dump folder to use instead of the synthetic one")
    parser.add_argument("--keep-dumps", type=Path, default=None, metavar="DIR",
                        help="write the dumps here and keep them; Keras dumps already there "
                             "are reused")
    parser.add_argument("--engine", choices=["cycles", "eevee", "workbench"], default="cycles",
                        help="engine the scene is built for (workbench builds a realised mesh)")
    parser.add_argument("--profile", action="store_true",
                        help="also print cProfile's top entries for plan and build per case "
                             "(profiling slows them: the seconds are then not comparable)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds allowed per case and per Keras dump (default 600)")
    parser.add_argument("--json", action="store_true", help="also print the raw figures")
    # internal: one case (or one Keras dump) in this process
    parser.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--make-dump", choices=[n for n, c in CASES.items() if c.kind == "keras"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.make_dump:
        make_keras_dump(args.make_dump, args.dump)
        return 0
    if args.case:
        run_case(args.dump, args.engine, args.result, args.profile, dict(CASES[args.case].scene))
        return 0
    from nnrender.model.ir import MANIFEST

    if args.demo_dump is not None and not (args.demo_dump / MANIFEST).is_file():
        parser.error(f"--demo-dump {args.demo_dump}: not a dump folder (no {MANIFEST})")

    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="nnrender-bench-build-"))
    dumps = work if args.keep_dumps is None else args.keep_dumps.resolve()
    dumps.mkdir(parents=True, exist_ok=True)
    try:
        for name in args.cases:
            case = CASES[name]
            label = case.name
            own_dump = not (case.kind == "demo" and args.demo_dump is not None)
            if not own_dump:
                dump_path, dump_s = args.demo_dump.resolve(), 0.0
                label = "demo (real dump)"
            else:
                try:
                    dump_path, dump_s = write_dump(case, dumps, args.timeout)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    print(f"{label}: FAILED, {exc}", file=sys.stderr)
                    rows.append({"case": label, "goal": case.goal, "error": "dump failed"})
                    continue
            print(f"{label}: dump ready ({dump_s:.1f} s to write), planning + building ...",
                  file=sys.stderr, flush=True)
            row = spawn(case, dump_path, args.engine, work, args.timeout, args.profile)
            row["case"] = label
            row["goal"] = case.goal
            row["goal_s"], row["goal_mb"] = case.goal_s, case.goal_mb
            if "error" in row:
                print(f"{label}: FAILED, {row['error']}", file=sys.stderr)
                for line in row.get("log", []):
                    print(f"    {line}", file=sys.stderr)
            if own_dump and args.keep_dumps is None:
                shutil.rmtree(dump_path, ignore_errors=True)
            rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nnnrender build benchmark (engine {args.engine}; peak RSS = ru_maxrss of the case's "
          "own process; 'over bpy' = peak minus RSS right after importing bpy; Keras dumps "
          f"store {KERAS_DTYPE} activations)")
    print(table(rows))
    print()
    print(atlas_table(rows))
    ok = [r for r in rows if "error" not in r]
    if ok:
        print(f"bpy import: {ok[0]['import_s']:.2f} s, {ok[0]['baseline_mb']:.0f} MB RSS")
    if args.profile:
        print("(--profile: seconds above include the profiler's overhead)")
    for r in rows:
        if not r.get("goal") or "error" in r:
            continue
        total = r["plan_s"] + r["build_s"] + r["depsgraph_s"]
        verdict = "PASS" if total < r["goal_s"] and r["peak_mb"] < r["goal_mb"] else "MISS"
        print(f"goal {r['case']}: plan+build+depsgraph {total:.2f} s (< {r['goal_s']:.0f} s), "
              f"peak {r['peak_mb']:.0f} MB (< {r['goal_mb']:.0f} MB): {verdict}")
        plan_goal = CASES[r["case"]].plan_goal_s if r["case"] in CASES else 0.0
        if plan_goal:
            verdict = "PASS" if r["plan_s"] < plan_goal else "MISS"
            print(f"goal {r['case']}: planning {r['frames']:,} frames {r['plan_s']:.2f} s "
                  f"(< {plan_goal:.0f} s): {verdict}")
    for r in ok:
        for step, text in r.get("profile", {}).items():
            print(f"\n==== {r['case']}: {step} profile ====\n{text.rstrip()}")
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "profile"} for r in rows],
                         indent=1))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
