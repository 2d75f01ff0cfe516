"""Frames -> video with the static ffmpeg that imageio-ffmpeg ships (no system ffmpeg)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from nnrender.config.schema import OutputConfig
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


def _run_ffmpeg(args: list[str], out: Path) -> Path:
    """ffmpeg into a temporary name, then renamed: a killed encode leaves no video that
    looks finished."""
    tmp = temp_path(out)
    proc = subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", *args, str(tmp)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        last = (proc.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
        raise NNRenderError(out, f"encoding failed: {last}")
    os.replace(tmp, out)
    return out


def _frames_in(frames_dir: Path, first: int, count: int, fps: int) -> list[str]:
    return ["-framerate", str(fps), "-start_number", str(first),
            "-i", str(frames_dir / FRAME_PATTERN), "-frames:v", str(count)]


def encode_mp4(frames_dir: Path, first: int, count: int, fps: int, out: Path,
               crf: int = 18) -> Path:
    """H.264, yuv420p, even dimensions, moov atom first (+faststart) so players and browsers
    can start before the download ends."""
    return _run_ffmpeg([*_frames_in(frames_dir, first, count, fps),
                        "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264",
                        "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p",
                        "-movflags", "+faststart", "-f", "mp4"], out)


def encode_gif(frames_dir: Path, first: int, count: int, fps: int, out: Path,
               width: int = 480, gif_fps: int | None = None) -> Path:
    """An animated GIF for slides and READMEs: ``width`` px wide (never wider than the
    frames), one palette made for the whole video (palettegen), error-diffusion dithering,
    looping; at most ``gif_fps`` frames a second (frames dropped evenly)."""
    rate = f"fps={gif_fps}," if gif_fps and gif_fps < fps else ""
    chain = (f"{rate}scale='min({width},iw)':-2:flags=lanczos,split[a][b];"
             "[a]palettegen=stats_mode=diff[p];"
             "[b][p]paletteuse=dither=sierra2_4a:diff_mode=rectangle")
    return _run_ffmpeg([*_frames_in(frames_dir, first, count, fps), "-filter_complex", chain,
                        "-loop", "0", "-f", "gif"], out)


def encode_webm(frames_dir: Path, first: int, count: int, fps: int, out: Path,
                crf: int = 32) -> Path:
    """VP9 in WebM (constant quality), for browsers and slides that take it."""
    return _run_ffmpeg([*_frames_in(frames_dir, first, count, fps),
                        "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libvpx-vp9",
                        "-crf", str(crf), "-b:v", "0", "-row-mt", "1", "-pix_fmt", "yuv420p",
                        "-f", "webm"], out)


def encode_mov(frames_dir: Path, first: int, count: int, fps: int, out: Path) -> Path:
    """ProRes 4444 with alpha (yuva444p10le) for video editors: transparent where the
    frames are (look.transparent)."""
    return _run_ffmpeg([*_frames_in(frames_dir, first, count, fps), "-c:v", "prores_ks",
                        "-profile:v", "4444", "-pix_fmt", "yuva444p10le", "-vendor", "apl0",
                        "-f", "mov"], out)


ENCODERS = {"mp4": encode_mp4, "gif": encode_gif, "webm": encode_webm, "mov": encode_mov}


def encode(fmt: str, frames_dir: Path, first: int, count: int, fps: int, out: Path,
           gif: tuple[int, int | None] = (480, None)) -> Path:
    """One video of the frames in the format ``fmt`` (mp4, gif, webm or mov); ``gif``:
    the GIF's width and frame rate."""
    if fmt == "gif":
        return encode_gif(frames_dir, first, count, fps, out, *gif)
    return ENCODERS[fmt](frames_dir, first, count, fps, out)


def probe_mp4(path: Path) -> dict[str, float]:
    """Width, height, fps and frame count of a video (any format ffmpeg reads), read by
    decoding it (no ffprobe here)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    w, h = meta["size"]
    return {"width": w, "height": h, "fps": float(meta["fps"]), "frames": frames,
            "duration": frames / float(meta["fps"])}


def encode_all(output: OutputConfig, frames_dir: Path, first: int, count: int, fps: int,
               out_dir: Path) -> list[Path]:
    """Every video asked for (``output.formats``), named ``<output.name>.<format>``."""
    gif = (output.gif_width, output.gif_fps)
    return [encode(fmt, frames_dir, first, count, fps, out_dir / f"{output.name}.{fmt}", gif)
            for fmt in dict.fromkeys(output.formats)]
