"""A whole plan on disk (atlas pixels and curve points included) for a farm's chunks: the
farm plans once and each chunk loads that plan instead of reading the dump and planning
again, which for ResNet-50 is 2 s of every chunk.

``plan.json`` is the readable description and leaves the arrays out; this file is the
plan itself, pickled, behind a header that says what wrote it. A chunk uses it only when
the header matches its own nnrender, numpy and Python and the farm's fingerprint, so a
machine that would plan differently still plans for itself (and is refused as before).
The file lives in the job's own output folder, written by the farm that renders there.
"""

from __future__ import annotations

import pickle
import platform
from pathlib import Path

import numpy as np

from nnrender import __version__
from nnrender.output.encode import temp_path
from nnrender.plan.types import FORMAT, PLAN_VERSION, ScenePlan

SAVED_NAME = ".plan-{fingerprint}.pickle"


def _header(fingerprint: str) -> dict[str, str | int]:
    return {"format": FORMAT, "plan_version": PLAN_VERSION, "nnrender": __version__,
            "numpy": np.__version__, "python": platform.python_version(),
            "fingerprint": fingerprint}


def saved_path(folder: Path, fingerprint: str) -> Path:
    return folder / SAVED_NAME.format(fingerprint=fingerprint)


def save_plan(plan: ScenePlan, folder: Path, fingerprint: str) -> Path:
    """Write the plan for chunks rendering ``fingerprint`` into ``folder`` (atomically)."""
    path = saved_path(folder, fingerprint)
    tmp = temp_path(path)
    with open(tmp, "wb") as f:
        pickle.dump(_header(fingerprint), f, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(plan, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return path


def load_plan(folder: Path, fingerprint: str) -> ScenePlan | None:
    """The farm's plan for ``fingerprint``, or None when there is none or it was written
    by another nnrender, numpy or Python (then the chunk plans for itself)."""
    path = saved_path(folder, fingerprint)
    try:
        with open(path, "rb") as f:
            if pickle.load(f) != _header(fingerprint):
                return None
            plan = pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None
    return plan if isinstance(plan, ScenePlan) else None
