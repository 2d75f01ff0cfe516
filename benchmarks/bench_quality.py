"""Seconds a frame against image quality, per quality preset and engine (issue 16).

A preset is only fast if it still looks like itself: this benchmark renders fixed frames of
two scenes, the demo (``scenes/demo.yaml``: talk style, edges, its storyboard) and the
ResNet-50 paper figure (``scenes/resnet50_paper.yaml``), with each preset (draft, preview,
final) and engine, and compares every frame against a reference of the same frame: Cycles
at 1920x1080, 1024 samples, no denoising, 12 bounces. For each it prints seconds a frame
(after a warm-up frame, as in a video with persistent data), PSNR and SSIM (luminance,
11x11 Gaussian window, numpy); a preset rendered smaller than the reference is compared
with the reference averaged down to its size.

References take long (minutes each on 2 cores) and are kept in ``--refs`` (by scene,
frame and a fingerprint of the dump and the scene), so a second run only times the
candidates. ``--try NAME=JSON`` measures any settings over a preset, e.g.

    python benchmarks/bench_quality.py                          # presets x cycles, workbench
    python benchmarks/bench_quality.py --engines cycles eevee --presets final
    python benchmarks/bench_quality.py --scenes demo --presets final \\
        --try 'b2={"render": {"max_bounces": 2}}'

Every render runs in its own subprocess (this script re-invoked with ``--one``), so one
engine's crash or leak never spoils another's figures. The demo's dump is the real one
when ``--demo-dump`` names it (``nnrender demo`` writes it to nnrender-demo/model/dump),
else the demo-shaped synthetic network with weights; ResNet-50's is dumped once by a
TensorFlow subprocess (``bench_build.py --make-dump``) into ``--dumps``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tables import format_table  # noqa: E402

REFERENCE = {"render": {"engine": "cycles", "resolution": [1920, 1080], "samples": 1024,
                        "denoise": "off", "max_bounces": 12}}
PRESETS = ("draft", "preview", "final", "4k")
DEFAULT_PRESETS = ("draft", "preview", "final")
ENGINES = ("cycles", "workbench", "eevee")
# preset: (at most seconds a frame on 2 cores, at least PSNR dB against the reference) for
# Cycles; final's is the issue's, draft's and preview's are budgets of their own: draft to
# check a layout at a glance, preview to judge a video before the final render
GOALS = {"draft": (0.5, 25.0), "preview": (1.5, 30.0), "final": (6.0, 35.0)}
DEFAULT_DUMPS = Path(tempfile.gettempdir()) / "bench-dumps"
DEFAULT_REFS = Path(tempfile.gettempdir()) / "nnrender-quality-refs"


@dataclass(frozen=True)
class Scene:
    name: str
    scene: str  # a YAML under scenes/
    frame: int  # the frame compared (a warm-up frame before it is rendered first)
    fps: int  # the scene's own: every candidate renders at it, so ``frame`` is one moment
    # bumped when nnrender draws this frame differently, so that a kept reference is
    # rendered again (demo 2: the metrics inset's frame closed on its left side)
    version: int = 1


SCENES = {
    # mid-orbit while the epochs blend, a wave-free frame with edges, labels and the inset
    "demo": Scene("demo", "demo.yaml", 120, 24, version=2),
    "resnet50": Scene("resnet50", "resnet50_paper.yaml", 1, 30),
}


# --------------------------------------------------------------------------- image maths


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two 8-bit RGB images (peak 255); inf when identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def _gauss_blur(img: np.ndarray, sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-x ** 2 / (2 * sigma ** 2))
    k /= k.sum()
    pad = np.pad(img, radius, mode="reflect")
    rows = sum(k[i] * pad[:, i:i + img.shape[1]] for i in range(2 * radius + 1))
    return sum(k[i] * rows[i:i + img.shape[0], :] for i in range(2 * radius + 1))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03) of
    the two images' Rec. 709 luminance, 0..255."""
    w = np.array([0.2126, 0.7152, 0.0722])
    x, y = a[..., :3].astype(np.float64) @ w, b[..., :3].astype(np.float64) @ w
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _gauss_blur(x), _gauss_blur(y)
    sxx = _gauss_blur(x * x) - mx * mx
    syy = _gauss_blur(y * y) - my * my
    sxy = _gauss_blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def downsize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The reference averaged down to ``size`` (w, h) in linear light (box filter)."""
    from PIL import Image

    from nnrender.layout.srgb import to_linear, to_srgb

    rgba = np.concatenate([img[..., :3], np.full(img.shape[:2] + (1,), 255, np.uint8)], -1)
    lin = to_linear(rgba)
    h, w = img.shape[:2]
    if (w, h) == size:
        return img[..., :3]
    fx, fy = w // size[0], h // size[1]
    if fx * size[0] == w and fy * size[1] == h:  # whole factors: an exact box average
        lin = lin.reshape(size[1], fy, size[0], fx, 4).mean(axis=(1, 3))
        return to_srgb(lin.astype(np.float32))[..., :3]
    out = Image.fromarray(img[..., :3]).resize(size, Image.Resampling.BOX)
    return np.asarray(out)


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# --------------------------------------------------------------------------- child side


def render_one(spec: dict[str, Any]) -> dict[str, Any]:
    """Build a scene with the given overrides and render the warm-up frame, then the
    compared one; the second's seconds are the figure (the first pays for scene sync)."""
    from nnrender.runtime import isolate_home

    isolate_home()
    from nnrender.blender.build import build
    from nnrender.blender.render import render_to
    from nnrender.config.load import load_config
    from nnrender.model.ir import Dump
    from nnrender.plan import make_plan

    overrides = {"dump": spec["dump"], **spec.get("overrides", {})}
    config, _ = load_config(ROOT / "scenes" / spec["scene"], overrides, spec.get("preset"))
    dump = Dump(Path(spec["dump"]))
    t0 = time.perf_counter()
    plan = make_plan(dump, config, spec["scene"])
    plan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    built = build(plan, config.render.engine)
    build_s = time.perf_counter() - t0
    out = Path(spec["out"])
    log = out.with_suffix(".log")
    frame = spec["frame"]
    warm = frame - 1 if frame > plan.story.first_frame else frame + 1
    first_s = 0.0
    if spec.get("warm", True):  # a reference's seconds are not a figure: no warm-up
        t0 = time.perf_counter()
        render_to(built, warm, out.with_name(out.stem + "_warm.png"), log)
        first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    render_to(built, frame, out, log)
    frame_s = time.perf_counter() - t0
    r = config.render
    return {"plan_s": plan_s, "build_s": build_s, "first_s": first_s, "frame_s": frame_s,
            "resolution": list(r.resolution), "samples": r.samples, "denoise": r.denoise,
            "engine": r.engine, "max_bounces": r.max_bounces}


