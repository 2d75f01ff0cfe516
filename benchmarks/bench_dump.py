"""How long dumping a big Keras model takes, how much memory it needs, and its size on disk.

Issue 3's goals: ResNet-50, one input, one epoch in under 20 s and 4 GB; and, with the storage
options, "ResNet-50 over 10 epochs for one input under 1 GB on disk". This benchmark dumps
ResNet-50 and MobileNetV2 from ``keras.applications`` (``weights=None``: their own random
weights, nothing downloaded) for one synthetic 224x224 image, once per storage setting, and
projects the size of 10 epochs (the per-epoch array files times 10, plus the rest once).
It also dumps a ViT-B/16-shaped transformer (``keras_apps.vit_b16``: 86 M random weights,
197 tokens, 12 blocks of 12-head attention whose scores are recorded; goal: one input,
one epoch in under 60 s).

Beside the Keras figures, the PyTorch reader dumps a ResNet-50-shaped ``torch.nn`` model
written here (``torch_resnet50``: torchvision's layout, bottleneck blocks [3, 4, 6, 3],
random weights, one 224x224 input; goal: under 20 s and 4 GB, like Keras'), and the same
model exported to ONNX (``onnx_resnet50``: the export is not timed, the dump is).

Each model runs in its own subprocess (this script re-invoked with ``--model NAME``), so the
peak RSS (``ru_maxrss``, TensorFlow's import included) is that model's alone; it is read after
the first (float32) dump, which is the largest. Dumps go to a temporary folder and are deleted.

    python benchmarks/bench_dump.py
    python benchmarks/bench_dump.py --models resnet50 --json
    python benchmarks/bench_dump.py --models torch_resnet50 onnx_resnet50
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
MODELS = ("resnet50", "mobilenetv2", "vit_b16", "torch_resnet50", "onnx_resnet50")
TORCH_MODELS = ("torch_resnet50", "onnx_resnet50")
# name -> dump_keras storage keyword arguments
SETTINGS: dict[str, dict[str, Any]] = {
    "float32": {},
    "f16 side56": {"dtype": "float16", "max_side": 56},
    "f16 side56 no-w": {"dtype": "float16", "max_side": 56, "store_weights": False},
    "f16 side28 maps64": {"dtype": "float16", "max_side": 28, "max_maps": 64},
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def torch_resnet50() -> Any:
    """A ResNet-50 as torchvision writes it (Bottleneck blocks [3, 4, 6, 3], the shortcut a
    1x1 conv + BatchNorm where the shape changes, one ReLU module per block called three
    times), random weights; torchvision itself does not import beside this torch build."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != planes * 4:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

        def forward(self, x: Any) -> Any:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            out += identity
            return self.relu(out)

    class ResNet50(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin, stages = 64, []
            for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                layers = [Bottleneck(cin, planes, stride)]
                cin = planes * 4
                layers += [Bottleneck(cin, planes) for _ in range(blocks - 1)]
                stages.append(nn.Sequential(*layers))
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(2048, 1000)

        def forward(self, x: Any) -> Any:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    torch.manual_seed(0)
    return ResNet50().eval()


def _torch_model(name: str, work: Path) -> tuple[Any, Any, Any]:
    """(what to dump, its input, the dump function) for a PyTorch or ONNX benchmark."""
    import numpy as np
    import torch

    from nnrender.torch import dump_onnx, dump_torch

    model = torch_resnet50()
    x = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    if name == "onnx_resnet50":
        path = work / "resnet50.onnx"
        torch.onnx.export(model, (torch.from_numpy(x),), str(path), dynamo=False)
        return path, x, lambda m, xs, out, **kw: dump_onnx(m, xs, out, **kw)
    return model, x, lambda m, xs, out, **kw: dump_torch(m, None, xs, out, **kw)


def _params(name: str, model: Any) -> int:
    if name in TORCH_MODELS:
        return 25_557_032  # ResNet-50's
    return int(model.count_params())


def run_model(name: str) -> dict[str, Any]:
    """Build one model and dump it with each storage setting (runs in the subprocess)."""
    from nnrender.runtime import isolate_home

    isolate_home()
    from nnrender.model.capture import dump_size

    work = Path(tempfile.mkdtemp(prefix="bench-dump-"))
    if name in TORCH_MODELS:
        import torch  # noqa: F401 - imported before the clock starts

        start = time.perf_counter()
        model, x, dump = _torch_model(name, work)
    else:
        import keras  # noqa: F401 - imported before the clock starts: build_s is the model
        from keras_apps import application

        from nnrender.model.keras_capture import dump_keras

        start = time.perf_counter()
        model, x = application(name)
        dump = lambda m, xs, out, **kw: dump_keras(m, None, xs, out, **kw)  # noqa: E731
    build_s = time.perf_counter() - start
    rows = []
    rss = None
    try:
        for setting, kwargs in SETTINGS.items():
            out = work / setting.replace(" ", "_")
            start = time.perf_counter()
            dump(model, x, out, **kwargs)
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
    return {"model": name, "params": _params(name, model), "build_s": build_s,
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
        if res["model"] not in ("resnet50", "torch_resnet50", "onnx_resnet50"):
            continue
        first = res["rows"][0]
        ok = first["seconds"] < GOAL_SECONDS and res["peak_rss_mb"] < GOAL_RSS_MB
        label = {"resnet50": "ResNet-50", "torch_resnet50": "PyTorch ResNet-50",
                 "onnx_resnet50": "ONNX ResNet-50"}[res["model"]]
        if res["model"] != "resnet50":
            out.append(f"goal {label} 1 epoch < {GOAL_SECONDS:.0f} s and < "
                       f"{GOAL_RSS_MB:.0f} MB: {'met' if ok else 'MISSED'} "
                       f"({first['seconds']:.1f} s, {res['peak_rss_mb']:.0f} MB, "
                       f"{first['size_mb']:.0f} MB on disk)")
            continue
        out.append(f"goal ResNet-50 1 epoch < {GOAL_SECONDS:.0f} s and < {GOAL_RSS_MB:.0f} MB: "
                   f"{'met' if ok else 'MISSED'} ({first['seconds']:.1f} s, "
                   f"{res['peak_rss_mb']:.0f} MB)")
        fits = [r["setting"] for r in res["rows"] if r["projected_10_mb"] < GOAL_10_EPOCHS_MB]
        out.append(f"goal ResNet-50 10 epochs < {GOAL_10_EPOCHS_MB:.0f} MB on disk: "
                   + (f"met with {', '.join(fits)}" if fits else "MISSED"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    import importlib.util

    have_torch = all(importlib.util.find_spec(m) for m in ("torch", "onnxruntime"))
    default = [m for m in MODELS if have_torch or m not in TORCH_MODELS]
    parser.add_argument("--models", nargs="+", choices=MODELS, default=default)
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
