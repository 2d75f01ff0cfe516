"""Frame chunks as Dask tasks, each rendering in its own Blender subprocess.

A task runs ``python -m nnrender render SCENE --frames A-B`` (the same command any farm
manager can run), so a crash or a leak in Blender ends one task, not the worker; the child
is tied to its worker (it dies with it), and a task whose worker died is given to another.
Frames already on disk are skipped, so a retried or resumed chunk renders only what is
missing. The farm's own process never imports bpy.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrender.config.schema import OutputConfig
from nnrender.errors import NNRenderError
from nnrender.farm.job import Chunk, Job, frame_ok
from nnrender.output.encode import encode_all, frame_name, temp_path
from nnrender.pipeline import EXPECT_PLAN_ENV

CONNECT_TIMEOUT = 10.0  # seconds to reach a --scheduler
WORKERS_TIMEOUT = 60.0  # seconds for a first worker to join it
LOCAL_WORKERS = 2  # default LocalCluster size: one chunk builds while another renders
POLL = 0.5  # seconds between progress updates


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the render child gets SIGKILL when its worker dies (kill -9 included), so a
    dead worker's chunk is not rendered twice at once."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def render_chunk(args: list[str], first: int, last: int, out: str,
                 fingerprint: str) -> dict[str, Any]:
    """One task: frames ``first``..``last`` into ``out``, in a fresh process of this
    worker's Python (``args`` follow ``python``). The chunk must plan exactly the farm's
    scene (``fingerprint``): a worker whose nnrender or numpy differs refuses rather than
    replacing the frames already there."""
    cmd = [sys.executable, *args, "--frames", f"{first}-{last}", "-o", out, "--no-progress"]
    env = dict(os.environ, **{EXPECT_PLAN_ENV: fingerprint})
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    info = {"first": first, "last": last, "seconds": time.perf_counter() - start,
            "worker": f"{socket.gethostname()}:{os.getpid()}", "error": ""}
    if proc.returncode != 0:
        # returned, not raised: the farm counts and retries the try itself (Dask would log a
        # traceback per failed task, and retry without telling how often)
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        return info | {"error": f"exit {proc.returncode}: {tail}", "warnings": []}
    warned = [line for line in proc.stderr.splitlines() if line.startswith("nnrender: warning:")]
    return info | {"warnings": warned}


@dataclass
class FarmResult:
    job: Job
    rendered_chunks: int = 0
    failed: list[str] = field(default_factory=list)
    warnings: set[str] = field(default_factory=set)  # lines the chunks printed, once each
    video: Path | None = None
    videos: list[Path] = field(default_factory=list)
    still: Path | None = None
    seconds: float = 0.0


def _client(scheduler: str | None, workers: int | None) -> tuple[Any, Any]:
    """(client, cluster): the user's scheduler (with at least one worker), or a
    LocalCluster of single-threaded worker processes (each task's render child uses every
    core it can get; two chunks overlap one's scene build with the other's frames)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise NNRenderError("--scheduler", f"cannot reach the Dask scheduler at "
                                               f"{scheduler}: {reason}") from None
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except (TimeoutError, OSError):
            client.close()
            raise NNRenderError("--scheduler", f"no Dask worker joined {scheduler} within "
                                               f"{WORKERS_TIMEOUT:g} s: start one with "
                                               f"`dask worker {scheduler}`") from None
        return client, None
    n = workers or LOCAL_WORKERS
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=None, scheduler_port=0)
    return Client(cluster), cluster


