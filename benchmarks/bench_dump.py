"""How long dumping a big Keras model takes, how much memory it needs, and its size on disk.

Issue 3's goals: ResNet-50, one input, one epoch in under 20 s and 4 GB; and, with the storage
options, "ResNet-50 over 10 epochs for one input under 1 GB on disk". This benchmark dumps
ResNet-50 and MobileNetV2 from ``keras.applications`` (``weights=None``: their own random
weights, nothing downloaded) for one synthetic 224x224 image, once per storage setting, and
projects the size of 10 epochs (the per-epoch array files times 10, plus the rest once).
It also dumps a ViT-B/16-shaped transformer (``keras_apps.vit_b16``: 86 M random weights,
197 tokens, 12 blocks of 12-head attention whose scores are recorded; goal: one input,
one epoch in under 60 s).

Each model runs in its own subprocess (this script re-invoked with ``--model NAME``), so the
peak RSS (``ru_maxrss``, TensorFlow's import included) is that model's alone; it is read after
the first (float32) dump, which is the largest. Dumps go to a temporary folder and are deleted.

    python benchmarks/bench_dump.py
    python benchmarks/bench_dump.py --models resnet50 --json
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

GOAL_SECONDS = 20.0
GOAL_RSS_MB = 4096.0
GOAL_10_EPOCHS_MB = 1000.0
GOAL_VIT_SECONDS = 60.0
EPOCHS_PROJECTED = 10
MODELS = ("resnet50", "mobilenetv2", "vit_b16")
# name -> dump_keras storage keyword arguments
SETTINGS: dict[str, dict[str, Any]] = {
    "float32": {},
    "f16 side56": {"dtype": "float16", "max_side": 56},
    "f16 side56 no-w": {"dtype": "float16", "max_side": 56, "store_weights": False},
    "f16 side28 maps64": {"dtype": "float16", "max_side": 28, "max_maps": 64},
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def run_model(name: str) -> dict[str, Any]:
    """Build one model and dump it with each storage setting (runs in the subprocess)."""
    from nnrender.runtime import isolate_home

    isolate_home()
    import keras  # noqa: F401 - imported before the clock starts: build_s is the model only
    from keras_apps import application

    from nnrender.model.capture import dump_size
    from nnrender.model.keras_capture import dump_keras

    start = time.perf_counter()
    model, x = application(name)
    build_s = time.perf_counter() - start
    rows = []
    work = Path(tempfile.mkdtemp(prefix="bench-dump-"))
    rss = None
    try:
        for setting, kwargs in SETTINGS.items():
            out = work / setting.replace(" ", "_")
            start = time.perf_counter()
            dump_keras(model, None, x, out, **kwargs)
            seconds = time.perf_counter() - start
            if rss is None:
                rss = _rss_mb()
            total = dump_size(out)
            per_epoch = sum(f.stat().st_size for f in (out / "arrays").glob("epoch_*.npz"))
            manifest = json.loads((out / "manifest.json").read_text())
            rows.append({
                "setting": setting,
                "seconds": seconds,
                "size_mb": total / 1e6,
                "projected_10_mb": (total + (EPOCHS_PROJECTED - 1) * per_epoch) / 1e6,
                "layers": len(manifest["layers"]),
                "attention_layers": sum(1 for la in manifest["layers"]
                                        if la.get("attention")),
            })
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"model": name, "params": int(model.count_params()), "build_s": build_s,
            "peak_rss_mb": rss, "rows": rows}


def _table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"{'model':<12} {'setting':<18} {'dump s':>7} {'peak RSS MB':>11} {'1 epoch MB':>10} "
        f"{'10 epochs MB':>12}",
    ]
    for res in results:
        for i, row in enumerate(res["rows"]):
            rss = f"{res['peak_rss_mb']:.0f}" if i == 0 else ""
            lines.append(
                f"{res['model'] if i == 0 else '':<12} {row['setting']:<18} "
                f"{row['seconds']:>7.1f} {rss:>11} {row['size_mb']:>10.1f} "
                f"{row['projected_10_mb']:>12.1f}"
            )
        att = res["rows"][0].get("attention_layers", 0)
        lines.append(f"{'':<12} ({res['params'] / 1e6:.1f} M parameters, "
                     f"{res['rows'][0]['layers']} layers"
                     + (f", {att} with attention scores" if att else "")
                     + f", model built in {res['build_s']:.1f} s)")
    return "\n".join(lines)


def _goals(results: list[dict[str, Any]]) -> list[str]:
    out = []
    for res in results:
        if res["model"] == "vit_b16":
            first = res["rows"][0]
            ok = first["seconds"] < GOAL_VIT_SECONDS
            out.append(f"goal ViT-B/16 1 epoch < {GOAL_VIT_SECONDS:.0f} s with attention: "
                       f"{'met' if ok and first['attention_layers'] else 'MISSED'} "
                       f"({first['seconds']:.1f} s, {res['peak_rss_mb']:.0f} MB, "
                       f"{first['size_mb']:.0f} MB on disk)")
        if res["model"] != "resnet50":
            continue
        first = res["rows"][0]
        ok = first["seconds"] < GOAL_SECONDS and res["peak_rss_mb"] < GOAL_RSS_MB
        out.append(f"goal ResNet-50 1 epoch < {GOAL_SECONDS:.0f} s and < {GOAL_RSS_MB:.0f} MB: "
                   f"{'met' if ok else 'MISSED'} ({first['seconds']:.1f} s, "
                   f"{res['peak_rss_mb']:.0f} MB)")
        fits = [r["setting"] for r in res["rows"] if r["projected_10_mb"] < GOAL_10_EPOCHS_MB]
        out.append(f"goal ResNet-50 10 epochs < {GOAL_10_EPOCHS_MB:.0f} MB on disk: "
                   + (f"met with {', '.join(fits)}" if fits else "MISSED"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)  # the subprocess
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    if args.model:
        print(json.dumps(run_model(args.model)))
        return 0
    results = []
    for name in args.models:
        proc = subprocess.run(
            [sys.executable, __file__, "--model", name], capture_output=True, text=True,
            timeout=args.timeout, check=False,
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            print(f"{name}: failed (exit {proc.returncode})", file=sys.stderr)
            return 1
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(_table(results))
    for line in _goals(results):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
