"""`nnrender demo vit` end to end, reduced: the digits ViT trained for 2 epochs (TensorFlow,
in the demo's own subprocess), rendered at the draft preset (320x180) in the parent.

Until the plan draws token layers, they are drawn as placeholder blocks: this test asserts
only that the command runs and writes what it promises (the dump, the MP4, the still).
About 40 s on 2 cores.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from nnrender.output.encode import probe_mp4

pytestmark = [
    pytest.mark.render,
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None
                       or importlib.util.find_spec("sklearn") is None,
                       reason="the demo trains with TensorFlow on scikit-learn's digits"),
]


def test_demo_vit_trains_dumps_and_renders(tmp_path: Path) -> None:
    out = tmp_path / "vit"
    proc = subprocess.run([sys.executable, "-m", "nnrender", "demo", "vit", "-o", str(out),
                           "-q", "draft", "--epochs", "2", "--no-progress"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    video, still = out / "vit_digits.mp4", out / "vit_digits.png"
    lines = proc.stdout.strip().splitlines()
    assert lines[-2:] == [str(video), str(still)]
    assert any(line.startswith("demo: epoch 2/2:") for line in lines)

    manifest = json.loads((out / "model" / "dump" / "manifest.json").read_text())
    assert manifest["model"]["name"] == "vit_digits"
    assert [e["epoch"] for e in manifest["epochs"]] == [0, 1, 2]
    assert (out / "model" / "model.keras").is_file()

    plan = json.loads((out / "plan.json").read_text())
    assert plan["epochs"] == [0, 1, 2]
    frames = plan["timeline"]["last_frame"]
    info = probe_mp4(video)
    assert (info["width"], info["height"], info["frames"]) == (320, 180, frames)
    with Image.open(still) as im:
        assert (im.size, im.mode) == ((320, 180), "RGB")
