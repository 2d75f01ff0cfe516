"""A talk video's story in frames: shots, which recorded (epoch, input) states show when,
forward-pass waves and on-screen titles. Pure.

The renderer blends between *states*: pairs (shown epoch slot, recorded input) laid out
along one path, the atlas holding one block per state and one keyed value (the path
position) choosing and mixing two neighbours, exactly as it blends epochs. A story visits
epochs and inputs in any order: the path lists the states in the order they are visited
(a state visited again later is listed again), so every blend runs between neighbours.
Epoch blends and input blends must not overlap in time.

Without shots, inputs or waves the story is today's: the epochs hold and ease in turn
(``EpochTimeline``), one input, the camera orbiting once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnrender.config.schema import SceneConfig
from nnrender.errors import ConfigError
from nnrender.timeline.epochs import EpochTimeline, smoothstep

WAVE_SOFT = 0.6  # graph depths over which a layer lights up as the wave passes
WAVE_LEAD = 0.3  # seconds the network dims before a wave leaves the input (no pop)


@dataclass(frozen=True)
class ShotSpan:
    """Shot ``index`` of the scene over frames ``start``..``end`` (inclusive); ``blend``:
    frames at its start over which the camera eases in from the previous shot."""

    index: int
    start: int
    end: int
    blend: int = 0


@dataclass(frozen=True)
class Wave:
    """A forward pass: over the ``lead`` frames before ``start`` the network dims, then the
    front runs from depth ``-soft`` at ``start`` to ``depth + soft`` at ``end`` (linearly);
    layers ahead of it stay dark, and once it has passed every layer is lit again."""

    start: int
    end: int
    depth: float
    soft: float = WAVE_SOFT
    lead: int = 0

    def front(self, frame: float | np.ndarray) -> np.ndarray:
        t = np.clip((np.asarray(frame, dtype=np.float64) - self.start)
                    / max(self.end - self.start, 1), 0.0, 1.0)
        return -self.soft + t * (self.depth + 2 * self.soft)

    def on(self, frame: float | np.ndarray) -> np.ndarray:
        """0..1: how far the dimming has come (ramps over the lead, 1 until the end)."""
        f = np.asarray(frame, dtype=np.float64)
        ramp = np.clip((f - (self.start - self.lead)) / max(self.lead, 1), 0.0, 1.0)
        return np.where((f >= self.start - self.lead) & (f <= self.end),
                        np.where(f >= self.start, 1.0, ramp), 0.0)


@dataclass
class Story:
    """Frames ``first_frame``..``last_frame`` at ``fps``: the path of states and its value
    per frame, the shots, the waves, the titles and lower-third captions."""

    fps: int
    first_frame: int
    last_frame: int
    states: list[tuple[int, int]]  # (shown epoch slot, recorded input) along the path
    keys: list[tuple[float, float]]  # (frame, path position)
    interpolation: str = "BEZIER"  # BEZIER: eased keys (the epoch timeline); LINEAR: per frame
    shots: list[ShotSpan] = field(default_factory=list)
    waves: list[Wave] = field(default_factory=list)
    texts: list[tuple[str, str, int, int]] = field(default_factory=list)  # kind, text, a, b

    @property
    def frame_count(self) -> int:
        return self.last_frame - self.first_frame + 1

    def value(self, frame: float | np.ndarray) -> np.ndarray:
        """Path position at a frame: what the renderer's keyed value traces."""
        from nnrender.timeline.epochs import keyed

        if self.interpolation == "LINEAR":
            f = np.asarray(frame, dtype=np.float64)
            frames = np.array([k[0] for k in self.keys])
            return np.interp(f, frames, np.array([k[1] for k in self.keys]))
        return keyed(self.keys, frame)

    def state_at(self, frame: float) -> tuple[int, int]:
        """The state nearest the path position at ``frame``."""
        return self.states[int(np.clip(round(float(self.value(frame))), 0,
                                       len(self.states) - 1))]

    def wave_values(self, frame: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(front, on) at frames: ``on`` is 1 while a wave runs, ramping up over its lead
        (0 elsewhere)."""
        f = np.asarray(frame, dtype=np.float64)
        front = np.full(f.shape, 0.0)
        on = np.zeros(f.shape)
        for w in self.waves:
            inside = (f >= w.start - w.lead) & (f <= w.end)
            front = np.where(inside, w.front(f), front)
            on = np.where(inside, w.on(f), on)
        return front, on


def default_story(timeline: EpochTimeline, sample: int) -> Story:
    """Today's story: the epochs one after another, one input."""
    return Story(timeline.fps, timeline.first_frame, timeline.last_frame,
                 [(e, sample) for e in range(timeline.count)], timeline.keys())


# --------------------------------------------------------------------------- the tracks


def _frames(seconds: float, fps: int) -> int:
    return max(1, int(round(seconds * fps)))


def shot_spans(config: SceneConfig, source: str | Path) -> list[ShotSpan]:
    """Frames of each shot, one after another from frame 1."""
    fps = config.render.fps
    spans, start = [], 1
    for i, shot in enumerate(config.shots):
        if round(shot.duration * fps) < 1:
            raise ConfigError(source, f"shots[{i}].duration: {shot.duration:g} s is under one "
                                      f"frame at {fps} fps")
        n = _frames(shot.duration, fps)
        blend = 0 if shot.transition == "cut" else _frames(shot.transition.blend, fps)
        if i == 0:
            blend = 0
        elif blend > n:
            raise ConfigError(source, f"shots[{i}].transition.blend: {blend / fps:g} s is "
                                      f"longer than the shot ({shot.duration:g} s)")
        spans.append(ShotSpan(i, start, start + n - 1, blend))
        start += n
    return spans


def _epoch_slot(value: int | str, recorded: list[int], where: str, source: str | Path) -> int:
    if value == "first":
        return 0
    if value == "last":
        return len(recorded) - 1
    if value not in recorded:
        raise ConfigError(source, f"{where}: epoch {value} is not shown (the shown epochs: "
                                  f"{', '.join(map(str, recorded))})")
    return recorded.index(int(value))


def epoch_track(config: SceneConfig, spans: list[ShotSpan], recorded: list[int],
                last: int, source: str | Path) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Per frame 1..last the epoch slot shown (fractional while blending), and the frame
    ranges over which it blends (for the overlap check)."""
    frames = np.arange(1, last + 1, dtype=np.float64)
    value = np.zeros(len(frames))
    current = 0.0
    blends: list[tuple[int, int]] = []
    hold, blend = config.timeline.hold, config.timeline.blend
    for span, shot in zip(spans, config.shots, strict=True):
        idx = slice(span.start - 1, span.end)
        local = frames[idx] - span.start
        n = span.end - span.start + 1
        if shot.epochs == "play":
            top = len(recorded) - 1
            steps = top - math.floor(current)
            if steps <= 0:
                value[idx] = current
            else:
                # the remaining epochs share the shot: each holds, then eases into the next
                period = n / (steps + hold / max(hold + blend, 1e-9))
                h = period * hold / max(hold + blend, 1e-9)
                k = np.minimum(np.floor(local / period), steps)
                t = np.clip((local - k * period - h) / max(period - h, 1e-9), 0, 1)
                value[idx] = np.minimum(math.floor(current) + k + smoothstep(t), top)
                blends.append((span.start, span.end))
        elif shot.epochs is not None:
            target = float(_epoch_slot(shot.epochs, recorded, f"shots[{span.index}].epochs",
                                       source))
            if span.blend and target != current:
                t = smoothstep(np.clip(local / span.blend, 0, 1))
                value[idx] = current + (target - current) * t
                blends.append((span.start, span.start + span.blend))
            else:
                value[idx] = target
        else:
            value[idx] = current
        current = float(value[span.end - 1])
    return value, blends


def sample_track(config: SceneConfig, last: int, count: int, source: str | Path
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Per frame 1..last: the input shown (``src``), the one it blends into (``dst``) and
    the blend factor; and the blends' frame ranges."""
    fps = config.render.fps
    frames = np.arange(1, last + 1)
    src = np.full(last, config.sample)
    dst = src.copy()
    mix = np.zeros(last)
    blends: list[tuple[int, int]] = []
    current, previous_end = config.sample, 1
    for i, change in enumerate(sorted(config.inputs, key=lambda c: c.at)):
        where = f"inputs[{i}]"
        if change.sample >= count:
            raise ConfigError(source, f"{where}.sample: {change.sample}, but the dump has "
                                      f"{count} inputs")
        start = 1 + int(round(change.at * fps))
        if start > last:
            raise ConfigError(source, f"{where}: at {change.at:g} s, after the video's end "
                                      f"({last / fps:g} s)")
        if start < previous_end:
            raise ConfigError(source, f"{where}: starts before the previous input's blend "
                                      "ends")
        n = int(round(change.blend * fps))
        end = min(start + n, last + 1)
        inside = (frames >= start) & (frames < end)
        src[inside], dst[inside] = current, change.sample
        mix[inside] = smoothstep((frames[inside] - start + 1) / (n + 1))
        after = frames >= end
        src[after] = dst[after] = change.sample
        mix[after] = 0.0
        if n:
            blends.append((start, end - 1))
        current, previous_end = change.sample, end
    return src, dst, mix, blends


def _overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> tuple[int, int] | None:
    for a0, a1 in a:
        for b0, b1 in b:
            if a0 <= b1 and b0 <= a1:
                return max(a0, b0), min(a1, b1)
    return None


def _path(ev: np.ndarray, src: np.ndarray, dst: np.ndarray, mix: np.ndarray
          ) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The states in visiting order and each frame's position along them."""
    path: list[tuple[int, int]] = []
    pos = np.zeros(len(ev))
    f, n = 0, len(ev)
    while f < n:
        blending = src[f] != dst[f]
        g = f + 1
        # a run ends where the input changes, and at a cut (a jump of an epoch or more:
        # the states in between are never shown, so they need no atlas block)
        while g < n and (src[g] != dst[g]) == blending and src[g] == src[f] and \
                dst[g] == dst[f] and abs(ev[g] - ev[g - 1]) < 0.999:
            g += 1
        if blending:  # the epoch holds while the input blends
            e = int(round(ev[f]))
            if not path or path[-1] != (e, int(src[f])):
                path.append((e, int(src[f])))
            path.append((e, int(dst[f])))
            pos[f:g] = len(path) - 2 + mix[f:g]
        else:
            s = int(src[f])
            lo, hi = int(math.floor(ev[f:g].min())), int(math.ceil(ev[f:g].max()))
            if path and path[-1] == (lo, s):
                base = len(path) - 1
                path += [(x, s) for x in range(lo + 1, hi + 1)]
            else:
                base = len(path)
                path += [(x, s) for x in range(lo, hi + 1)]
            pos[f:g] = base + ev[f:g] - lo
        f = g
    return path, pos


def build_story(config: SceneConfig, timeline: EpochTimeline, recorded: list[int],
                count: int, source: str | Path) -> Story:
    """The story of a scene: today's when it has no shots and no inputs; else its shots'
    frames, the path of (epoch, input) states with a position per frame, the titles."""
    if not config.shots and not config.inputs:
        return default_story(timeline, config.sample)
    spans = shot_spans(config, source) if config.shots else []
    last = spans[-1].end if spans else timeline.last_frame
    if spans:
        ev, epoch_blends = epoch_track(config, spans, recorded, last, source)
    else:
        ev = timeline.value(np.arange(1, last + 1))
        epoch_blends = [(timeline.frame_of_epoch(k) + timeline.hold_frames - 1,
                         timeline.frame_of_epoch(k + 1)) for k in range(timeline.count - 1)]
    src, dst, mix, input_blends = sample_track(config, last, count, source)
    clash = _overlap(epoch_blends, input_blends)
    if clash is not None:
        raise ConfigError(source, f"inputs: an input blends while the epochs blend (frames "
                                  f"{clash[0]}-{clash[1]}); move it to a shot that holds "
                                  "one epoch")
    states, pos = _path(ev, src, dst, mix)
    keys = [(float(f), float(v)) for f, v in zip(range(1, last + 1), pos, strict=True)]
    texts = []
    for span, shot in zip(spans, config.shots, strict=True):
        if shot.title:
            texts.append(("title", shot.title, span.start, span.end))
        if shot.caption:
            texts.append(("lower", shot.caption, span.start, span.end))
    return Story(config.render.fps, 1, last, states, keys, "LINEAR", spans, [], texts)


def waves(config: SceneConfig, story: Story, depth: float, source: str | Path) -> list[Wave]:
    """The forward-pass waves in frames; ``depth``: the deepest layer's graph depth."""
    fps, out = config.render.fps, []
    for i, w in enumerate(sorted(config.forward, key=lambda w: w.at)):
        start = story.first_frame + int(round(w.at * fps))
        seconds = w.duration if w.duration is not None else (
            (w.per_layer or 0.25) * (depth + 1))
        end = start + _frames(seconds, fps)
        if end > story.last_frame:
            raise ConfigError(source, f"forward[{i}]: ends at {w.at + seconds:g} s, after "
                                      f"the video's end ({story.frame_count / fps:g} s)")
        if out and start <= out[-1].end:
            raise ConfigError(source, f"forward[{i}]: starts before the previous wave ends")
        # dim in before the front leaves, never before the video or the last wave's end
        floor = out[-1].end + 1 if out else story.first_frame
        lead = max(0, min(int(round(WAVE_LEAD * fps)), start - floor))
        out.append(Wave(start, end, float(depth), lead=lead))
    return out
