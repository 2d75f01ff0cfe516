"""README promises about the command line, each checked on tiny real renders:

- ``python render.py SCENE ...`` is ``nnrender render SCENE ...`` (and the README's chunk
  recipe: chunks with render.py, then ``nnrender render`` renders nothing and encodes);
- ``--engine``, ``-s STYLE``, ``-q PRESET``, ``--save-blend F`` and ``--still FRAME`` reach
  the render;
- ``look.transparent: true`` gives an RGBA PNG, transparent around the network;
- an edge omitted across wrapped rows is printed once.

Every render is 64x36 or 96x54 (320x180 where the draft preset's size is the point), one to
four samples, 10 frames at most.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.output.encode import frame_name, probe_mp4

pytestmark = pytest.mark.render

ROOT = Path(__file__).resolve().parents[2]  # where render.py lives
TINY = {"resolution": [64, 36], "samples": 1, "denoise": "off"}
SHORT = {"hold": 0.1, "blend": 0.1, "end_hold": 0}  # 3 epochs at 24 fps: 10 frames
ZSTD = b"\x28\xb5\x2f\xfd"  # Blender 5 writes compressed .blend files as Zstandard


def _scene(tmp_path: Path, dump: Path, name: str = "scene", **sections) -> Path:
    data = {"dump": str(dump), "render": dict(TINY), "timeline": SHORT,
            "output": {"name": "tiny"}}
    for key, value in sections.items():
        if value is None:
            data.pop(key, None)
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _run(*args: object, script: str | None = None) -> subprocess.CompletedProcess:
    """``nnrender ARGS`` (or ``python SCRIPT ARGS``) from the repository root; must exit 0."""
    head = [script] if script else ["-m", "nnrender"]
    proc = subprocess.run([sys.executable, *head, *map(str, args), "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _pixels(path: Path, mode: str = "RGB") -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == mode, f"{path.name}: {im.mode}, expected {mode}"
        return np.asarray(im, dtype=np.int16)


def _plan_json(out: Path) -> dict:
    return json.loads((out / "plan.json").read_text(encoding="utf-8"))


def _mtimes(frames: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in frames.glob("frame_*.png")}


def _corners(img: np.ndarray) -> np.ndarray:
    """The top corners (3x3 each): the lower ones may hold a caption or the colour bar."""
    return np.concatenate([img[:3, :3].reshape(-1, img.shape[-1]),
                           img[:3, -3:].reshape(-1, img.shape[-1])])


# ------------------------------------------------------------------ render.py


def test_render_py_is_nnrender_render(synthetic_dump: Path, tmp_path: Path) -> None:
    """The README's farm-manager recipe: chunks with ``python render.py SCENE --frames A-B
    -o OUT``, then ``nnrender render SCENE -o OUT`` renders nothing and encodes the video.
    render.py's frames are nnrender render's, pixel for pixel."""
    scene = _scene(tmp_path, synthetic_dump)
    out, ref = tmp_path / "out", tmp_path / "ref"
    for frames in ("1-5", "6-10"):
        proc = _run(scene, "--frames", frames, "-o", out, script="render.py")
        assert proc.stdout.strip().splitlines()[-1] == str(out / "frames")
    _run("render", scene, "--frames", "1-5", "-o", ref)
    assert sorted(p.name for p in out.iterdir()) == ["blender.log", "frames", "plan.json"]
    assert _plan_json(out) == _plan_json(ref)
    assert (out / "frames" / ".plan").read_text() == (ref / "frames" / ".plan").read_text()
    assert sorted(_mtimes(out / "frames")) == [frame_name(f) for f in range(1, 11)]
    for f in range(1, 6):
        a = _pixels(out / "frames" / frame_name(f))
        assert a.shape == (36, 64, 3)
        np.testing.assert_array_equal(a, _pixels(ref / "frames" / frame_name(f)))

    before = _mtimes(out / "frames")
    proc = _run("render", scene, "-o", out)
    assert proc.stdout.strip().splitlines() == [str(out / "tiny.mp4")]
    assert _mtimes(out / "frames") == before, "every frame was on disk: none rendered again"
    info = probe_mp4(out / "tiny.mp4")
    assert (info["width"], info["height"], info["frames"]) == (64, 36, 10)
    assert info["fps"] == pytest.approx(24)


# ------------------------------------------------------------------ --engine


def test_engine_option_reaches_the_render(synthetic_dump: Path, tmp_path: Path) -> None:
    """The scene says cycles, ``--engine workbench`` wins: plan.json records it, the frames
    of the cycles run are discarded (their stamp is of another engine) and rendered again,
    and they look different (the same cycles frame renders pixel-equal every time, see
    test_render_py_is_nnrender_render)."""
    scene = _scene(tmp_path, synthetic_dump, render={"engine": "cycles"})
    out = tmp_path / "out"
    _run("render", scene, "--frames", "1-2", "-o", out)
    assert _plan_json(out)["render"]["engine"] == "cycles"
    stamp = (out / "frames" / ".plan").read_text()
    cycles = [_pixels(out / "frames" / frame_name(f)) for f in (1, 2)]

    _run("render", scene, "--frames", "1-2", "--engine", "workbench", "-o", out)
    assert _plan_json(out)["render"]["engine"] == "workbench"
    assert (out / "frames" / ".plan").read_text() != stamp
    for f, before in zip((1, 2), cycles, strict=True):
        after = _pixels(out / "frames" / frame_name(f))
        assert after.shape == before.shape == (36, 64, 3)
        assert np.abs(after - before).max(axis=-1).mean() > 3, f"frame {f}: same picture"


# ------------------------------------------------------------------ -s STYLE


def test_style_option_paper_is_white(synthetic_dump: Path, tmp_path: Path) -> None:
    """The scene says ``style: talk`` (dark); ``-s paper`` (the command line) wins."""
    scene = _scene(tmp_path, synthetic_dump, style="talk")
    _run("render", scene, "--still", "1", "-o", tmp_path / "talk")
    _run("render", scene, "--still", "1", "-s", "paper", "-o", tmp_path / "paper")
    talk, paper = _pixels(tmp_path / "talk" / "tiny.png"), _pixels(tmp_path / "paper" / "tiny.png")
    assert talk.shape == paper.shape == (36, 64, 3)
    assert _corners(talk).max() < 40, "talk: a dark background"
    assert _corners(paper).min() >= 250, "paper: a white background"
    assert _plan_json(tmp_path / "paper")["look"]["background"] == [1.0, 1.0, 1.0]
    # the network is drawn on it, not just a white frame
    assert (np.abs(paper - 255).max(axis=-1) > 30).mean() > 0.05


# ------------------------------------------------------------------ -q PRESET


def test_quality_option_sets_the_size_unless_the_scene_does(synthetic_dump: Path,
                                                            tmp_path: Path) -> None:
    """The scene says ``quality: final`` (1920x1080, 30 fps) without a resolution:
    ``-q draft`` gives draft's 320x180 at 24 fps. A scene resolution beats the preset's,
    and the rest of the preset still applies (draft's 24 fps, where final's is 30)."""
    free = _scene(tmp_path, synthetic_dump, "free", quality="final", render=None)
    free.write_text(free.read_text() + "render: {samples: 1}\n", encoding="utf-8")
    _run("render", free, "--still", "1", "-q", "draft", "-o", tmp_path / "free")
    assert _pixels(tmp_path / "free" / "tiny.png").shape == (180, 320, 3)
    render = _plan_json(tmp_path / "free")["render"]
    assert (render["resolution"], render["fps"], render["samples"]) == ([320, 180], 24, 1)

    fixed = _scene(tmp_path, synthetic_dump, "fixed", quality="final")
    _run("render", fixed, "--still", "1", "-q", "draft", "-o", tmp_path / "fixed")
    assert _pixels(tmp_path / "fixed" / "tiny.png").shape == (36, 64, 3)
    render = _plan_json(tmp_path / "fixed")["render"]
    assert (render["resolution"], render["fps"], render["samples"]) == ([64, 36], 24, 1)


# ------------------------------------------------------------------ --save-blend

_READ_BLEND = """
import json, sys
import bpy
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
scene = bpy.context.scene
print(json.dumps({"objects": sorted(o.name for o in scene.objects),
                  "engine": scene.render.engine,
                  "size": [scene.render.resolution_x, scene.render.resolution_y],
                  "frames": [scene.frame_start, scene.frame_end],
                  "packed": sorted(i.name for i in bpy.data.images if i.packed_file)}))
