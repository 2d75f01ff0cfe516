"""`nnrender farm` on a local Dask cluster: a worker killed mid-chunk, a whole job killed
and resumed, an unreachable scheduler, a changed scene, two jobs at once. Plus the job
manifest (``nnrender.farm.job``) on its own, without Dask.

Every cluster is local (loopback) and every frame tiny (64x36, draft)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnrender.errors import NNRenderError
from nnrender.farm.job import MANIFEST, STAMP, Job, frame_ok, split
from nnrender.output.encode import frame_name, probe_mp4

SHORT = {"hold": 0.1, "blend": 0.1, "end_hold": 0}  # 10 frames

pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.farm,
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="finds and kills processes through /proc"),
]

SUMMARY = re.compile(r"^nnrender: farm: (\d+) of (\d+) chunks rendered", re.MULTILINE)


# ------------------------------------------------------------------------------ helpers


def _procs() -> dict[int, tuple[int, int, str, str]]:
    """Every live process: pid -> (ppid, process group, state, cmdline)."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        state, ppid, pgrp = fields[0], int(fields[1]), int(fields[2])
        if state in ("Z", "X"):
            continue  # dead, not yet reaped
        out[int(entry.name)] = (ppid, pgrp, state, cmdline.replace(b"\0", b" ").decode())
    return out


def _descendants(root: int, procs: dict[int, tuple[int, int, str, str]]) -> set[int]:
    found, todo = set(), [root]
    while todo:
        parent = todo.pop()
        for pid, (ppid, *_rest) in procs.items():
            if ppid == parent and pid not in found:
                found.add(pid)
                todo.append(pid)
    return found


def _render_children(out: Path, procs: dict[int, tuple[int, int, str, str]]) -> dict[int, str]:
    """`nnrender render ... --frames A-B -o OUT` processes of this job: pid -> cmdline."""
    return {pid: cmd for pid, (_p, _g, _s, cmd) in procs.items()
            if " nnrender render " in cmd and "--frames" in cmd and f"-o {out} " in cmd}


def _wait_until(check: Callable[[], object], timeout: float, what: str,
                step: float = 0.05) -> object:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _on_disk(frames: Path, last: int) -> set[int]:
    return {f for f in range(1, last + 1) if (frames / frame_name(f)).is_file()}


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def _assert_complete(out: Path, last: int) -> dict:
    """Every frame 1..last whole, no temporaries, the video, every chunk done in farm.json."""
    frames = out / "frames"
    names = sorted(p.name for p in frames.glob("frame_*.png"))
    assert names == [frame_name(f) for f in range(1, last + 1)]
    for name in names:
        with Image.open(frames / name) as im:
            im.load()
            assert im.size == (64, 36)
    assert _temps(frames) == []
    video = out / "farmtest.mp4"
    assert video.is_file()
    assert probe_mp4(video)["frames"] == last
    assert (out / "farmtest.png").is_file()
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format"] == "nnrender-farm"
    assert (manifest["first"], manifest["last"]) == (1, last)
    assert manifest["chunks"] and all(c["state"] == "done" for c in manifest["chunks"])
    assert manifest["chunks"][-1]["last"] == last
    assert manifest["frames_done"] == manifest["frames_total"] == last
    return manifest


def _summary(stderr: str) -> tuple[int, int]:
    found = SUMMARY.findall(stderr)
    assert len(found) == 1, stderr[-2000:]
    return int(found[0][0]), int(found[0][1])


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("nnrender: warning:")]


def _mtimes(frames: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in frames.glob("frame_*.png")}


# ------------------------------------------------------------------- the job manifest


def test_split_chunks() -> None:
    assert [(c.first, c.last) for c in split(1, 30, 6)] == [
        (1, 6), (7, 12), (13, 18), (19, 24), (25, 30)]
    assert [(c.first, c.last) for c in split(1, 10, 4)] == [(1, 4), (5, 8), (9, 10)]
    assert [(c.first, c.last) for c in split(5, 5, 12)] == [(5, 5)]
    assert [list(c.frames) for c in split(3, 7, 100)] == [[3, 4, 5, 6, 7]]
    assert all(c.state == "pending" for c in split(1, 30, 6))
    with pytest.raises(NNRenderError, match="--chunk"):
        split(1, 10, 0)


