"""`nnrender farm` passes the render options on to its chunks, and counts a failing chunk's
tries. Local clusters of 1 worker, frames of 64x36 (320x180 where the draft preset's size is
the point), 10 frames a job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from test_farm import _assert_complete, _procs, _render_children, _summary

from nnrender.farm.job import MANIFEST
from nnrender.output.encode import frame_name, probe_mp4

pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.farm,
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="finds processes through /proc"),
]

SHORT = {"hold": 0.1, "blend": 0.1, "end_hold": 0}  # 10 frames
RETRIES = 1


def _scene(folder: Path, dump: Path, **sections) -> Path:
    data = {"dump": str(dump), "timeline": SHORT, "output": {"name": "farmtest"}, **sections}
    path = folder / "scene.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _watch(scene: Path, out: Path, *extra: str, timeout: float = 120
           ) -> tuple[subprocess.CompletedProcess, dict[int, str]]:
    """Run `nnrender farm` in its own process group, watching /proc for its render
    children: (the finished process, {pid: command line} of every chunk process seen)."""
    cmd = [sys.executable, "-m", "nnrender", "farm", str(scene), "-o", str(out),
           "--no-progress", *extra]
    logs = out.parent / f"{out.name}.{time.monotonic_ns()}"
    with open(f"{logs}.out", "w+") as stdout, open(f"{logs}.err", "w+") as stderr:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=True,
                                start_new_session=True)
        seen: dict[int, str] = {}
        end = time.monotonic() + timeout
        try:
            while proc.poll() is None:
                assert time.monotonic() < end, f"farm still running after {timeout} s"
                seen.update(_render_children(out, _procs()))
                time.sleep(0.02)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, stdout.read(),
                                           stderr.read()), seen


def _manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST).read_text(encoding="utf-8"))


# ------------------------------------------------------------------ options reach the chunks


def test_farm_passes_quality_style_and_engine_to_its_chunks(synthetic_dump: Path,
                                                            tmp_path: Path) -> None:
    """The scene says preview (640x360) and no style; ``-q draft -s paper --engine
    workbench`` reach every chunk: 320x180 frames on white, rendered by Workbench, and the
    chunks' command lines carry the options."""
    scene = _scene(tmp_path, synthetic_dump, quality="preview", render={"samples": 1})
    out = tmp_path / "out"
    res, seen = _watch(scene, out, "-q", "draft", "-s", "paper", "--engine", "workbench",
                       "--workers", "1", "--chunk", "5")
    assert res.returncode == 0, res.stderr[-3000:]
    assert _summary(res.stderr) == (2, 2)
    assert res.stdout.strip().splitlines() == [str(out / "farmtest.mp4"),
                                               str(out / "farmtest.png")]

    job = _manifest(out)
    assert (job["engine"], job["quality"], job["style"]) == ("workbench", "draft", "paper")
    assert [(c["first"], c["last"], c["state"]) for c in job["chunks"]] == [
        (1, 5, "done"), (6, 10, "done")]
    # what the chunks planned and rendered (plan.json is written by the chunks)
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert plan["render"]["engine"] == "workbench"
    assert plan["render"]["resolution"] == [320, 180]
    assert plan["look"]["background"] == [1.0, 1.0, 1.0]
    for f in range(1, 11):
        with Image.open(out / "frames" / frame_name(f)) as im:
            assert im.size == (320, 180)
            img = np.asarray(im.convert("RGB"))
        assert min(img[:3, :3].min(), img[:3, -3:].min()) >= 250, f"frame {f}: white"
        assert (img.min(axis=-1) < 200).mean() > 0.05, f"frame {f}: the network is drawn"
    info = probe_mp4(out / "farmtest.mp4")
    assert (info["width"], info["height"], info["frames"]) == (320, 180, 10)

    # every chunk's command line, as its worker ran it
    ranges = sorted({cmd.split("--frames ", 1)[1].split()[0] for cmd in seen.values()})
    assert ranges == ["1-5", "6-10"], seen
    for cmd in seen.values():
        for option in ("-q draft", "-s paper", "--engine workbench", f"render {scene} "):
            assert option in cmd, cmd


# ------------------------------------------------------------------ a chunk that fails


