"""Frames -> video with the static ffmpeg that imageio-ffmpeg ships (no system ffmpeg)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from nnrender.errors import NNRenderError

FRAME_PATTERN = "frame_%05d.png"


def frame_name(frame: int) -> str:
    return FRAME_PATTERN % frame


def _host() -> str:
    return socket.gethostname().replace(".", "_")  # no dots: names split on them


def _owner() -> str:
    return f"{_host()}-{os.getpid()}"


def temp_path(path: Path) -> Path:
    """Where a file is written before its atomic rename: named after this host and process,
    so processes sharing a folder (farm chunks) never write or remove each other's."""
    return path.with_name(f".{path.stem}.{_owner()}.tmp{path.suffix}")


def clear_stale_temps(folder: Path) -> None:
    """Remove the temporaries (``temp_path`` names, or older unnamed ones) that killed
    processes of this host left in ``folder``; those of live processes (other chunks) and
    of other hosts stay."""
    host = _host()
    for tmp in folder.glob(".*.tmp*"):
        owner = tmp.name[: tmp.name.rindex(".tmp")].rsplit(".", 1)[-1]
        name_host, _, pid = owner.rpartition("-")
        if not pid.isdigit() or (name_host == host and not _alive(int(pid))):
            tmp.unlink(missing_ok=True)  # an unnamed (older) one, or a dead process's


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def encode_mp4(frames_dir: Path, first: int, count: int, fps: int, out: Path,
               crf: int = 18) -> Path:
    """H.264, yuv420p, even dimensions, moov atom first (+faststart) so players and browsers
    can start before the download ends. Written to a temporary name, then renamed."""
    tmp = temp_path(out)
    cmd = [
        ffmpeg_exe(), "-y", "-loglevel", "error", "-framerate", str(fps),
        "-start_number", str(first), "-i", str(frames_dir / FRAME_PATTERN),
        "-frames:v", str(count), "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
        "-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", "-f", "mp4", str(tmp),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        last = (proc.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
        raise NNRenderError(out, f"encoding failed: {last}")
    os.replace(tmp, out)
    return out


def probe_mp4(path: Path) -> dict[str, float]:
    """Width, height, fps and frame count of a video, read by decoding it (no ffprobe here)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    w, h = meta["size"]
    return {"width": w, "height": h, "fps": float(meta["fps"]), "frames": frames,
            "duration": frames / float(meta["fps"])}
