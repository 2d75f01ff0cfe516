"""The job manifest (``farm.json`` in the output folder): what is being rendered, which
chunks are done. Re-running a finished job renders nothing; a job whose scene changed never
mixes its frames with the old ones."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from PIL import Image

from nnrender.errors import NNRenderError
from nnrender.output.encode import clear_stale_temps, frame_name, temp_path

MANIFEST = "farm.json"
FORMAT = "nnrender-farm"
STAMP = ".plan"  # in frames/: the fingerprint of the plan the frames come from


@dataclass
class Chunk:
    first: int
    last: int
    state: str = "pending"  # pending | done | failed
    attempts: int = 0
    seconds: float = 0.0
    worker: str = ""
    error: str = ""

    @property
    def frames(self) -> range:
        return range(self.first, self.last + 1)


def split(first: int, last: int, size: int) -> list[Chunk]:
    """Frames first..last in chunks of ``size`` (the last one shorter)."""
    if size < 1:
        raise NNRenderError("--chunk", f"must be at least 1, not {size}")
    return [Chunk(a, min(a + size - 1, last)) for a in range(first, last + 1, size)]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("nnrender", "bpy", "numpy", "dask", "distributed"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def frame_ok(path: Path) -> bool:
    """A frame file that exists and decodes as a whole PNG (frames are written atomically,
    so this only fails for files damaged after the fact)."""
    try:
        with Image.open(path) as im:
            im.load()
        return True
    except (OSError, ValueError, SyntaxError):
        return False


@dataclass
class Job:
    out: Path
    scene: str
    fingerprint: str
    engine: str
    quality: str
    style: str | None
    seed: int
    first: int
    last: int
    chunk: int
    chunks: list[Chunk] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=versions)

    @property
    def frames_dir(self) -> Path:
        return self.out / "frames"

    def done_frames(self) -> set[int]:
        """Frames on disk (a cheap check: their files exist)."""
        return {f for f in range(self.first, self.last + 1)
                if (self.frames_dir / frame_name(f)).is_file()}

    def missing(self, chunk: Chunk, done: set[int] | None = None) -> list[int]:
        done = self.done_frames() if done is None else done
        return [f for f in chunk.frames if f not in done]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("out")
        done = self.done_frames()
        return {"format": FORMAT, **data, "frames_done": len(done),
                "frames_total": self.last - self.first + 1}

    def save(self) -> Path:
        path = self.out / MANIFEST
        tmp = temp_path(path)
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def open(cls, out: Path, **fields: Any) -> Job:
        """The job in ``out``: the one recorded there when it is for the same scene (its
        chunk states kept), a new one otherwise. Frames of a different scene in ``out``
        are an error: mixing them would make a video of two scenes."""
        job = cls(out=out, **fields)
        for folder in (out, job.frames_dir):
            if folder.is_dir():
                clear_stale_temps(folder)
        path = out / MANIFEST
        stamp = job.frames_dir / STAMP
        old: dict[str, Any] | None = None
        if path.is_file():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise NNRenderError(path, "corrupt job manifest; delete it to start the job "
                                          "again") from None
        # the stamp says what the frames on disk are (a plain render may have replaced them
        # since the manifest was written); the manifest only when there is no stamp
        recorded = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else None
        if recorded is None:
            recorded = (old or {}).get("fingerprint")
        if recorded is not None and recorded != job.fingerprint and any(
                job.frames_dir.glob("frame_[0-9]*.png")):
            raise NNRenderError(out, "holds frames of a different scene or settings; render "
                                     "into a new output folder (-o) or delete this one")
        job.chunks = split(job.first, job.last, job.chunk)
        if (old is not None and old.get("fingerprint") == job.fingerprint
                and old.get("chunk") == job.chunk):
            for chunk, saved in zip(job.chunks, old.get("chunks", []), strict=False):
                if (saved.get("first"), saved.get("last")) == (chunk.first, chunk.last):
                    chunk.attempts = int(saved.get("attempts", 0))
                    chunk.seconds = float(saved.get("seconds", 0.0))
                    chunk.worker = str(saved.get("worker", ""))
        done = job.done_frames()
        for chunk in job.chunks:
            chunk.state = "pending" if job.missing(chunk, done) else "done"
        job.frames_dir.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(stamp)
        tmp.write_text(job.fingerprint, encoding="utf-8")
        tmp.replace(stamp)
        return job
