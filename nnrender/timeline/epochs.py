"""Epoch timeline: each epoch holds, then eases into the next.

The control value is the fractional index into the recorded epochs. Keys sit at the start and
end of every hold; between two holds the value follows smoothstep, which is exactly what a
Bezier segment with flat (auto-clamped) handles at both ends traces, so Blender's single
fcurve and this pure model agree frame for frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from nnrender.errors import ConfigError


def smoothstep(t: np.ndarray | float) -> np.ndarray | float:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class EpochTimeline:
    JSON_EXTRA = ("keys", "last_frame")

    count: int
    fps: int
    hold_frames: int
    blend_frames: int
    end_frames: int
    first_frame: int = 1

    @classmethod
    def from_seconds(
        cls, count: int, fps: int, hold: float, blend: float, end_hold: float
    ) -> EpochTimeline:
        if count < 1:
            raise ValueError("need at least one epoch")
        hold_f = max(1, round(hold * fps))
        blend_f = max(1, round(blend * fps)) if count > 1 else 0
        return cls(count, fps, hold_f, blend_f, max(0, round(end_hold * fps)))

    @property
    def period(self) -> int:
        return self.hold_frames + self.blend_frames

    @property
    def last_frame(self) -> int:
        return (
            self.first_frame + (self.count - 1) * self.period + self.hold_frames - 1
            + self.end_frames
        )

    @property
    def frame_count(self) -> int:
        return self.last_frame - self.first_frame + 1

    def keys(self) -> list[tuple[int, float]]:
        """(frame, value) keys: the start and end of every hold, plus the final frame."""
        out: list[tuple[int, float]] = []
        for k in range(self.count):
            start = self.first_frame + k * self.period
            out.append((start, float(k)))
            end = start + self.hold_frames - 1
            if end > start:
                out.append((end, float(k)))
        if out[-1][0] < self.last_frame:
            out.append((self.last_frame, float(self.count - 1)))
        return out

    def value(self, frame: float | np.ndarray) -> np.ndarray:
        """Fractional epoch index at a frame (vectorised); clamps outside the range."""
        f = np.asarray(frame, dtype=np.float64) - self.first_frame
        period = self.period
        k = np.clip(np.floor(f / period), 0, self.count - 1)
        local = f - k * period
        hold_end = self.hold_frames - 1
        # blending runs from the last hold frame of k to the first hold frame of k + 1
        t = (local - hold_end) / (self.blend_frames + 1) if self.blend_frames else 0 * local
        v = k + smoothstep(t)
        v = np.where(k >= self.count - 1, self.count - 1, v)
        return np.clip(np.where(f < 0, 0.0, v), 0, self.count - 1)

    def frame_of_epoch(self, index: int) -> int:
        """First frame that fully shows recorded epoch ``index``."""
        return self.first_frame + index * self.period


def keyed(keys: list[tuple[float, float]], frame: float | np.ndarray) -> np.ndarray:
    """Value of (frame, value) keys eased by smoothstep between neighbours: what Blender's
    Bezier keys with flat handles trace. Constant before the first and after the last key."""
    f = np.asarray(frame, dtype=np.float64)
    frames = np.array([k[0] for k in keys], dtype=np.float64)
    values = np.array([k[1] for k in keys], dtype=np.float64)
    i = np.clip(np.searchsorted(frames, f, side="right") - 1, 0, len(keys) - 1)
    j = np.minimum(i + 1, len(keys) - 1)
    span = frames[j] - frames[i]
    t = np.where(span > 0, (f - frames[i]) / np.where(span > 0, span, 1.0), 0.0)
    return values[i] + (values[j] - values[i]) * smoothstep(t)


class Frames(Protocol):
    """A video's frame range and rate: an ``EpochTimeline`` or a ``story.Story``."""

    fps: int
    first_frame: int
    last_frame: int


def change_keys(timeline: Frames, start: float,
                changes: list[tuple[str, float, float, float]], source: str | Path
                ) -> list[tuple[float, float]]:
    """(frame, value) keys for animated changes, each ``(where, at, over, value)``: at
    ``at`` seconds the value starts easing from where it is to ``value`` over ``over``
    seconds. Changes come in time order; one that overlaps the previous one or ends after
    the video is a config error naming ``where``."""
    fps, first, last = timeline.fps, timeline.first_frame, timeline.last_frame
    keys: list[tuple[float, float]] = [(float(first), float(start))]
    for where, at, over, value in changes:
        a = first + round(at * fps)
        b = first + round((at + over) * fps)
        if b > last:
            raise ConfigError(source, f"{where}: ends at {at + over:g} s, after the video's "
                                      f"end ({(last - first + 1) / fps:g} s)")
        if a < keys[-1][0]:
            raise ConfigError(source, f"{where}: starts before the previous change ends")
        if a > keys[-1][0]:
            keys.append((float(a), keys[-1][1]))
        keys.append((float(max(b, a)), float(value)))
    return keys
