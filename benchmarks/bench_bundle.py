"""How fast edge bundling is, and how its result compares with datashader's hammer_bundle.

``nnrender.edges.bundle`` has two passes: ``hierarchical``, the fast one that every dense
layer pair goes through, and an optional KDE refinement (``bundle(..., refine=True)``).
The goals are at least 250,000 edges/s for the fast pass at 1M edges and at least 30,000
edges/s for fast + refine at 100k edges, on the 2-core development machine. The issue also
asks for bundling at least 100x faster than ``hammer_bundle`` with a comparable result.

The comparison solves one problem with both tools, at several sizes (1k, 3k, 10k edges):
the edges projected to 2D. ``hammer_bundle`` gets the 2D nodes and edges; nnrender's
bundler takes 3D points, so it gets the same 2D points with a zero third coordinate, and
its curves are read back on the first two axes. Both are timed the same way: one untimed
warm-up call each (numba compiles hammer_bundle then), then the best of ``--repeat`` calls.
Points per curve are matched: hammer_bundle's paths have a length-dependent count (about
119-290 here), so nnrender runs with S = the median count of hammer_bundle's paths at that
size, hammer_bundle's paths are resampled by arc length to S, and the straight edges are
drawn with S. The bundling figures are ink (share of raster cells touched) and the mean
distance to the nearest other curve, each relative to the straight edges. The 100x goal is
PASS at a size only when the speed ratio is at least 100 and both figures lie within
``QUALITY_MARGIN`` (relative) of hammer_bundle's. With ``--images DIR`` it also writes the
2D renderings side by side (straight / ours fast / ours fast+refine / hammer).

The geometry is layer-to-layer: sources on a 64x64 grid on the x=0 wall, destinations on
a 32x32 grid on the x=6 wall, and random (source, destination) pairs from a fixed seed.

datashader must not go into the bpy venv (it pulls numpy 2); run the comparison from a
separate venv with numpy<2 (see benchmarks/README.md), e.g.

    PYTHONPATH=. /tmp/dsv/bin/python benchmarks/bench_bundle.py --no-mlp
    python benchmarks/bench_bundle.py                   # speed 10k-1M; hammer 1k 3k 10k
    python benchmarks/bench_bundle.py --quick           # smaller; hammer at 1k and 3k
    python benchmarks/bench_bundle.py --compare 2000 5000 --repeat 5 --images /tmp/imgs
    python benchmarks/bench_bundle.py --compare 0       # skip hammer_bundle
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tables import format_table

from nnrender.edges import bundle as nb
from nnrender.edges import metrics

GOAL_FAST = 250_000  # edges/s, hierarchical at 1M edges
GOAL_REFINE = 30_000  # edges/s, hierarchical + refine at 100k edges
GOAL_RATIO = 100.0  # times faster than hammer_bundle
QUALITY_MARGIN = 0.25  # |ours - hammer| / hammer, for ink ratio and distance ratio each
REPEAT = 3  # timed calls per measurement (best of), the same for every tool and size
COMPARE_SIZES = [1_000, 3_000, 10_000]  # edges for the hammer_bundle comparison
QUICK_COMPARE_SIZES = [1_000, 3_000]
WARMUP_EDGES = 200  # the untimed first call of each tool (numba JIT for hammer_bundle)
SRC_GRID, DST_GRID = 64, 32  # neurons per wall side
SRC_HALF, DST_HALF, GAP = 4.0, 2.0, 6.0  # wall half-sizes and the distance between them
RESOLUTION = 512  # raster cells on the longer side for ink
PANEL = 420  # pixels on the longer side of each image panel


def peak_rss_mb() -> float:
    """This process's RSS high-water mark in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def walls(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n random edges between the two walls, (n, 3) float32 each."""
    rng = np.random.default_rng(seed)

    def grid(k: int, half: float, x: float) -> np.ndarray:
        a = np.linspace(-half, half, k)
        yy, zz = np.meshgrid(a, a)
        return np.stack([np.full(k * k, x), yy.ravel(), zz.ravel()], axis=1)

    sp, dp = grid(SRC_GRID, SRC_HALF, 0.0), grid(DST_GRID, DST_HALF, GAP)
    src = sp[rng.integers(0, len(sp), n)].astype(np.float32)
    dst = dp[rng.integers(0, len(dp), n)].astype(np.float32)
    return src, dst


