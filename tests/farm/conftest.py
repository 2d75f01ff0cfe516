"""Fixtures for the farm tests: tiny scenes of the synthetic dump, and `nnrender farm`
subprocesses that never outlive their test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# 3 epochs at 24 fps: hold/blend/end_hold of 0.2 s give 30 frames (the tests' SHORT: 10)
LONG = {"hold": 0.2, "blend": 0.2, "end_hold": 0.2}


@pytest.fixture
def farm_scene(synthetic_dump: Path, tmp_path: Path) -> Callable[..., Path]:
    """Writes ``tmp_path/<name>.yaml``: draft, 64x36, ``samples`` samples, a LONG (30
    frames) or the given timeline; output.name is ``farmtest``."""

    def make(name: str = "scene", *, samples: int = 1, timeline: dict | None = None) -> Path:
        t = timeline or LONG
        scene = tmp_path / f"{name}.yaml"
        scene.write_text(
            "quality: draft\n"
            f"dump: {synthetic_dump}\n"
            f"render: {{resolution: [64, 36], samples: {samples}, denoise: 'off'}}\n"
            f"timeline: {{hold: {t['hold']}, blend: {t['blend']}, "
            f"end_hold: {t['end_hold']}}}\n"
            "output: {name: farmtest}\n",
            encoding="utf-8",
        )
        return scene

    return make


class Farm:
    """Starts `nnrender farm` in its own session (process group); whatever is still running
    at the end of the test is killed with its whole group."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.procs: list[subprocess.Popen] = []

    @staticmethod
    def command(scene: Path, out: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "nnrender", "farm", str(scene), "-o", str(out),
                "--no-progress", *extra]

    def start(self, scene: Path, out: Path, *extra: str) -> subprocess.Popen:
        proc = subprocess.Popen(self.command(scene, out, *extra), cwd=self.cwd,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, scene: Path, out: Path, *extra: str,
            timeout: float = 120) -> subprocess.CompletedProcess:
        proc = self.start(scene, out, *extra)
        stdout, stderr = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                proc.communicate(timeout=10)
            except (subprocess.TimeoutExpired, ValueError):
                pass


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    runner = Farm(tmp_path)
    try:
        yield runner
    finally:
        runner.cleanup()
