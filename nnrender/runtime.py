"""Process set-up shared by every command: keep Blender, Mesa and Keras caches out of $HOME."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_CACHE_VARS = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
_PREFIX = "nnrender-home-"


def _remove_orphans() -> None:
    """Folders of killed runs (atexit never ran): removed once their process is gone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = folder.name[len(_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # another user's live process
            pass


def isolate_home() -> str:
    """Point HOME, XDG_*, Blender's and Keras's user folders at a private temporary folder.

    Must run before bpy or keras is imported: both read these at import time. Idempotent.
    """
    existing = os.environ.get("NNRENDER_HOME")
    if existing and os.path.isdir(existing):
        return existing
    _remove_orphans()
    home = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")
    atexit.register(shutil.rmtree, home, True)
    env = {
        "NNRENDER_HOME": home,
        "HOME": home,
        "BLENDER_USER_RESOURCES": os.path.join(home, "blender"),
        "KERAS_HOME": os.path.join(home, "keras"),
        "MPLCONFIGDIR": os.path.join(home, "mpl"),
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
    }
    for var in _CACHE_VARS:
        env[var] = os.path.join(home, var.lower())
    os.environ.update(env)
    return home