def _job(out: Path, fingerprint: str = "aaaa", chunk: int = 4) -> Job:
    return Job.open(out, scene="scene.yaml", fingerprint=fingerprint, engine="cycles",
                    quality="draft", style=None, seed=0, first=1, last=10, chunk=chunk)


def _png(path: Path) -> None:
    Image.new("RGB", (8, 4), (10, 20, 30)).save(path)


def test_job_open_keeps_states_and_reads_frames_on_disk(tmp_path: Path) -> None:
    out = tmp_path / "out"
    job = _job(out)
    assert [(c.first, c.last, c.state) for c in job.chunks] == [
        (1, 4, "pending"), (5, 8, "pending"), (9, 10, "pending")]
    assert (job.frames_dir / STAMP).read_text(encoding="utf-8") == "aaaa"
    job.chunks[0].attempts, job.chunks[0].worker, job.chunks[0].seconds = 2, "host:1", 1.5
    for f in (1, 2, 3, 4, 9):  # chunk 1 whole, chunk 3 half
        _png(job.frames_dir / frame_name(f))
    job.save()
    saved = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert saved["fingerprint"] == "aaaa" and saved["frames_done"] == 5
    assert saved["frames_total"] == 10
    assert not [p for p in out.iterdir() if ".tmp" in p.name]

    again = _job(out)
    assert [c.state for c in again.chunks] == ["done", "pending", "pending"]
    assert (again.chunks[0].attempts, again.chunks[0].worker) == (2, "host:1")
    assert again.chunks[0].seconds == pytest.approx(1.5)
    assert again.done_frames() == {1, 2, 3, 4, 9}
    assert again.missing(again.chunks[2]) == [10]

    # another chunk size: new chunks, states from the frames on disk
    regrouped = _job(out, chunk=5)
    assert [(c.first, c.last, c.state, c.attempts) for c in regrouped.chunks] == [
        (1, 5, "pending", 0), (6, 10, "pending", 0)]

    # the frames on disk are of another scene: never mixed
    with pytest.raises(NNRenderError, match="different scene"):
        _job(out, fingerprint="bbbb")
    assert (job.frames_dir / STAMP).read_text(encoding="utf-8") == "aaaa"

    # without a manifest, the stamp in frames/ still tells
    (out / MANIFEST).unlink()
    with pytest.raises(NNRenderError, match="different scene"):
        _job(out, fingerprint="bbbb")

    # no frames on disk: a new scene may start here
    for p in job.frames_dir.glob("frame_*.png"):
        p.unlink()
    fresh = _job(out, fingerprint="bbbb")
    assert all(c.state == "pending" and c.attempts == 0 for c in fresh.chunks)
    assert (job.frames_dir / STAMP).read_text(encoding="utf-8") == "bbbb"


def test_job_open_corrupt_manifest_and_damaged_frame(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(NNRenderError, match="corrupt job manifest"):
        _job(out)
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    noise = np.random.default_rng(0).integers(0, 256, (36, 64, 3), dtype=np.uint8)
    Image.fromarray(noise, "RGB").save(good)
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # a half-written file
    assert frame_ok(good) and not frame_ok(bad) and not frame_ok(tmp_path / "none.png")


# ------------------------------------------------------------------------- the farm


def test_worker_killed_mid_chunk(farm_scene, farm, tmp_path: Path) -> None:
    """kill -9 of a Dask worker while its render child is halfway through a chunk: the
    child dies with it, the chunk is rendered again elsewhere, the job ends whole."""
    scene = farm_scene(samples=128)  # a chunk of 10 frames renders for a few seconds
    out = tmp_path / "out"
    frames = out / "frames"
    proc = farm.start(scene, out, "--workers", "2", "--chunk", "10", "--retries", "2")

    def victim() -> tuple[int, int, int, int] | None:
        """(worker, render child, first, last) where the child has frames of its chunk on
        disk and four or more still to render (a second or two of work left)."""
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        procs = _procs()
        mine = _descendants(proc.pid, procs)
        for pid, cmd in _render_children(out, procs).items():
            worker = procs[pid][0]
            a, b = map(int, re.search(r"--frames (\d+)-(\d+)", cmd).groups())
            have = sum((frames / frame_name(f)).is_file() for f in range(a, b + 1))
            if pid in mine and worker != proc.pid and 0 < have <= b - a - 3:
                return worker, pid, a, b
        return None

    worker, child, a, b = _wait_until(victim, 90, "a render child halfway through its chunk",
                                      step=0.02)
    half = {n: t for n, t in _mtimes(frames).items() if a <= int(n[6:11]) <= b}
    os.kill(worker, signal.SIGKILL)
    assert half and 0 < len(_on_disk(frames, 30)) < 30
    # PR_SET_PDEATHSIG: the render child goes with its worker at once, long before it could
    # have finished its chunk on its own
    _wait_until(lambda: child not in _procs(), 1.0, f"render child {child} to die",
                step=0.01)

    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-3000:]
    assert stdout.strip().splitlines() == [str(out / "farmtest.mp4"), str(out / "farmtest.png")]
    manifest = _assert_complete(out, 30)
    assert _summary(stderr) == (3, 3)
    # the killed chunk was finished by another worker, without rendering its frames again
    (again,) = [c for c in manifest["chunks"] if (c["first"], c["last"]) == (a, b)]
    assert not again["worker"].endswith(f":{worker}")
    assert {n: t for n, t in _mtimes(frames).items() if n in half} == half
    # nothing of the job is left running
    _wait_until(lambda: not _render_children(out, _procs()), 5, "no render process left")
    assert worker not in _procs()