# -------------------------------------------------------------------------- parent side


def spawn(spec: dict[str, Any], work: Path, timeout: float) -> dict[str, Any]:
    spec_path = work / f"{Path(spec['out']).stem}.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", str(spec_path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    result_path = spec_path.with_suffix(".result.json")
    if proc.returncode != 0 or not result_path.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        return {"error": f"exit code {proc.returncode}", "log": tail}
    return json.loads(result_path.read_text(encoding="utf-8"))


def fingerprint(dump: Path, scene: Scene) -> str:
    h = hashlib.sha256((ROOT / "scenes" / scene.scene).read_bytes())
    h.update((dump / "manifest.json").read_bytes())
    h.update(json.dumps(REFERENCE, sort_keys=True).encode())
    h.update((f"{scene.frame} {scene.version}" if scene.version > 1 else str(scene.frame)
              ).encode())
    return h.hexdigest()[:16]


def reference(scene: Scene, dump: Path, refs: Path, work: Path, timeout: float
              ) -> tuple[Path, dict[str, Any]]:
    """The scene's reference frame, rendered now unless ``refs`` holds it already."""
    refs.mkdir(parents=True, exist_ok=True)
    path = refs / f"{scene.name}_{fingerprint(dump, scene)}.png"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        return path, json.loads(meta.read_text(encoding="utf-8"))
    print(f"{scene.name}: rendering the reference (1920x1080, "
          f"{REFERENCE['render']['samples']} samples) ...",
          file=sys.stderr, flush=True)
    spec = {"scene": scene.scene, "dump": str(dump), "frame": scene.frame,
            "overrides": {**REFERENCE, **extra(dump)},
            "out": str(work / f"ref_{scene.name}.png"), "warm": False}
    result = spawn(spec, work, timeout)
    if "error" in result:
        raise RuntimeError(f"{scene.name} reference: {result['error']}: {result.get('log')}")
    Path(spec["out"]).replace(path)
    meta.write_text(json.dumps(result), encoding="utf-8")
    return path, result


SYNTHETIC_METRICS = {"metrics": {"show": ["accuracy"], "corner": "upper_left"}}


def demo_dump(given: Path | None, dumps: Path) -> tuple[Path, str]:
    """The real demo dump when given; else the demo-shaped synthetic network (its only
    metric is accuracy: see SYNTHETIC_METRICS)."""
    if given is not None:
        return given.resolve(), "demo dump"
    from nnrender.model.ir import MANIFEST
    from nnrender.model.synthetic import cnn_layers, write_synthetic

    path = dumps / "quality-demo"
    if not (path / MANIFEST).is_file():
        write_synthetic(path, cnn_layers(), epochs=9, count=4, with_weights=True)
    return path, "demo-shaped synthetic dump"


def extra(dump: Path) -> dict[str, Any]:
    """Scene keys a dump needs over its scene file (the synthetic demo's metric)."""
    return SYNTHETIC_METRICS if dump.name == "quality-demo" else {}


def resnet50_dump(dumps: Path, timeout: float) -> Path:
    """ResNet-50 with its weights (keras.applications, weights=None), dumped once."""
    from nnrender.model.ir import MANIFEST

    path = dumps / "resnet50-edges"
    if not (path / MANIFEST).is_file():
        print("resnet50: dumping (TensorFlow subprocess) ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, str(Path(__file__).resolve().parent / "bench_build.py"),
               "--make-dump", "resnet50-edges", "--dump", str(path)]
        subprocess.run(cmd, check=True, timeout=timeout, capture_output=True)
    return path


def measure(scene: Scene, dump: Path, label: str, preset: str | None,
            overrides: dict[str, Any], ref: np.ndarray, work: Path,
            timeout: float) -> dict[str, Any]:
    out = work / f"{scene.name}_{label.replace('/', '_')}.png"
    over = {**overrides, **extra(dump)}
    over["render"] = {**over.get("render", {}), "fps": scene.fps}  # final is 30 fps, preview 24
    spec = {"scene": scene.scene, "dump": str(dump), "frame": scene.frame, "preset": preset,
            "overrides": over, "out": str(out)}
    row: dict[str, Any] = {"scene": scene.name, "variant": label}
    result = spawn(spec, work, timeout)
    row.update(result)
    if "error" not in result:
        img = read_png(out)
        if img.shape[1] > ref.shape[1]:  # 4k: compared at the reference's size
            img = downsize(img, (ref.shape[1], ref.shape[0]))
        target = downsize(ref, (img.shape[1], img.shape[0]))
        row["psnr"], row["ssim"] = psnr(img, target), ssim(img, target)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    head = ["scene", "variant", "engine", "resolution", "samples", "denoise", "s/frame",
            "first s", "PSNR dB", "SSIM", "note"]
    lines = []
    for r in rows:
        if "error" in r:
            lines.append([r["scene"], r["variant"], *["-"] * 8, r["error"]])
            continue
        w, h = r["resolution"]
        lines.append([r["scene"], r["variant"], r["engine"], f"{w}x{h}", str(r["samples"]),
                      r["denoise"], f"{r['frame_s']:.2f}", f"{r['first_s']:.2f}",
                      f"{r['psnr']:.1f}", f"{r['ssim']:.4f}", r.get("note", "")])
    return format_table(head, lines)


def parse_try(text: str) -> tuple[str, dict[str, Any]]:
    name, sep, body = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=JSON")
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{name}: {exc}") from None
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", nargs="+", choices=list(SCENES), default=list(SCENES))
    parser.add_argument("--presets", nargs="*", choices=PRESETS, default=list(DEFAULT_PRESETS),
                        help="presets to measure (default draft preview final; 4k too: "
                             "minutes; none: only the references)")
    parser.add_argument("--engines", nargs="+", choices=ENGINES,
                        default=["cycles", "workbench"],
                        help="engines per preset (default cycles, workbench; eevee runs on "
                             "software GL here: minutes a frame at 1080p)")
    parser.add_argument("--try", dest="tries", action="append", type=parse_try, default=[],
                        metavar="NAME=JSON", help="also measure these settings over the "
                        "final preset (Cycles), e.g. 'b2={\"render\":{\"max_bounces\":2}}'")
    parser.add_argument("--demo-dump", type=Path, help="the real demo dump to render")
    parser.add_argument("--dumps", type=Path, default=DEFAULT_DUMPS,
                        help=f"where dumps are made and kept (default {DEFAULT_DUMPS})")
    parser.add_argument("--refs", type=Path, default=DEFAULT_REFS,
                        help=f"where reference frames are kept (default {DEFAULT_REFS})")
    parser.add_argument("--reference-samples", type=int, default=1024,
                        help="samples of the reference (default 1024; fewer only to try "
                             "the benchmark out)")
    parser.add_argument("--keep", type=Path, help="copy the rendered frames here")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds allowed per render (default 3600: references)")
    parser.add_argument("--json", action="store_true", help="also print the raw figures")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    REFERENCE["render"]["samples"] = args.reference_samples
    if args.one:
        spec = json.loads(args.one.read_text(encoding="utf-8"))
        result = render_one(spec)
        args.one.with_suffix(".result.json").write_text(json.dumps(result), encoding="utf-8")
        return 0

    import shutil

    args.dumps.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="nnrender-bench-quality-"))
    rows: list[dict[str, Any]] = []
    notes = []
    try:
        for name in args.scenes:
            scene = SCENES[name]
            if name == "demo":
                dump, what = demo_dump(args.demo_dump, args.dumps)
            else:
                dump, what = resnet50_dump(args.dumps, args.timeout), "keras ResNet50"
            ref_path, ref_meta = reference(scene, dump, args.refs, work, args.timeout)
            ref = read_png(ref_path)
            notes.append(f"{name}: {what}; frame {scene.frame}; reference {ref_path.name} "
                         f"({ref_meta['frame_s']:.0f} s to render)")
            runs = [(f"{p}/{e}", p, {"render": {"engine": e}}) for p in args.presets
                    for e in args.engines]
            runs += [(t, "final", over) for t, over in args.tries]
            for label, preset, overrides in runs:
                print(f"{name}: {label} ...", file=sys.stderr, flush=True)
                rows.append(measure(scene, dump, label, preset, overrides, ref, work,
                                    args.timeout))
        if args.keep is not None:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("\nnnrender quality benchmark (seconds a frame after a warm-up frame; PSNR/SSIM "
          f"against Cycles at 1920x1080, {REFERENCE['render']['samples']} samples, no "
          "denoising, 12 bounces; smaller presets against the reference averaged down)")
    for line in notes:
        print(line)
    if rows:
        print(table(rows))
    for r in rows:
        preset, _, engine = r.get("variant", "").partition("/")
        if engine == "cycles" and preset in GOALS and "error" not in r:
            most_s, least_db = GOALS[preset]
            ok = r["frame_s"] <= most_s and r["psnr"] >= least_db
            print(f"goal {r['scene']} {preset}: {r['frame_s']:.2f} s (<= {most_s:g} s), "
                  f"PSNR {r['psnr']:.1f} dB (>= {least_db:g}): {'PASS' if ok else 'MISS'}")
    if args.json:
        print(json.dumps(rows, indent=1))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
