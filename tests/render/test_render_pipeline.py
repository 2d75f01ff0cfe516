"""End to end: `nnrender render` on a scene YAML, then a resumed re-run in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnrender.config.load import load_config, parse_set
from nnrender.output.encode import frame_name, probe_mp4
from nnrender.pipeline import RenderRequest, run_render

pytestmark = pytest.mark.render

SETS = [
    "timeline.hold=0.1",
    "timeline.blend=0.1",
    "timeline.end_hold=0",
    "render.resolution=[64,36]",
    "render.samples=1",
    "render.engine=cycles",
]


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


def _frame_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def test_cli_render_then_resume(synthetic_dump: Path, tmp_path: Path) -> None:
    scene = tmp_path / "scene.yaml"
    # a relative dump path is read relative to the scene file
    scene.write_text(
        "quality: draft\n"
        f"dump: {os.path.relpath(synthetic_dump, tmp_path)}\n"
        "output:\n  name: e2e\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "nnrender", "render", str(scene), "-o", str(out),
           "--no-progress"]
    for item in SETS:
        cmd += ["--set", item]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    video = out / "e2e.mp4"
    assert proc.stdout.strip().splitlines()[-1] == str(video)

    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    last = plan["timeline"]["last_frame"]
    # 3 epochs, hold 2 + blend 2 frames at 24 fps, no end hold: 2 + 4 + 4 frames
    assert last == 10
    frames_dir = out / "frames"
    expected = [frame_name(f) for f in range(1, last + 1)]
    assert _frame_files(frames_dir) == expected
    assert frame_name(1) == "frame_00001.png"
    assert (frames_dir / ".plan").is_file()
    info = probe_mp4(video)
    assert (info["width"], info["height"], info["frames"]) == (64, 36, last)
    assert info["fps"] == pytest.approx(24)
    assert not _temp_files(out)
    mtimes = {name: (frames_dir / name).stat().st_mtime_ns for name in expected}

    # the same job again, in this process: every frame is on disk already
    config, base = load_config(scene, parse_set(SETS))
    result = run_render(config, base, RenderRequest(out_dir=out, progress=False), scene)
    assert result.rendered == []
    assert result.video == video and video.is_file()
    assert {n: (frames_dir / n).stat().st_mtime_ns for n in expected} == mtimes
    assert probe_mp4(video)["frames"] == last

    # a frame lost (say, a killed job): only it is rendered again; a still comes along
    (frames_dir / frame_name(5)).unlink()
    result = run_render(config, base, RenderRequest(out_dir=out, still=0, progress=False),
                        scene)
    assert result.rendered == [5]
    assert _frame_files(frames_dir) == expected
    assert result.still == out / "e2e.png" and result.still.is_file()
    assert not _temp_files(out)

    # another plan (more samples): the old frames are not reused
    config, base = load_config(scene, parse_set([*SETS, "render.samples=2"]))
    result = run_render(config, base, RenderRequest(out_dir=out, progress=False), scene)
    assert result.rendered == list(range(1, last + 1))
    assert _frame_files(frames_dir) == expected
    assert probe_mp4(video)["frames"] == last
    assert not _temp_files(out)


def test_stale_frames_go_but_other_files_stay(synthetic_dump: Path, tmp_path: Path) -> None:
    """Frames from another plan are replaced; files nnrender did not write are left alone."""
    out = tmp_path / "out"
    frames = out / "frames"
    frames.mkdir(parents=True)
    (frames / "my_notes.txt").write_text("mine")
    (frames / frame_name(1)).write_bytes(b"an old frame of another scene")
    config, base = load_config(None, {"dump": str(synthetic_dump), **parse_set(SETS)}, "draft")
    result = run_render(config, base, RenderRequest(out_dir=out, frames="1-2", progress=False))
    assert result.rendered == [1, 2]
    assert (frames / "my_notes.txt").read_text() == "mine"
    assert (frames / frame_name(1)).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