def test_killed_job_resumes(farm_scene, farm, tmp_path: Path) -> None:
    """The whole job killed (farm, cluster and render children): the same command again
    renders only the chunks with frames missing; a third run renders nothing."""
    scene = farm_scene()
    out = tmp_path / "out"
    frames = out / "frames"
    chunks = split(1, 30, 6)
    proc = farm.start(scene, out, "--workers", "2", "--chunk", "6")

    def some_chunk_done() -> bool:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        on_disk = _on_disk(frames, 30)
        return len(on_disk) < 30 and any(set(c.frames) <= on_disk for c in chunks)

    _wait_until(some_chunk_done, 90, "a finished chunk", step=0.02)
    pgid = os.getpgid(proc.pid)
    os.killpg(pgid, signal.SIGKILL)
    proc.communicate(timeout=10)
    _wait_until(lambda: not any(g == pgid for _p, g, _s, _c in _procs().values()), 10,
                "every process of the killed job to go")

    kept = _mtimes(frames)
    on_disk = {int(n[6:11]) for n in kept}
    assert 0 < len(on_disk) < 30
    missing_chunks = sum(not set(c.frames) <= on_disk for c in chunks)
    assert 0 < missing_chunks < len(chunks)

    again = farm.run(scene, out, "--workers", "2", "--chunk", "6")
    assert again.returncode == 0, again.stderr[-3000:]
    assert _summary(again.stderr) == (missing_chunks, len(chunks))
    _assert_complete(out, 30)
    after = _mtimes(frames)
    assert {n: after[n] for n in kept} == kept  # frames on disk were not rendered again

    third = farm.run(scene, out, "--workers", "2", "--chunk", "6")
    assert third.returncode == 0, third.stderr[-3000:]
    assert _summary(third.stderr) == (0, len(chunks))
    assert _mtimes(frames) == after
    _assert_complete(out, 30)


def test_unreachable_scheduler(farm_scene, farm, tmp_path: Path) -> None:
    """Nothing listens on port 9: one error line after the connect timeout, exit 2."""
    from nnrender.farm.dask_runner import CONNECT_TIMEOUT

    scene = farm_scene(timeline=SHORT)
    out = tmp_path / "out"
    start = time.monotonic()
    res = farm.run(scene, out, "--scheduler", "tcp://127.0.0.1:9", timeout=CONNECT_TIMEOUT + 60)
    took = time.monotonic() - start
    assert res.returncode == 2, res.stderr[-3000:]
    lines = _error_lines(res.stderr)
    assert len(lines) == 1, res.stderr[-3000:]
    assert lines[0].startswith("nnrender: error: --scheduler")
    assert "tcp://127.0.0.1:9" in lines[0]
    assert "Traceback" not in res.stderr
    assert res.stdout == ""
    assert took < CONNECT_TIMEOUT + 30
    assert not list((out / "frames").glob("frame_*.png"))