def timed(func: Any, *args: Any, repeat: int = REPEAT, **kwargs: Any) -> tuple[Any, float]:
    """(result, best wall seconds of ``repeat`` calls)."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        result = None  # free the previous result before the next call
        t0 = time.perf_counter()
        result = func(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return result, best


# --------------------------------------------------------------------------- speed


def speed(sizes: list[int], refine_sizes: list[int], samples: int,
          repeat: int) -> list[list[str]]:
    """Rows of the speed table; sizes run in ascending order, so each peak is that size's."""
    nb.hierarchical(*walls(1000), samples)  # warm caches and lazy imports
    base = peak_rss_mb()
    lines = []
    for n in sorted(set(sizes) | set(refine_sizes)):
        src, dst = walls(n)
        runs = []
        if n in sizes:
            runs.append(("hierarchical", lambda s=src, d=dst: nb.hierarchical(s, d, samples)))
        if n in refine_sizes:
            runs.append(("hierarchical+refine",
                         lambda s=src, d=dst: nb.bundle(s, d, samples=samples, refine=True)))
        for name, func in runs:
            out, sec = timed(func, repeat=repeat)
            rate = n / sec
            goal = ""
            if name == "hierarchical" and n >= 1_000_000:
                goal = f">= {GOAL_FAST:,}: {'met' if rate >= GOAL_FAST else 'MISSED'}"
            if name != "hierarchical" and n >= 100_000:
                goal = f">= {GOAL_REFINE:,}: {'met' if rate >= GOAL_REFINE else 'MISSED'}"
            lines.append([name, f"{n:,}", f"{sec:.3f}", f"{rate:,.0f}",
                          f"{out.nbytes / 2**20:.0f}", f"{peak_rss_mb():.0f}",
                          f"{peak_rss_mb() - base:.0f}", goal])
            del out
    return lines


# --------------------------------------------------------------------------- comparison


