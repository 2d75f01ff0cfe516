"""Stage 7: what dresses the network: camera, lights, epoch captions, the colour bar and
everything pinned to the screen, bloom, and the looks of connections that depend on the
final framing. All of it decided here, so that a view of the plan only translates it."""

from __future__ import annotations

import dataclasses

import numpy as np

from nnrender import colormaps
from nnrender.config.schema import LookConfig
from nnrender.edges.groups import FieldPlan
from nnrender.layout.camera import SENSOR
from nnrender.layout.labels import text_extent
from nnrender.plan.context import PlanContext
from nnrender.plan.framing import Framing, orbit
from nnrender.plan.inset import inset
from nnrender.plan.paint import symmetric
from nnrender.plan.types import (
    Bloom,
    CameraPlan,
    CameraTrack,
    Caption,
    Legend,
    Light,
    Overlay,
    Plate,
    ScreenText,
)

DOF_DISTANCE = 1.0  # metres: depth of field as if the network were a model this far away
OVERLAY_DEPTH = 0.05  # overlays sit this share of the camera distance in front of it
CLIP_START = 0.01  # near clip, as a share of the distance (and at least 0.01)
CLIP_END = 10.0  # far clip, as a multiple of the distance
CAPTION_SIZE = 0.07  # caption text, a share of the half height
LEGEND_TEXT = 0.06  # tick labels, a share of the half height
LEGEND_THICK = 0.045  # the bar, a share of the half height
LEGEND_LENGTH = 0.5  # the bar, a share of the half width
EDGE = (0.94, 0.92)  # overlays keep this share of the half width/height from the centre
GLARE_THRESHOLD = 0.3  # linear brightness where bloom starts: the brighter map colours
GLARE_SIZE = 0.6
CARD_FADE = 0.3  # seconds a title card or lower third takes to fade in, and out
OVERLAY_SAMPLES = 16  # at most, for the overlay scene (its text edges)
EDGE_MIN_EMISSION = 1.0  # edges: flat colour at least this bright (exact on white paper)
FIELD_LINE_SHARE = 0.03  # the receptive field's outline radius, of its typical side...
FIELD_LINE_MIN = 2.5e-4  # ...and at least this share of the camera distance (~1 px, 1080p)


def camera(ctx: PlanContext, framing: Framing) -> CameraPlan:
    cam = ctx.config.camera
    az0, az1, _ = orbit(ctx.config)
    distance = framing.distance
    # Blender blurs in metres, and a network is tens of units across: the f-stop is scaled
    # as if the network were a desk model seen from DOF_DISTANCE, so f/2.8 looks the same
    # for a 10-layer CNN and for ResNet-50
    fstop = None if cam.fstop is None else cam.fstop * DOF_DISTANCE / distance
    return CameraPlan(tuple(float(v) for v in framing.target), distance, cam.elevation, az0,
                      az1, cam.lens, "orthographic" if framing.ortho else "perspective",
                      framing.ortho, fstop, SENSOR, max(CLIP_START, distance * CLIP_START),
                      distance * CLIP_END)


def follow(cam: CameraPlan, track: CameraTrack) -> CameraPlan:
    """The camera of a story: its first frame's placement, the clipping (and, through the
    overlay, the pinned overlays' depth) set for the nearest and farthest it comes."""
    target, az, el, dist, ortho = track.at(int(track.frames[0]))
    near, far = float(track.distance.min()), float(track.distance.max())
    return dataclasses.replace(
        cam, target=tuple(float(v) for v in target), distance=dist, elevation=el,
        azimuth_start=az, azimuth_end=float(track.azimuth[-1]),
        ortho_scale=ortho if cam.orthographic else 0.0,
        clip_start=max(CLIP_START * near / 10, min(CLIP_START, near * CLIP_START)),
        clip_end=far * CLIP_END, track=track)


