"""The PyTorch example end to end: the digits CNN trained with PyTorch for 2 epochs (a
subprocess: PyTorch never shares a process with Blender), dumped from its per-epoch state
dicts with ``nnrender dump ... --builder``, and a tiny still of it rendered with the
bundled ``torch_digits`` scene at the draft preset. About 25 s on 2 cores."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [
    pytest.mark.render,
    pytest.mark.skipif(importlib.util.find_spec("torch") is None
                       or importlib.util.find_spec("sklearn") is None,
                       reason="the example trains with PyTorch on scikit-learn's digits"),
]


def _run(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc


def test_torch_example_trains_dumps_and_renders(tmp_path: Path) -> None:
    work = tmp_path / "example"
    proc = _run("-m", "nnrender.model.torch_example", work, "--epochs", "2", cwd=tmp_path)
    assert "torch example: epoch 2/2" in proc.stdout
    files = sorted(p.name for p in (work / "ckpt").glob("epoch_*.pt"))
    assert files == ["epoch_0.pt", "epoch_1.pt", "epoch_2.pt"]

    dump = work / "dump"
    proc = _run("-m", "nnrender", "dump", work / "ckpt" / "epoch_*.pt", "--builder",
                "nnrender.model.torch_example:build", "--input", "digits:4", "-o", dump,
                cwd=tmp_path)
    assert proc.stdout.strip() == str(dump)
    manifest = json.loads((dump / "manifest.json").read_text())
    assert [e["epoch"] for e in manifest["epochs"]] == [0, 1, 2]
    assert manifest["model"]["framework"].startswith("torch ")
    types = [la["type"] for la in manifest["layers"]]
    assert types[:3] == ["InputLayer", "Conv2D", "Activation"] and types[-1] == "Dense"
    assert manifest["inputs"]["shape"] == [8, 8, 1]

    out = tmp_path / "render"
    _run("-m", "nnrender", "render", "torch_digits", "--set", f"dump={dump}", "-q", "draft",
         "--still", "-o", out, "--no-progress", cwd=tmp_path)
    still = out / "torch_digits.png"
    assert still.is_file() and (out / "plan.json").is_file()
    with Image.open(still) as im:
        assert im.size == (320, 180)
        img = np.asarray(im.convert("RGB"), dtype=np.int16)
    assert img.std() > 20  # not blank: the talk style's dark background, bright maps
    assert ((img.max(axis=-1) > 100).mean()) > 0.02
