"""The 784-81-49-10 MLP of julrog/nn_vis, end to end: train, dump, plan every edge, build,
render one frame. nn_vis bundles this network's 68k edges on the GPU in 3-4 minutes.

The digits data set is 8x8; upsampled to 28x28 it gives the MLP the 784 inputs nn_vis's
MNIST network has, trained for a few epochs on this machine (no downloads). TensorFlow runs
in its own subprocess (``python benchmarks/mlp_case.py --make-dump DIR``): TensorFlow and
bpy in one process crash.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SIZES = (784, 81, 49, 10)


def make_dump(out: Path, epochs: int = 4, seed: int = 0) -> None:
    """Train the MLP on upsampled digits, saving weights per epoch, and dump it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from sklearn.datasets import load_digits

    from nnrender.model.keras_capture import dump_keras

    keras.utils.set_random_seed(seed)
    digits = load_digits()
    x8 = digits.images.astype(np.float32) / 16.0
    # 8x8 -> 28x28: repeat each pixel 3x (24x24), then pad 2 px, like MNIST's framing
    x = np.pad(np.kron(x8, np.ones((3, 3), np.float32)), ((0, 0), (2, 2), (2, 2)))
    x = x.reshape(len(x), 784)
    y = digits.target
    inp = keras.Input((784,), name="input")
    h = keras.layers.Dense(81, activation="relu", name="dense81")(inp)
    h = keras.layers.Dense(49, activation="relu", name="dense49")(h)
    o = keras.layers.Dense(10, activation="softmax", name="output")(h)
    model = keras.Model(inp, o, name="mlp_784_81_49_10")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    work = Path(tempfile.mkdtemp(prefix="mlp-"))
    files = [(0, str(work / "e0.weights.h5"))]
    model.save_weights(files[0][1])
    for e in range(1, epochs + 1):
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        files.append((e, str(work / f"e{e}.weights.h5")))
        model.save_weights(files[-1][1])
    dump_keras(model, files, x[:4], out, labels=y[:4].tolist())


def run(dump: Path, render: bool = True, engine: str = "cycles") -> dict[str, Any]:
    """Plan every edge of the dump (all 68k), bundle and refine them, build, render."""
    from nnrender.config.load import load_config
    from nnrender.model.ir import Dump
    from nnrender.plan import make_plan

    out: dict[str, Any] = {}
    scene = {"render": {"resolution": [640, 360], "samples": 16, "engine": engine},
             "labels": {"epoch_caption": False},
             "edges": {"top_k": 1000, "max_per_group": 2_000_000, "refine": True,
                       "width": 0.6, "opacity": 0.5}}
    config, _ = load_config(None, scene)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = make_plan(Dump(dump), config)
    out["plan_s"] = time.perf_counter() - t
    out["edges"] = sum(g.count for g in plan.edges if g.kind != "link")
    out["groups"] = [(g.name, g.count) for g in plan.edges]
    # the bundling alone, again, for its share of the plan
    from nnrender.edges import bundle as bundle_mod

    t = time.perf_counter()
    for g in plan.edges:
        bundle_mod.bundle(g.straight[:, 0], g.straight[:, -1], samples=g.samples, refine=True)
    out["bundle_s"] = time.perf_counter() - t
    if render:
        from nnrender.runtime import isolate_home

        isolate_home()
        from nnrender.blender import render as render_mod
        from nnrender.blender.build import build

        t = time.perf_counter()
        built = build(plan, engine)
        out["build_s"] = time.perf_counter() - t
        frame = Path(tempfile.mkdtemp(prefix="mlp-frame-")) / "mlp.png"
        t = time.perf_counter()
        render_mod.render_to(built, plan.timeline.last_frame, frame)
        out["render_s"] = time.perf_counter() - t
        out["frame"] = str(frame)
    return out


def ensure_dump(folder: Path, timeout: float = 600) -> Path:
    dump = folder / "mlp_dump"
    if not (dump / "manifest.json").is_file():
        cmd = [sys.executable, str(Path(__file__)), "--make-dump", str(dump)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, PYTHONPATH=str(HERE.parent)))
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
    return dump


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make-dump", type=Path, help="(TensorFlow subprocess) write the dump")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "nnr-mlp")
    parser.add_argument("--no-render", action="store_true")
    args = parser.parse_args(argv)
    if args.make_dump:
        make_dump(args.make_dump)
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    dump = ensure_dump(args.work)
    dump_s = time.perf_counter() - t
    result = run(dump, render=not args.no_render)
    result["dump_s"] = dump_s
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