class _Dispatch:
    """The job's chunks as Dask tasks: each try counted in farm.json, a failed try submitted
    again until ``retries`` more have failed (a worker's death Dask reschedules itself)."""

    def __init__(self, client: Any, job: Job, command: list[str], retries: int,
                 result: FarmResult) -> None:
        from distributed import as_completed

        self.client, self.job, self.command = client, job, command
        self.retries, self.result = retries, result
        self.futures: dict[Any, Chunk] = {}
        self.tries: dict[int, int] = {}  # tries of each chunk in this run, by id
        self.pending = as_completed([], with_results=False)

    def submit(self, chunk: Chunk) -> None:
        chunk.state = "pending"
        job = self.job
        fut = self.client.submit(render_chunk, self.command, chunk.first, chunk.last,
                                 str(job.out), job.fingerprint, pure=False,
                                 key=f"nnrender-{job.fingerprint[:10]}-{chunk.first}-"
                                     f"{chunk.last}-{time.time_ns()}")
        self.futures[fut] = chunk
        self.pending.add(fut)

    def finished(self, fut: Any) -> None:
        """Record one try of a chunk: done, tried again, or failed for good."""
        chunk = self.futures.pop(fut)
        chunk.attempts += 1
        self.tries[id(chunk)] = self.tries.get(id(chunk), 0) + 1
        info = fut.result() if fut.status == "finished" else None
        if info is not None and not info["error"]:
            chunk.state, chunk.seconds, chunk.worker = "done", info["seconds"], info["worker"]
            chunk.error = ""
            self.result.warnings.update(info["warnings"])
            self.result.rendered_chunks += 1
        else:
            if info is not None:
                chunk.error, chunk.worker = info["error"], info["worker"]
            else:  # the task itself failed: its worker died too often, say
                exc = fut.exception()
                chunk.error = str(exc).splitlines()[0] if exc else fut.status
            if self.tries[id(chunk)] <= self.retries:
                self.submit(chunk)
            else:
                chunk.state = "failed"
                self.result.failed.append(f"frames {chunk.first}-{chunk.last}: {chunk.error}")
        self.job.save()

    def run(self, chunks: list[Chunk], progress: Callable[[int, int], None] | None) -> None:
        for chunk in chunks:
            self.submit(chunk)
        self.job.save()
        total = self.job.last - self.job.first + 1
        last_report = -1
        while not self.pending.is_empty():
            batch = self.pending.next_batch(block=False)
            for fut in batch:
                self.finished(fut)
            done = len(self.job.done_frames())
            if progress and done != last_report:
                progress(done, total)
                last_report = done
            if not batch:
                time.sleep(POLL)


def run_farm(job: Job, command: list[str], *, scheduler: str | None = None,
             workers: int | None = None, retries: int = 2, fps: int = 24,
             output: OutputConfig | None = None, still_frame: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> FarmResult:
    """Render the job's missing chunks on Dask, then encode. ``command``: the render
    command after ``python``, without --frames/-o ([-m, nnrender, render, scene.yaml, ...]);
    ``output``: the scene's output settings (videos, name), the defaults when None.
    """
    output = output or OutputConfig()
    start = time.perf_counter()
    result = FarmResult(job)
    for f in range(job.first, job.last + 1):
        path = job.frames_dir / frame_name(f)
        if path.is_dir():
            raise NNRenderError(path, "a folder where a frame goes: remove it, then run the "
                                      "same command again")
    todo = [c for c in job.chunks if c.state != "done"]
    total = job.last - job.first + 1
    if todo:
        client, cluster = _client(scheduler, workers)
        try:
            _Dispatch(client, job, command, retries, result).run(todo, progress)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    # every frame must be there and whole before the video is made of them
    bad = [f for f in range(job.first, job.last + 1)
           if not frame_ok(job.frames_dir / frame_name(f))]
    if progress:
        progress(total - len(bad), total)
    for f in bad:  # a damaged frame is rendered again by the next run
        (job.frames_dir / frame_name(f)).unlink(missing_ok=True)
    for chunk in job.chunks:
        if chunk.state == "done" and any(f in bad for f in chunk.frames):
            chunk.state = "pending"
    job.save()
    result.seconds = time.perf_counter() - start
    if result.failed:
        raise NNRenderError(job.out, f"{len(result.failed)} chunks failed ("
                                     f"{'; '.join(result.failed[:2])}); run the same command "
                                     "again to resume")
    if bad:
        raise NNRenderError(job.out, f"{len(bad)} frames missing or damaged (removed); run "
                                     "the same command again to render them")
    if output.video:
        result.videos = encode_all(output, job.frames_dir, job.first, total, fps, job.out)
        result.video = result.videos[0]
    if still_frame is not None:
        result.still = job.out / f"{output.name}.png"
        tmp = temp_path(result.still)
        shutil.copyfile(job.frames_dir / frame_name(still_frame), tmp)
        tmp.replace(result.still)
    return result
