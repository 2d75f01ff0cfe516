"""`nnrender demo` end to end, reduced: the digits CNN trained for 2 epochs (TensorFlow, in
the demo's own subprocess), rendered at the draft preset (320x180, 2 samples) in the parent.

The demo is a storyboard of five shots (scenes/demo.yaml): 1.4 + 1.8 + 3.6 + 1.8 + 2.4 s =
11 s, 264 frames at 24 fps whatever the epoch count. About a minute on 2 cores (training 6 s).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnrender.output.encode import frame_name, probe_mp4

pytestmark = [
    pytest.mark.render,
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None
                       or importlib.util.find_spec("sklearn") is None,
                       reason="the demo trains with TensorFlow on scikit-learn's digits"),
]

FRAMES = 34 + 43 + 86 + 43 + 58  # the demo's shots at 24 fps


def _frames(video: Path) -> np.ndarray:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(video))
    w, h = next(reader)["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader])


def test_demo_trains_dumps_and_renders(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "nnrender", "demo", "-o", str(out), "-q",
                           "draft", "--epochs", "2", "--set", "render.samples=2",
                           "--no-progress"], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    video, gif, still = (out / f"digits_cnn.{ext}" for ext in ("mp4", "gif", "png"))
    # the training reports on stdout (its own process), the outputs come last
    lines = proc.stdout.strip().splitlines()
    assert lines[-3:] == [str(video), str(gif), str(still)]
    assert any(line.startswith("demo: epoch 2/2:") for line in lines)
    assert "Traceback" not in proc.stderr

    # the dump: epochs 0 (before training), 1 and 2
    manifest = json.loads((out / "model" / "dump" / "manifest.json").read_text())
    assert [e["epoch"] for e in manifest["epochs"]] == [0, 1, 2]
    plan = json.loads((out / "plan.json").read_text())
    assert plan["epochs"] == [0, 1, 2] and plan["story"]["last_frame"] == FRAMES
    assert plan["render"]["resolution"] == [320, 180]  # draft, over the scene's preview

    info = probe_mp4(video)
    assert (info["width"], info["height"], info["frames"]) == (320, 180, FRAMES)
    assert info["fps"] == pytest.approx(24)
    frames = _frames(video).astype(np.int16)
    assert frames.shape == (FRAMES, 180, 320, 3)
    # not blank: every frame holds a picture (talk's dark background, bright maps)
    assert frames.std(axis=(1, 2, 3)).min() > 20
    assert ((frames.max(axis=-1) > 100).mean(axis=(1, 2)) > 0.03).all()
    # the epochs change the maps: the first and the last frame differ
    assert np.abs(frames[0] - frames[-1]).max(axis=-1).mean() > 5

    # the GIF for slides: output.gif_fps (15) of the 24 frames a second, output.gif_width
    # (480) capped at the frames' width
    with Image.open(gif) as im:
        assert abs(im.n_frames - FRAMES * 15 / 24) <= 1 and im.size[0] == 320
    with Image.open(still) as im:
        assert (im.size, im.mode) == ((320, 180), "RGB")
        img = np.asarray(im, dtype=np.int16)
    assert img.std() > 20
    # the still is the last frame (output.still_frame unset)
    with Image.open(out / "frames" / frame_name(FRAMES)) as im:
        np.testing.assert_array_equal(img, np.asarray(im, dtype=np.int16))
    print(f"nnrender demo -q draft --epochs 2: {took:.1f} s")