"""


def test_save_blend_option_writes_a_blend_file_that_opens(synthetic_dump: Path,
                                                          tmp_path: Path) -> None:
    scene = _scene(tmp_path, synthetic_dump)
    out = tmp_path / "out"
    blend = tmp_path / "saved" / "scene.blend"
    _run("render", scene, "--still", "1", "--save-blend", blend, "-o", out)
    assert (out / "tiny.png").is_file()
    assert sorted(p.name for p in blend.parent.iterdir()) == ["scene.blend"]  # no temp left
    # save_blend(compress=True): Blender 5 compresses with Zstandard
    assert blend.read_bytes()[:4] == ZSTD
    proc = subprocess.run([sys.executable, "-c", _READ_BLEND, str(blend)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = json.loads(proc.stdout.strip().splitlines()[-1])
    plan = _plan_json(out)
    layers = {f"layer_{layer['name']}" for layer in plan["layers"]}
    assert layers <= set(saved["objects"]) and "nnrender_camera" in saved["objects"]
    assert (saved["engine"], saved["size"]) == ("CYCLES", [64, 36])
    assert saved["frames"] == [1, plan["timeline"]["last_frame"]]
    assert saved["packed"], "the atlas is packed into the file"


# ------------------------------------------------------------------ --still FRAME


def test_still_option_renders_that_frame(synthetic_dump: Path, tmp_path: Path) -> None:
    """``--still 4`` is frame 4 of the video, pixel for pixel; frame 3 (mid-blend, the camera
    a little further along) is not."""
    scene = _scene(tmp_path, synthetic_dump)
    _run("render", scene, "--frames", "3-4", "-o", tmp_path / "frames")
    proc = _run("render", scene, "--still", "4", "-o", tmp_path / "still")
    still_path = tmp_path / "still" / "tiny.png"
    assert proc.stdout.strip().splitlines() == [str(still_path)]
    assert not (tmp_path / "still" / "frames").exists()
    still = _pixels(still_path)
    frame3 = _pixels(tmp_path / "frames" / "frames" / frame_name(3))
    frame4 = _pixels(tmp_path / "frames" / "frames" / frame_name(4))
    np.testing.assert_array_equal(still, frame4)
    assert np.abs(frame3 - frame4).max() > 20


# ------------------------------------------------------------------ look.transparent


def test_transparent_png_is_rgba_clear_around_the_network(tiny_plan, scenes,
                                                          tmp_path: Path) -> None:
    """paper + ``look.transparent: true``: an RGBA PNG, alpha 0 in the background, 255 on
    the network's cells (their centres projected with the plan's camera)."""
    from nnrender.blender.render import render_to

    plan = tiny_plan(style="paper", look={"transparent": True})
    w, h = plan.render.resolution
    frame = plan.timeline.first_frame
    path = render_to(scenes.get(plan, "cycles"), frame, tmp_path / "t.png")
    rgba = _pixels(path, "RGBA")
    assert rgba.shape == (h, w, 4)
    alpha = rgba[..., 3]
    assert _corners(alpha[..., None]).max() == 0
    view = plan.camera.view(plan.camera.azimuth_start, w, h)
    box = np.array(list(itertools.product((-0.5, 0.5), repeat=3)))  # a cell's 8 corners
    big, small = [], []
    for lp in plan.layers:
        x, y, _ = view.project(lp.centers)
        col, row = np.floor(w / 2 + x).astype(int), np.floor(h / 2 - y).astype(int)
        assert np.all((col >= 0) & (col < w) & (row >= 0) & (row < h)), lp.name
        # the cell's footprint on screen, in pixels (its smaller side)
        cx, cy, _ = view.project((lp.centers[:, None] + box * lp.sizes[:, None]).reshape(-1, 3))
        side = np.minimum(np.ptp(cx.reshape(-1, 8), axis=1), np.ptp(cy.reshape(-1, 8), axis=1))
        big.append(alpha[row, col][side >= 2])
        small.append(alpha[row, col][side < 2])
    big, small = np.concatenate(big), np.concatenate(small)
    assert len(big) >= 90, "the maps: 2 px or more across"
    assert np.all(big == 255), np.unique(big, return_counts=True)
    # the dense layers' cubes are about a pixel across: partly covered, never missing
    assert np.all(small > 0), np.unique(small, return_counts=True)
    assert 0.1 < (alpha == 0).mean() < 0.9, "a background around the network"


# ------------------------------------------------------------------ wrapped rows


def test_edge_left_out_across_rows_is_printed_once(tmp_path: Path) -> None:
    """``layout.wrap: 3`` puts pool1 and conv2 on different rows: that connection is left
    out, listed in plan.json's warnings and printed once."""
    dump = write_synthetic(tmp_path / "dump", cnn_layers(), epochs=3, with_weights=True)
    scene = _scene(tmp_path, dump, layout={"wrap": 3})
    out = tmp_path / "out"
    proc = _run("render", scene, "--still", "1", "-o", out)
    note = "edges: pool1->conv2 not drawn: the layers sit on different rows"
    assert proc.stderr.splitlines().count(f"nnrender: warning: {note}") == 1, proc.stderr
    assert "different rows" not in proc.stderr.replace(note, "")
    plan = _plan_json(out)
    assert plan["warnings"].count(note) == 1
    assert {e["target"] for e in plan["edges"]} == {"conv1", "dense1", "output"}
    assert (out / "tiny.png").is_file()