def plane(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(3, 2) projection onto the plane of the group direction and the wall's widest axis."""
    d = nb.main_direction(src, dst)
    spread = np.ptp(src.astype(np.float64), axis=0)
    spread[int(np.argmax(np.abs(d)))] = -1.0  # not the axis the walls are stacked along
    k = len(spread) - 1 - int(np.argmax(spread[::-1]))  # ties: the later (z before y)
    e = np.zeros(3)
    e[k] = 1.0
    e -= (e @ d) * d
    e /= np.linalg.norm(e)
    return np.stack([d, e], axis=1)


def load_hammer() -> Any:
    """datashader's hammer_bundle, or None if it (or dask / scikit-image) is missing."""
    try:
        import dask  # noqa: F401
        import pandas  # noqa: F401
        import skimage  # noqa: F401
        from datashader.bundling import hammer_bundle
    except ImportError:
        return None
    return hammer_bundle


def hammer_frames(src2: np.ndarray, dst2: np.ndarray) -> tuple[Any, Any]:
    """hammer_bundle's input: a node frame (distinct 2D endpoints) and an edge frame."""
    import pandas as pd

    both = np.concatenate([src2, dst2]).astype(np.float64)
    uniq, inv = np.unique(both, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    nodes = pd.DataFrame({"x": uniq[:, 0], "y": uniq[:, 1]})
    edges = pd.DataFrame({"source": inv[: len(src2)], "target": inv[len(src2):]})
    return nodes, edges


def path_counts(x: np.ndarray) -> np.ndarray:
    """Points per path of NaN-separated path columns (hammer_bundle's output)."""
    gap = np.isnan(x)
    pid = np.cumsum(gap)[~gap]
    return np.bincount(pid)[np.unique(pid)]


def flat3(p2: np.ndarray) -> np.ndarray:
    """2D points (E, 2) as 3D points (E, 3) float32 with a zero third coordinate."""
    return np.c_[p2, np.zeros(len(p2))].astype(np.float32)


def warm_up(hammer: Any, fallback: int) -> tuple[float, float]:
    """One untimed-for-the-figures call of each tool on WARMUP_EDGES edges: (ours s,
    hammer s); hammer's includes numba's JIT compilation."""
    src, dst = walls(WARMUP_EDGES, seed=1)
    proj = plane(src, dst)
    s2, d2 = src @ proj, dst @ proj
    t0 = time.perf_counter()
    nb.bundle(flat3(s2), flat3(d2), samples=fallback, refine=True)
    ours = time.perf_counter() - t0
    ham = float("nan")
    if hammer is not None:
        t0 = time.perf_counter()
        hammer(*hammer_frames(s2, d2))
        ham = time.perf_counter() - t0
    return ours, ham


def rel(a: float, b: float) -> float:
    """Relative difference of a from b."""
    return abs(a - b) / abs(b) if b else float("inf")


def compare(n: int, hammer: Any, fallback: int, repeat: int, images: Path | None
            ) -> tuple[list[list[str]], list[list[str]], list[str], dict[str, bool]]:
    """One size: (table rows, verdict rows, notes, {ours pass: goal met})."""
    src, dst = walls(n)
    proj = plane(src, dst)
    src2, dst2 = src @ proj, dst @ proj
    src_f, dst_f = flat3(src2), flat3(dst2)  # the same 2D edges, third coordinate 0
    sets: dict[str, tuple[np.ndarray, float]] = {}
    notes = []
    ham = None
    samples, t_ham = fallback, float("nan")
    if hammer is not None:
        nodes, edges = hammer_frames(src2, dst2)
        df, t_ham = timed(hammer, nodes, edges, repeat=repeat)
        x, y = df["x"].to_numpy(), df["y"].to_numpy()
        counts = path_counts(x)
        samples = int(np.median(counts))
        ham = metrics.paths_to_array(x, y, samples)
        if len(ham) != n:
            raise RuntimeError(f"hammer_bundle returned {len(ham)} paths for {n} edges")
        end_err = max(float(np.abs(ham[:, 0] - src2).max()),
                      float(np.abs(ham[:, -1] - dst2).max()))
        notes.append(f"hammer_bundle paths: {counts.min()}-{counts.max()} points, median "
                     f"{samples}; path endpoints within {end_err:.1e} of their edge's "
                     f"(same order as the input)")
        del df
    fast, t_fast = timed(nb.hierarchical, src_f, dst_f, samples, repeat=repeat)
    ref, t_ref = timed(nb.bundle, src_f, dst_f, samples=samples, refine=True, repeat=repeat)
    sets["straight"] = (nb.straight(src_f, dst_f, samples)[..., :2], 0.0)
    sets["ours fast"] = (fast[..., :2], t_fast)
    sets["ours fast+refine"] = (ref[..., :2], t_ref)
    if ham is not None:
        sets["hammer_bundle"] = (ham, t_ham)
    bounds = metrics.bounds_of(*(c for c, _ in sets.values()))
    # the neighbour distance is taken over one curve per distinct projected edge, so that
    # repeated (source, destination) pairs do not count as each other's neighbours
    _, first = np.unique(np.round(np.c_[src2, dst2], 6), axis=0, return_index=True)
    first = np.sort(first)
    figs: dict[str, tuple[float, float]] = {}
    rows = []
    for name, (curves, sec) in sets.items():
        ink = metrics.ink(curves, RESOLUTION, bounds=bounds)
        mnd = metrics.mean_neighbour_distance(curves[first])
        if name == "straight":
            ink0, mnd0 = ink, mnd
        figs[name] = (ink / ink0, mnd / mnd0)
        ratio = f"{t_ham / sec:,.0f}x" if ham is not None and sec > 0 else "-"
        rows.append([f"{n:,}", name, str(samples), f"{sec:.4f}" if sec else "-",
                     f"{n / sec:,.0f}" if sec else "-", ratio, f"{ink:.4f}",
                     f"{ink / ink0:.3f}", f"{mnd:.4f}", f"{mnd / mnd0:.3f}"])
    verdicts = []
    met: dict[str, bool] = {}
    for name, sec in (("ours fast", t_fast), ("ours fast+refine", t_ref)):
        if ham is None:
            verdicts.append([f"{n:,}", name, "-", "-", "-", "n/a", "n/a", "n/a"])
            continue
        r = t_ham / sec
        (ik, dk), (ih, dh) = figs[name], figs["hammer_bundle"]
        fast_ok = r >= GOAL_RATIO
        qual_ok = rel(ik, ih) <= QUALITY_MARGIN and rel(dk, dh) <= QUALITY_MARGIN
        met[name] = fast_ok and qual_ok
        verdicts.append([f"{n:,}", name, f"{r:,.0f}x",
                         f"{ik:.3f} vs {ih:.3f} ({rel(ik, ih):.0%})",
                         f"{dk:.3f} vs {dh:.3f} ({rel(dk, dh):.0%})",
                         "PASS" if fast_ok else "MISS", "PASS" if qual_ok else "MISS",
                         "PASS" if met[name] else "MISS"])
    # the renderer's default point count, on the same 2D input: timing only
    _, t16 = timed(nb.hierarchical, src_f, dst_f, nb.SAMPLES, repeat=repeat)
    _, t16r = timed(nb.bundle, src_f, dst_f, samples=nb.SAMPLES, refine=True, repeat=repeat)
    vs = (f" ({t_ham / t16:,.0f}x and {t_ham / t16r:,.0f}x hammer_bundle's time)"
          if ham is not None else "")
    notes.append(f"at the renderer's {nb.SAMPLES} points per curve (not used for the "
                 f"goal): ours fast {t16:.4f} s, fast+refine {t16r:.4f} s{vs}")
    # in 3D (ours only: hammer_bundle is 2D) the neighbour distance does show bundling
    fast3 = nb.hierarchical(src, dst, nb.SAMPLES)
    ref3 = nb.bundle(src, dst, samples=nb.SAMPLES, refine=True)
    mnd3 = metrics.mean_neighbour_distance(nb.straight(src, dst, nb.SAMPLES))
    notes.append(f"ours on the 3D edges, neighbour distance vs straight: fast "
                 f"{metrics.mean_neighbour_distance(fast3) / mnd3:.3f}, fast+refine "
                 f"{metrics.mean_neighbour_distance(ref3) / mnd3:.3f} (lower = more "
                 f"bundled; not comparable with hammer_bundle, which is 2D only)")
    if images is not None:
        notes += save_images(images, n, sets, bounds, fast3, ref3)
    return rows, verdicts, notes, met


# --------------------------------------------------------------------------- images


def panel(curves: np.ndarray, bounds: tuple[float, float, float, float], label: str,
          axes: tuple[int, int] = (0, 2)) -> Any:
    """Greyscale rendering: log density of the polylines, dark on white, with a label."""
    from PIL import Image, ImageDraw

    counts = metrics.rasterize(curves, PANEL, axes, bounds=bounds).astype(np.float64)
    v = np.log1p(counts)
    v /= max(float(v.max()), 1e-12)
    img = Image.fromarray((255.0 * (1.0 - v)).astype(np.uint8)[::-1])
    pad = Image.new("L", (img.width + 20, img.height + 40), 255)
    pad.paste(img, (10, 30))
    ImageDraw.Draw(pad).text((10, 8), label, fill=0)
    return pad


def row_image(panels: list[Any]) -> Any:
    from PIL import Image

    out = Image.new("L", (sum(p.width for p in panels), max(p.height for p in panels)), 255)
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.width
    return out


def save_images(folder: Path, n: int, sets: dict[str, tuple[np.ndarray, float]],
                bounds: tuple[float, float, float, float], fast3: np.ndarray,
                ref3: np.ndarray) -> list[str]:
    """The 2D comparison side by side, and our 3D result seen along the three axis pairs."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        return ["images: Pillow not installed"]
    folder.mkdir(parents=True, exist_ok=True)
    compare_png = folder / f"compare_{n}.png"
    row_image([panel(c, bounds, k) for k, (c, _) in sets.items()]).save(compare_png)
    written = [compare_png]
    for curves, label in ((fast3, "fast"), (ref3, "refine")):
        views = [panel(curves, metrics.bounds_of(curves, axes=axes), f"ours {label} (3D), "
                       f"{name}", axes)
                 for axes, name in (((0, 1), "x-y"), ((1, 2), "y-z"), ((0, 2), "x-z"))]
        written.append(folder / f"ours_{label}_views_{n}.png")
        row_image(views).save(written[-1])
    return ["images: " + ", ".join(str(p) for p in written)]


# --------------------------------------------------------------------------- main


def comparison(sizes: list[int], samples: int, repeat: int, images: Path | None) -> None:
    hammer = load_hammer()
    print(f"\ncomparison with datashader's hammer_bundle on the edges projected to 2D (plane "
          f"of the group direction and the wall's widest axis);\n"
          f" ours gets the same 2D points with a zero third coordinate. Timing: one untimed "
          f"warm-up call each, then best of {repeat} calls each.\n"
          f" Points per curve matched: ours runs with S = the median point count of "
          f"hammer_bundle's paths, which are resampled\n by arc length to S; the straight "
          f"edges have S points. Ink at {RESOLUTION} cells; ratios vs straight "
          f"(lower = more bundled)")
    if hammer is None:
        print(f"hammer_bundle: not installed; ours runs with S = {samples}. Install datashader "
              "in a separate venv with numpy<2 (benchmarks/README.md), not in the bpy one")
    w_ours, w_ham = warm_up(hammer, samples)
    print(f"warm-up on {WARMUP_EDGES} edges (not in the figures): ours {w_ours:.2f} s"
          + (f", hammer_bundle {w_ham:.2f} s (includes numba JIT)" if hammer else "") + "\n")
    rows, verdicts, notes, met = [], [], [], {}
    for n in sorted(sizes):
        r, v, nt, m = compare(n, hammer, samples, repeat, images)
        rows += r
        verdicts += v
        notes += [f"{n:,} edges: {x}" for x in nt]
        for k, ok in m.items():
            met[k] = met.get(k, True) and ok
    print(format_table(["edges", "result", "S", f"s (best of {repeat})", "edges/s",
                        "hammer/ours", "ink", "ink ratio", "neighbour dist", "dist ratio"],
                       rows))
    print("(neighbour dist: over one curve per distinct projected edge, each resampled by arc "
          "length, so detours and wiggles\n raise it; in this dense 2D projection the "
          "straight edges already nearly touch their neighbours)\n")
    for note in notes:
        print(note)
    print(f"\ngoal: >= {GOAL_RATIO:.0f}x faster than hammer_bundle (best of {repeat} each) "
          f"AND both ink ratio and dist ratio within {QUALITY_MARGIN:.0%} (relative) of "
          f"hammer_bundle's\n")
    print(format_table(["edges", "ours", "hammer/ours", "ink ratio ours vs hammer (diff)",
                        "dist ratio ours vs hammer (diff)", "speed", "quality", "goal"],
                       verdicts))
    if hammer is None:
        print("goal: not evaluated (hammer_bundle not installed)")
    for k, ok in met.items():
        print(f"goal at every measured size ({', '.join(f'{n:,}' for n in sorted(sizes))}), "
              f"{k}: {'PASS' if ok else 'MISS'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=None,
                        help="edge counts for the fast pass (default 10000 100000 1000000)")
    parser.add_argument("--refine-sizes", nargs="+", type=int, default=None,
                        help="edge counts for fast + refine (default 10000 100000)")
    parser.add_argument("--compare", nargs="+", type=int, default=None, metavar="N",
                        help="edge counts for the hammer_bundle comparison (default "
                             f"{' '.join(map(str, COMPARE_SIZES))}; 0: skip)")
    parser.add_argument("--repeat", type=int, default=REPEAT,
                        help=f"timed calls per measurement, best of (default {REPEAT})")
    parser.add_argument("--samples", type=int, default=nb.SAMPLES,
                        help="points per curve in the speed table, and in the comparison "
                             "when hammer_bundle is missing")
    parser.add_argument("--images", type=Path, default=None, metavar="DIR",
                        help="write the side-by-side 2D renderings there")
    parser.add_argument("--no-mlp", action="store_true",
                        help="skip the 784-81-49-10 MLP end to end (train, dump, plan, build, "
                             "render)")
    parser.add_argument("--quick", action="store_true",
                        help="10k and 100k fast, 10k refine, hammer at 1000 and 3000 edges")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    refine_sizes = args.refine_sizes or ([10_000] if args.quick else [10_000, 100_000])
    n_cmp = [n for n in (args.compare or (QUICK_COMPARE_SIZES if args.quick
                                          else COMPARE_SIZES)) if n > 0]

    print(f"nnrender edge bundling benchmark ({args.samples} points per curve; walls "
          f"{SRC_GRID}x{SRC_GRID} -> {DST_GRID}x{DST_GRID}, random pairs)\n")
    lines = speed(sizes, refine_sizes, args.samples, args.repeat)
    print(format_table(["pass", "edges", "seconds", "edges/s", "out MB", "peak RSS MB",
                   "over start MB", "goal"], lines))
    print(f"(best of {args.repeat} at every size; sizes run in ascending order in one "
          "process, so a row's peak RSS is the peak so far, which is that row's own)")
    if n_cmp:
        comparison(n_cmp, args.samples, args.repeat, args.images)
    if not args.no_mlp:
        print("\n784-81-49-10 MLP, every edge, end to end (quoted, not measured here: "
              "nn_vis's own figure for this network is 3-4 min on an RTX 3080)")
        mlp()
    return 0


def mlp() -> None:
    """benchmarks/mlp_case.py in a subprocess (it trains with TensorFlow in another one)."""
    import json
    import subprocess

    here = Path(__file__).resolve().parent
    proc = subprocess.run([sys.executable, str(here / "mlp_case.py")], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(here.parent)))
    if proc.returncode != 0:
        print("  failed:", proc.stderr.strip().splitlines()[-1:])
        return
    r = json.loads(proc.stdout[proc.stdout.index("{"):])
    print(f"  dump (train 4 epochs + record, TensorFlow): {r['dump_s']:.1f} s (0 when cached)")
    print(f"  edges: {r['edges']:,} in {len(r['groups'])} groups "
          + ", ".join(f"{n} {c:,}" for n, c in r["groups"]))
    print(f"  plan (select, bundle + refine, layout, atlas): {r['plan_s']:.2f} s, of which "
          f"bundling {r['bundle_s']:.2f} s ({r['edges'] / r['bundle_s']:,.0f} edges/s)")
    print(f"  build (bpy scene, one Curves block per group): {r['build_s']:.2f} s")
    print(f"  render (Cycles 640x360, 16 samples, CPU): {r['render_s']:.1f} s -> {r['frame']}")


if __name__ == "__main__":
    sys.exit(main())
