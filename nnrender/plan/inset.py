"""The metrics inset: the dump's epoch metrics as curves in a corner of the frame, drawn
once, with a marker on each riding the epoch the video shows. Planned in the overlay's
screen units, pinned to the camera like the captions (sharp under depth of field)."""

from __future__ import annotations

import difflib

import numpy as np

from nnrender.config.story import MetricsConfig
from nnrender.errors import ConfigError
from nnrender.plan.context import PlanContext
from nnrender.plan.types import Inset, ScreenText

PALETTE = [(0.98, 0.62, 0.18), (0.35, 0.75, 1.0), (0.55, 0.9, 0.45), (0.95, 0.45, 0.7),
           (0.85, 0.85, 0.35)]
MARGIN = 0.06  # the inset keeps this share of the half height from the frame's edges
CLEAR_PAD = 0.03  # the framing keeps the network this far (frame coordinates) off the inset
TEXT = 0.055  # its text, a share of the half height


def metric_series(ctx: PlanContext, cfg: MetricsConfig) -> list[tuple[str, np.ndarray]]:
    """Per metric asked for, its value at each shown epoch (NaN where not recorded)."""
    epochs = [ctx.dump.manifest.epochs[e] for e in ctx.epoch_ids]
    known = sorted({k for ep in epochs for k in ep.metrics})
    out = []
    for i, name in enumerate(cfg.show):
        if name not in known:
            near = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
            hint = (f" (did you mean {', '.join(near)}?)" if near else
                    f" (recorded: {', '.join(known)})" if known else " (the dump has none)")
            raise ConfigError(ctx.source, f"metrics.show[{i}]: no metric {name!r} in the "
                                          f"dump's epochs{hint}")
        out.append((name, np.array([ep.metrics.get(name, np.nan) for ep in epochs], float)))
    return out


def metrics_box(cfg: MetricsConfig, half_w: float, half_h: float
                ) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the inset in a frame ``2 half_w`` x ``2 half_h`` wide and high,
    centred on 0 (the overlay's units)."""
    width = cfg.size * 2 * half_w
    height = 0.55 * width
    x0 = -half_w + MARGIN * half_h if "left" in cfg.corner else half_w - MARGIN * half_h - width
    y1 = half_h - MARGIN * half_h if "upper" in cfg.corner else -half_h + MARGIN * half_h + height
    return x0, y1 - height, x0 + width, y1


def keep_clear(cfg: MetricsConfig | None, width: int, height: int
               ) -> tuple[float, float, float, float] | None:
    """The inset's box in -1..1 frame coordinates, a little grown: where the framing keeps
    the network out of (None without an inset)."""
    if cfg is None:
        return None
    aspect = width / height
    x0, y0, x1, y1 = metrics_box(cfg, aspect, 1.0)
    pad = CLEAR_PAD
    return (x0 / aspect - pad, y0 - pad, x1 / aspect + pad, y1 + pad)


def inset(ctx: PlanContext, half_w: float, half_h: float) -> Inset | None:
    cfg = ctx.config.metrics
    if cfg is None:
        return None
    series = metric_series(ctx, cfg)
    x0, y0, x1, y1 = metrics_box(cfg, half_w, half_h)
    width = x1 - x0
    size = TEXT * half_h
    # the plot area inside the box: room for the names above and the epoch range below
    px0, px1 = x0 + 0.06 * width, x0 + 0.96 * width
    py0, py1 = y0 + 1.9 * size, y1 - 1.3 * size * len(series) - 0.4 * size
    slots = len(ctx.epoch_ids)
    xs = np.linspace(px0, px1, slots) if slots > 1 else np.array([(px0 + px1) / 2])
    lines, colors, texts = [], [], []
    for i, (name, values) in enumerate(series):
        ok = np.isfinite(values)
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        span = hi - lo if hi > lo else 1.0
        ys = py0 + (np.where(ok, values, lo) - lo) / span * (py1 - py0)
        lines.append(np.stack([xs, ys], axis=1))
        colors.append(PALETTE[i % len(PALETTE)])
        texts.append(ScreenText(f"{name}  {lo:.3g} – {hi:.3g}", x0 + 0.04 * width,
                                y1 - 1.3 * size * (i + 1), size, "left", "bottom"))
    first = ctx.dump.manifest.epochs[ctx.epoch_ids[0]].epoch
    last = ctx.dump.manifest.epochs[ctx.epoch_ids[-1]].epoch
    texts.append(ScreenText(f"epoch {first}", px0, y0 + 0.4 * size, 0.85 * size, "left",
                            "bottom"))
    texts.append(ScreenText(f"{last}", px1, y0 + 0.4 * size, 0.85 * size, "right", "bottom"))
    story = ctx.story
    frames = np.arange(story.first_frame, story.last_frame + 1)
    slot = np.clip(np.array([story.states[int(k)][0] for k in np.clip(np.floor(
        story.value(frames)), 0, len(story.states) - 1)], float), 0, slots - 1)
    frac = np.clip(story.value(frames) - np.floor(story.value(frames)), 0, 1)
    nxt = np.array([story.states[min(int(k) + 1, len(story.states) - 1)][0] for k in
                    np.clip(np.floor(story.value(frames)), 0, len(story.states) - 1)], float)
    epoch_value = slot + (nxt - slot) * frac  # the shown epoch slot, fractional in blends
    markers = np.stack([np.stack([np.interp(epoch_value, np.arange(slots), line[:, 0]),
                                  np.interp(epoch_value, np.arange(slots), line[:, 1])],
                                 axis=1) for line in lines], axis=1)
    return Inset((x0, y0, x0 + width, y1), lines, colors, texts, frames, markers,
                 line_width=0.012 * half_h, marker_size=0.035 * half_h)
