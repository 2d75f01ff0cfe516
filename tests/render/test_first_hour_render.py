"""The first hour without a scene YAML (issue 17), rendered: ``nnrender render DUMP`` with a
style and the defaults, ``init``'s scene rendering exactly as the dump alone, ``inspect``'s
estimate, ``render``'s estimate line, the API's still from a dump, and the estimate within
3x of the time the frames then take. Tiny renders: 64x36 or 96x54, 1-4 samples."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnrender.config.load import load_config
from nnrender.model.ir import Dump
from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.output.encode import frame_name
from nnrender.plan import make_plan

pytestmark = pytest.mark.render

TINY = ["--set", "render.resolution=[64,36]", "--set", "render.samples=1",
        "--set", "timeline={hold: 0.1, blend: 0.1, end_hold: 0}"]  # 10 frames
ESTIMATE = re.compile(r"^nnrender: estimate: (\d+) frames? x ([\d.]+) s = ", re.M)


@pytest.fixture(scope="module")
def demo_dump(tmp_path_factory):
    """Demo-shaped: the digits CNN's layers (conv, pool, dense), 3 epochs, with weights."""
    return write_synthetic(tmp_path_factory.mktemp("demo") / "dump", cnn_layers(), epochs=3,
                           with_weights=True)


def run(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "nnrender", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im, dtype=np.int16)


def test_render_a_dump_and_its_init_scene(tmp_path, demo_dump):
    """No YAML: the dump, a style, the defaults. Then init's starter scene, as written,
    renders the same frames (the same plan, pixel for pixel)."""
    direct = tmp_path / "direct"
    proc = run("render", demo_dump, "-s", "paper", *TINY, "-o", direct, "--no-progress")
    assert proc.stdout.strip().splitlines() == [str(direct / "dump.mp4")]
    found = ESTIMATE.search(proc.stderr)
    assert found and int(found.group(1)) == 10, proc.stderr
    plan = json.loads((direct / "plan.json").read_text())
    assert plan["look"]["background"] == [1.0, 1.0, 1.0]  # paper
    assert plan["story"]["last_frame"] == 10

    scene = tmp_path / "scene.yaml"
    run("init", demo_dump, "-o", scene)
    via = tmp_path / "via_scene"
    proc = run("render", scene, "-s", "paper", *TINY, "-o", via, "--no-progress")
    assert proc.stdout.strip().splitlines() == [str(via / "nnrender.mp4")]
    assert json.loads((via / "plan.json").read_text()) == plan
    for f in (1, 5, 10):
        np.testing.assert_array_equal(pixels(via / "frames" / frame_name(f)),
                                      pixels(direct / "frames" / frame_name(f)))

    # a re-run finds every frame: nothing to time, no estimate
    again = run("render", demo_dump, "-s", "paper", *TINY, "-o", direct, "--no-progress")
    assert not ESTIMATE.search(again.stderr)
    # --no-estimate: no calibration frame at all
    other = run("render", demo_dump, *TINY, "--still", "-o", tmp_path / "s", "--no-estimate")
    assert not ESTIMATE.search(other.stderr) and (tmp_path / "s" / "dump.png").is_file()


def test_inspect_prints_the_estimate(tmp_path, demo_dump):
    proc = run("inspect", demo_dump, *TINY)
    last = proc.stdout.strip().splitlines()[-1]
    assert re.match(r"estimate: 10 frames x [\d.]+ s( \+ [\d.]+ s to build)? = [\d.]+ s "
                    r"\(cycles 64x36, 1 sample; frame 6 timed at 64x36\)$", last), last
    still = run("inspect", demo_dump, *TINY, "--still", "3")
    assert "estimate: 1 frame x" in still.stdout and "frame 3 timed" in still.stdout


def test_api_still_from_a_dump(tmp_path, demo_dump):
    """``nnrender.still`` from a script: Blender runs in a child process (bpy never loads
    here), the PNG's path comes back."""
    code = ("import sys, nnrender; p = nnrender.still(sys.argv[1], out=sys.argv[2], "
            "resolution=(64, 36), render_samples=1, progress=False); "
            "assert 'bpy' not in sys.modules; print(p)")
    proc = subprocess.run([sys.executable, "-c", code, str(demo_dump), str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    png = Path(proc.stdout.strip().splitlines()[-1])
    assert png == tmp_path / "o" / "dump.png"
    img = pixels(png)
    assert img.shape == (36, 64, 3) and img.std() > 5
    assert "nnrender: estimate: 1 frame x" in proc.stderr


def test_the_estimate_is_within_3x_of_the_render(tmp_path, demo_dump):
    """One calibration frame, scaled to 160x90 and 8 samples, against the twelve frames
    then rendered with the same built scene."""
    from nnrender.blender import build as bbuild
    from nnrender.blender.render import render_frames
    from nnrender.estimate import estimate_built

    config, _ = load_config(None, {"render": {"resolution": [160, 90], "samples": 8},
                                   "timeline": {"hold": 0.2, "blend": 0.2, "end_hold": 0}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = make_plan(Dump(demo_dump), config)
    built = bbuild.build(plan, "cycles")
    frames = list(range(1, 13))
    estimate = estimate_built(built, plan, frames, tmp_path / "blender.log")
    start = time.perf_counter()
    render_frames(built, frames, tmp_path / "frames", tmp_path / "blender.log")
    measured = time.perf_counter() - start
    predicted = estimate.frames * estimate.per_frame
    print(f"estimate {predicted:.2f} s ({estimate.per_frame:.3f} s/frame), measured "
          f"{measured:.2f} s ({measured / len(frames):.3f} s/frame)")
    assert measured / 3 <= predicted <= 3 * measured
