"""Frames -> video with the static ffmpeg that imageio-ffmpeg ships (no system ffmpeg)."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
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


@dataclass
class _Encoding:
    """One ffmpeg at work on ``out`` (through its temporary name)."""

    proc: subprocess.Popen
    tmp: Path
    out: Path

    def finish(self) -> Path:
        _, err = self.proc.communicate()
        if self.proc.returncode != 0:
            self.tmp.unlink(missing_ok=True)
            last = (err.decode(errors="replace").strip().splitlines() or ["ffmpeg failed"])[-1]
            raise NNRenderError(self.out, f"encoding failed: {last}")
        os.replace(self.tmp, self.out)
        return self.out


def _start_ffmpeg(args: list[str], out: Path) -> _Encoding:
    """ffmpeg into a temporary name, renamed when it ends well: a killed encode leaves no
    video that looks finished."""
    tmp = temp_path(out)
    proc = subprocess.Popen([ffmpeg_exe(), "-y", "-loglevel", "error", *args, str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return _Encoding(proc, tmp, out)


def _frames_in(frames_dir: Path, first: int, count: int, fps: int) -> list[str]:
    return ["-framerate", str(fps), "-start_number", str(first),
            "-i", str(frames_dir / FRAME_PATTERN), "-frames:v", str(count)]


def mp4_args(crf: int = 18) -> list[str]:
    """H.264, yuv420p, even dimensions, moov atom first (+faststart) so players and browsers
    can start before the download ends."""
    return ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "medium",
            "-crf", str(crf), "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4"]


def gif_args(fps: int, width: int = 480, gif_fps: int | None = None) -> list[str]:
    """An animated GIF for slides and READMEs: ``width`` px wide (never wider than the
    frames), one palette made for the whole video (palettegen), error-diffusion dithering,
    looping; at most ``gif_fps`` frames a second (frames dropped evenly)."""
    rate = f"fps={gif_fps}," if gif_fps and gif_fps < fps else ""
    chain = (f"{rate}scale='min({width},iw)':-2:flags=lanczos,split[a][b];"
             "[a]palettegen=stats_mode=diff[p];"
             "[b][p]paletteuse=dither=sierra2_4a:diff_mode=rectangle")
    return ["-filter_complex", chain, "-loop", "0", "-f", "gif"]


def webm_args(crf: int = 32) -> list[str]:
    """VP9 in WebM (constant quality), for browsers and slides that take it."""
    return ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libvpx-vp9", "-crf", str(crf),
            "-b:v", "0", "-row-mt", "1", "-pix_fmt", "yuv420p", "-f", "webm"]


def mov_args() -> list[str]:
    """ProRes 4444 with alpha (yuva444p10le) for video editors: transparent where the
    frames are (look.transparent)."""
    return ["-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le",
            "-vendor", "apl0", "-f", "mov"]


def _format_args(fmt: str, fps: int, gif: tuple[int, int | None]) -> list[str]:
    if fmt == "gif":
        return gif_args(fps, *gif)
    return {"mp4": mp4_args, "webm": webm_args, "mov": mov_args}[fmt]()


def _start(fmt: str, frames_dir: Path, first: int, count: int, fps: int, out: Path,
           gif: tuple[int, int | None]) -> _Encoding:
    return _start_ffmpeg([*_frames_in(frames_dir, first, count, fps),
                          *_format_args(fmt, fps, gif)], out)


def encode(fmt: str, frames_dir: Path, first: int, count: int, fps: int, out: Path,
           gif: tuple[int, int | None] = (480, None)) -> Path:
    """One video of the frames in the format ``fmt`` (mp4, gif, webm or mov); ``gif``:
    the GIF's width and frame rate."""
    return _start(fmt, frames_dir, first, count, fps, out, gif).finish()


def encode_gif(frames_dir: Path, first: int, count: int, fps: int, out: Path,
               width: int = 480, gif_fps: int | None = None) -> Path:
    return encode("gif", frames_dir, first, count, fps, out, (width, gif_fps))


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
    """Every video asked for (``output.formats``), named ``<output.name>.<format>``, all
    encoded at once: the GIF's palette passes run on one core, beside x264's threads
    (bench_render --job)."""
    gif = (output.gif_width, output.gif_fps)
    running = []
    try:
        for fmt in dict.fromkeys(output.formats):
            running.append(_start(fmt, frames_dir, first, count, fps,
                                  out_dir / f"{output.name}.{fmt}", gif))
        return [enc.finish() for enc in running]
    finally:
        for enc in running:  # one failed: the others are not left behind
            if enc.proc.poll() is None:
                enc.proc.kill()
                enc.proc.wait()
            enc.tmp.unlink(missing_ok=True)