@pytest.fixture(scope="module")
def failed_run(synthetic_dump: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A job whose only chunk fails every try: OUT/blender.log, the log every render
    appends Blender's output to, is a folder. Run once with --retries 1; the folder is left
    in place for the test that fixes it."""
    folder = tmp_path_factory.mktemp("failing")
    scene = _scene(folder, synthetic_dump, quality="draft",
                   render={"resolution": [64, 36], "samples": 1, "denoise": "off"})
    out = folder / "out"
    (out / "blender.log").mkdir(parents=True)
    args = ("--workers", "1", "--chunk", "10", "--retries", str(RETRIES))
    res, seen = _watch(scene, out, *args)
    return {"scene": scene, "out": out, "args": args, "result": res, "seen": seen,
            "manifest": _manifest(out)}


def test_failed_chunk_is_retried_then_resumed(failed_run: dict) -> None:
    out, res = failed_run["out"], failed_run["result"]
    # --retries 1: the chunk ran twice, then the job failed with one error line
    assert sorted(cmd.split("--frames ", 1)[1].split()[0]
                  for cmd in failed_run["seen"].values()) == ["1-10"] * (1 + RETRIES)
    assert res.returncode == 2, res.stderr[-3000:]
    errors = [line for line in res.stderr.splitlines() if line.startswith("nnrender: error:")]
    assert len(errors) == 1, res.stderr[-3000:]
    assert res.stderr.strip().splitlines()[-1] == errors[0]
    assert errors[0].startswith(f"nnrender: error: {out}: 1 chunks failed (frames 1-10")
    assert "blender.log" in errors[0] and "Is a directory" in errors[0]
    assert errors[0].count("frames 1-10") == 1, errors[0]
    assert "Traceback" not in res.stderr and "Compute Failed" not in res.stderr
    assert res.stdout == ""
    (chunk,) = failed_run["manifest"]["chunks"]
    assert (chunk["first"], chunk["last"], chunk["state"]) == (1, 10, "failed")
    assert chunk["attempts"] >= 1
    assert "Is a directory" in chunk["error"]
    assert failed_run["manifest"]["frames_done"] == 0
    assert not list((out / "frames").glob("frame_*.png"))
    assert not (out / "farmtest.mp4").exists()

    # the cause fixed, the same command again: the chunk is done, its attempts go on
    # counting from the failed run's (Job.open keeps them for the same scene and chunks)
    (out / "blender.log").rmdir()
    again, seen = _watch(failed_run["scene"], out, *failed_run["args"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert _summary(again.stderr) == (1, 1)
    assert len(seen) == 1
    manifest = _assert_complete(out, 10)
    (chunk_again,) = manifest["chunks"]
    assert chunk_again["attempts"] == chunk["attempts"] + 1
    assert chunk_again["error"] == "" and chunk_again["worker"]
    assert (out / "blender.log").is_file()


def test_failed_chunk_attempts_count_every_try(failed_run: dict) -> None:
    """With --retries 1 a failing chunk is tried twice (test_failed_chunk_is_retried...
    sees both processes); farm.json's attempts should say so."""
    tries = len(failed_run["seen"])
    assert tries == 1 + RETRIES
    (chunk,) = failed_run["manifest"]["chunks"]
    assert chunk["attempts"] == tries


def test_folder_where_a_frame_goes_is_one_error_line(synthetic_dump: Path,
                                                     tmp_path: Path) -> None:
    """A folder named like a frame (frame_00007.png/) is reported before anything renders:
    one line naming it, exit 2, the folder left alone."""
    scene = _scene(tmp_path, synthetic_dump, quality="draft",
                   render={"resolution": [64, 36], "samples": 1, "denoise": "off"})
    out = tmp_path / "out"
    odd = out / "frames" / frame_name(7)
    odd.mkdir(parents=True)
    res, seen = _watch(scene, out, "--workers", "1", "--chunk", "5")
    assert res.returncode == 2, res.stderr[-3000:]
    lines = res.stderr.strip().splitlines()
    assert lines == [f"nnrender: error: {odd}: a folder where a frame goes: remove it, then "
                     "run the same command again"], res.stderr[-3000:]
    assert seen == {} and odd.is_dir()