def lights(lo: np.ndarray, hi: np.ndarray, kind: str) -> list[Light]:
    """A light rig around the box ``lo``..``hi``, energies scaled with its size."""
    center = (lo + hi) / 2
    span = float(np.linalg.norm(hi - lo))
    e = span * span

    def at(v: list[float]) -> tuple[float, float, float]:
        return tuple(float(x) for x in center + np.array(v) * span)

    if kind == "soft":  # big, even, from the camera side: shapes read, no hard shadows
        return [
            Light("key", "area", at([-0.5, -0.9, 1.0]), 5.0 * e, 1.2 * span, (1.0, 0.98, 0.95)),
            Light("fill", "area", at([-0.9, 0.6, 0.4]), 3.0 * e, 1.2 * span, (0.95, 0.97, 1.0)),
            Light("top", "area", at([0.0, 0.0, 1.2]), 2.5 * e, 1.5 * span),
        ]
    if kind == "rim":  # dark front, a strong back light outlining the slabs
        return [
            Light("key", "area", at([-0.7, -0.8, 0.6]), 3.0 * e, 0.4 * span, (1.0, 0.93, 0.85)),
            Light("rim", "area", at([0.9, 0.5, 0.7]), 16.0 * e, 0.3 * span, (0.7, 0.85, 1.0)),
            Light("rim2", "area", at([0.6, -0.6, 0.9]), 6.0 * e, 0.3 * span, (0.8, 0.9, 1.0)),
        ]
    return [
        Light("key", "area", at([-0.6, -0.9, 0.8]), 9.0 * e, 0.5 * span, (1.0, 0.96, 0.9)),
        Light("fill", "area", at([-0.9, 0.7, 0.2]), 3.0 * e, 0.6 * span, (0.85, 0.9, 1.0)),
        Light("rim", "area", at([0.9, 0.3, 0.9]), 6.0 * e, 0.4 * span, (0.8, 0.9, 1.0)),
    ]


def _epoch_text(ctx: PlanContext, slot: int) -> str:
    ep = ctx.dump.manifest.epochs[ctx.epoch_ids[slot]]
    text = f"epoch {ep.epoch}"
    acc = ep.metrics.get("val_accuracy", ep.metrics.get("accuracy"))
    if acc is not None:
        text += f"   accuracy {acc:.1%}"
    return text


