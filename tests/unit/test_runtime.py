import os
import tempfile
from pathlib import Path

from nnrender import runtime


def test_home_folders_of_dead_runs_are_removed():
    pid = os.fork()  # a child that exits at once: its pid is surely gone after waitpid
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    dead = Path(tempfile.mkdtemp(prefix=f"{runtime._PREFIX}{pid}-"))
    alive = Path(tempfile.mkdtemp(prefix=f"{runtime._PREFIX}{os.getpid()}-"))
    try:
        runtime._remove_orphans()
        assert not dead.exists()
        assert alive.exists()
    finally:
        alive.rmdir()