def test_changed_scene_refused_damaged_frame_redone(farm_scene, farm, tmp_path: Path) -> None:
    """A finished job's folder, another plan (more samples): refused, old frames kept. A
    damaged frame: an error, then rendered again by the next run."""
    scene = farm_scene(timeline=SHORT)
    out = tmp_path / "out"
    first = farm.run(scene, out, "--workers", "1", "--chunk", "10")
    assert first.returncode == 0, first.stderr[-3000:]
    manifest = _assert_complete(out, 10)
    assert _summary(first.stderr) == (1, 1)
    before = _mtimes(out / "frames")
    manifest_bytes = (out / MANIFEST).read_bytes()

    res = farm.run(scene, out, "--workers", "1", "--chunk", "10", "--set", "render.samples=2")
    assert res.returncode == 2, res.stderr[-3000:]
    lines = _error_lines(res.stderr)
    assert len(lines) == 1 and lines[0].startswith("nnrender: error:"), res.stderr[-3000:]
    assert "different scene" in lines[0]
    assert res.stdout == ""
    assert _mtimes(out / "frames") == before
    assert (out / MANIFEST).read_bytes() == manifest_bytes
    assert (out / "frames" / STAMP).read_text(encoding="utf-8") == manifest["fingerprint"]

    # the same scene, a frame damaged on disk after the fact: no video of it; it is deleted,
    # and the next run renders it again
    damaged = out / "frames" / frame_name(3)
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    res = farm.run(scene, out, "--workers", "1", "--chunk", "10")
    assert res.returncode == 2, res.stderr[-3000:]
    lines = _error_lines(res.stderr)
    assert len(lines) == 1 and "damaged" in lines[0], res.stderr[-3000:]
    assert not damaged.exists()
    res = farm.run(scene, out, "--workers", "1", "--chunk", "10")
    assert res.returncode == 0, res.stderr[-3000:]
    assert _summary(res.stderr) == (1, 1)
    _assert_complete(out, 10)
    after = _mtimes(out / "frames")
    assert {n: t for n, t in after.items() if n != damaged.name} == {
        n: t for n, t in before.items() if n != damaged.name}


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def test_two_jobs_at_once(farm_scene, farm, tmp_path: Path) -> None:
    """Two jobs, two local clusters, two folders: neither disturbs the other."""
    scene = farm_scene(timeline=SHORT)
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    proc_a = farm.start(scene, out_a, "--workers", "1", "--chunk", "5")
    proc_b = farm.start(scene, out_b, "--workers", "1", "--chunk", "5",
                        "--set", "look.colormap=magma")
    _, err_a = proc_a.communicate(timeout=120)
    _, err_b = proc_b.communicate(timeout=120)
    assert proc_a.returncode == 0, err_a[-3000:]
    assert proc_b.returncode == 0, err_b[-3000:]
    assert _summary(err_a) == _summary(err_b) == (2, 2)
    job_a, job_b = _assert_complete(out_a, 10), _assert_complete(out_b, 10)
    assert job_a["scene"] == job_b["scene"] == str(scene)
    assert job_a["fingerprint"] != job_b["fingerprint"]
    for out, job in ((out_a, job_a), (out_b, job_b)):
        assert (out / "frames" / STAMP).read_text(encoding="utf-8") == job["fingerprint"]
    plan_a = json.loads((out_a / "plan.json").read_text(encoding="utf-8"))
    plan_b = json.loads((out_b / "plan.json").read_text(encoding="utf-8"))
    assert (plan_a["look"]["colormap"], plan_b["look"]["colormap"]) == ("viridis", "magma")
    differ = [f for f in range(1, 11)
              if not np.array_equal(_pixels(out_a / "frames" / frame_name(f)),
                                    _pixels(out_b / "frames" / frame_name(f)))]
    assert differ == list(range(1, 11))


def test_chunk_of_another_install_refuses_instead_of_replacing_frames(farm_scene, farm,
                                                                      tmp_path: Path) -> None:
    """A chunk whose plan differs from the farm's (NNRENDER_EXPECT_PLAN, as a worker with
    another nnrender would) exits 2 and leaves the frames there alone."""
    scene = farm_scene(timeline=SHORT)
    out = tmp_path / "out"
    res = farm.run(scene, out, "--workers", "1", "--chunk", "10")
    assert res.returncode == 0, res.stderr[-3000:]
    before = _mtimes(out / "frames")
    env = dict(os.environ, NNRENDER_EXPECT_PLAN="0" * 16)
    proc = subprocess.run([sys.executable, "-m", "nnrender", "render", str(scene), "--frames",
                           "1-2", "-o", str(out), "--no-progress", "--set",
                           "render.samples=3"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "plans the scene differently" in proc.stderr
    assert _mtimes(out / "frames") == before