def captions(ctx: PlanContext) -> list[Caption]:
    """One caption per shown epoch ("epoch 3   accuracy 91.2%"), changing half-way through
    the blend into the next epoch; and each shot's title card and lower-third caption."""
    out = []
    story = ctx.story
    if ctx.config.labels.epoch_caption and story.interpolation == "BEZIER":
        timeline = ctx.timeline  # the epochs one after another
        for slot in range(len(ctx.epoch_ids)):
            last = slot + 1 == len(ctx.epoch_ids)
            start = timeline.frame_of_epoch(slot)
            end = timeline.last_frame if last else timeline.frame_of_epoch(slot + 1) - 1
            start = max(timeline.first_frame, start - timeline.blend_frames // 2)
            end = end if last else end - timeline.blend_frames // 2
            out.append(Caption(_epoch_text(ctx, slot), start, end))
    elif ctx.config.labels.epoch_caption:  # a story: the epoch of the nearest state
        frames = np.arange(story.first_frame, story.last_frame + 1)
        nearest = np.clip(np.rint(story.value(frames)), 0, len(story.states) - 1).astype(int)
        texts = [_epoch_text(ctx, story.states[k][0]) for k in nearest]
        start = 0
        for i in range(1, len(frames) + 1):
            if i == len(frames) or texts[i] != texts[start]:
                out.append(Caption(texts[start], int(frames[start]), int(frames[i - 1])))
                start = i
    fade = round(CARD_FADE * ctx.config.render.fps)
    out += [Caption(text, a, b, kind, min(fade, (b - a + 1) // 3))
            for kind, text, a, b in story.texts]
    return out


def legend(look: LookConfig) -> Legend | None:
    if not look.legend:
        return None
    colors = np.concatenate([colormaps.lut(look.colormap), np.full((256, 1), 255, np.uint8)],
                            axis=1)
    if symmetric(look.norm, look.colormap):
        ticks = [(0.0, "−"), (0.5, "0"), (1.0, "+")]
        title = "activation (each layer: ± its range)"
    else:
        lo, hi = look.percentiles
        ticks = [(0.0, "low"), (1.0, "high")]
        title = f"activation (each layer: p{lo:g}–p{hi:g})"
    return Legend(colors, title, ticks)


def overlay(ctx: PlanContext, cam: CameraPlan, caps: list[Caption],
            bar: Legend | None) -> Overlay:
    """The screen rectangle at the overlay depth; captions in the lower left; the colour
    bar (placed on ``bar``) in the lower right, tick labels under it and its title above."""
    width, height = ctx.size
    near = cam.distance if cam.track is None else float(cam.track.distance.min())
    depth = OVERLAY_DEPTH * near  # in front of anything the camera comes close to
    half_big = cam.ortho_scale / 2 if cam.orthographic else cam.sensor / 2 / cam.lens * depth
    if width >= height:
        half_w, half_h = half_big, half_big * height / width
    else:
        half_w, half_h = half_big * width / height, half_big
    left, bottom = -half_w * EDGE[0], -half_h * EDGE[1]
    texts = [_caption_text(c, left, bottom, half_h) for c in caps]
    if bar is not None:
        size = LEGEND_TEXT * half_h
        thick = LEGEND_THICK * half_h
        length = LEGEND_LENGTH * half_w
        # the last tick label is centred on the bar's end: leave room for its right half
        last = len(bar.ticks[-1][1]) if bar.ticks else 0
        right = half_w * EDGE[0] - 0.3 * size * last
        x0 = right - length
        y0 = bottom + 1.35 * size  # room for the tick labels under the bar
        bar.bar = (x0, y0, right, y0 + thick)
        bar.texts = [ScreenText(text, x0 + float(pos) * length, y0 - 0.35 * size, size,
                                "center", "top") for pos, text in bar.ticks]
        if bar.title:
            bar.texts.append(ScreenText(bar.title, (x0 + right) / 2, y0 + thick + 0.4 * size,
                                        1.1 * size, "center", "bottom"))
    plot = inset(ctx, half_w, half_h)
    separate = cam.fstop is not None and bool(caps or bar is not None or plot is not None)
    scale = root_scale(cam, depth)
    plates = []
    story = ctx.story
    if plot is not None:
        plates.append(Plate(plot.box, story.first_frame, story.last_frame))
    for cap, spot in zip(caps, texts, strict=True):
        if cap.kind in ("title", "lower"):  # backdrops: they read over the network
            w, h = text_extent(spot.text, spot.size)
            pad = 0.6 * spot.size
            x0 = spot.x - {"left": 0.0, "center": w / 2, "right": w}[spot.align_x]
            plates.append(Plate((x0 - pad, spot.y - pad, x0 + w + pad, spot.y + h + pad),
                                cap.frame_start, cap.frame_end, fade=cap.fade))
    return Overlay(depth, half_w, half_h, texts, separate, OVERLAY_SAMPLES, plot, plates,
                   scale)


TITLE_SIZE = 0.15  # a title card's text, a share of the half height
LOWER_SIZE = 0.095  # a lower-third caption's


def _caption_text(cap: Caption, left: float, bottom: float, half_h: float) -> ScreenText:
    """Where a caption goes: epoch captions in the lower left, lower thirds above them,
    titles in the middle of the upper half."""
    if cap.kind == "title":
        return ScreenText(cap.text, 0.0, 0.18 * half_h, TITLE_SIZE * half_h, "center",
                          "bottom")
    if cap.kind == "lower":
        return ScreenText(cap.text, left, bottom + 2.0 * CAPTION_SIZE * half_h,
                          LOWER_SIZE * half_h, "left", "bottom")
    return ScreenText(cap.text, left, bottom, CAPTION_SIZE * half_h, "left", "bottom")


def clip_starts(cam: CameraPlan) -> np.ndarray | None:
    """The near clip per frame of a story's camera (None: fixed)."""
    track = cam.track
    if track is None or track.clip_share is None:
        return None
    return np.maximum(cam.clip_start, track.clip_share * track.distance)


def root_scale(cam: CameraPlan, depth: float) -> np.ndarray | None:
    """Per frame (x/y, depth) scale of the pinned things about the camera: an orthographic
    zoom scales them with it; a near clip beyond their depth pushes them out past it (in
    perspective that leaves their size on screen as it is)."""
    track = cam.track
    if track is None:
        return None
    xy = np.ones(track.count)
    if cam.orthographic and cam.ortho_scale > 0:
        xy = track.ortho_scale / cam.ortho_scale
    z = np.ones(track.count)
    clip = clip_starts(cam)
    if clip is not None:
        z = np.maximum(1.0, 1.08 * clip / depth)
        if not cam.orthographic:
            xy = z
    if np.allclose(xy, 1.0) and np.allclose(z, 1.0):
        return None
    return np.stack([xy, z], axis=1)


def bloom(look: LookConfig) -> Bloom | None:
    return Bloom(look.glow, GLARE_THRESHOLD, GLARE_SIZE) if look.glow > 0 else None


def edge_emission(look: LookConfig) -> float:
    """Edges are flat colour: the style's map emission, at least 1 (exact colours on white
    paper; dark styles glow through their bloom)."""
    return max(EDGE_MIN_EMISSION, float(look.emission))


def field_look(field: FieldPlan, look: LookConfig, cam: CameraPlan) -> FieldPlan:
    """The receptive field's emission and outline radius: a small share of its typical
    rectangle side, but never under ~1 px at 1080p."""
    q = np.asarray(field.quads, dtype=np.float64).reshape(-1, 4, 3)
    sides = np.linalg.norm(q - np.roll(q, 1, axis=1), axis=-1)
    typical = float(np.median(sides)) if sides.size else 0.0
    radius = max(FIELD_LINE_SHARE * typical, FIELD_LINE_MIN * float(cam.distance))
    return dataclasses.replace(field, emission=edge_emission(look), line_radius=radius)
