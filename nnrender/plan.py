"""Dump + config -> ScenePlan: everything Blender needs, as plain data (no bpy).

The plan is the Kubric-style scene description: the Blender side only translates it.
Activation colours are decided here, with one normalisation per layer fixed across all
epochs and inputs, so a brightness means the same thing at epoch 1 and epoch 8.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnrender import colormaps
from nnrender.config.load import per_layer
from nnrender.config.schema import LayoutConfig, SceneConfig
from nnrender.edges.connect import bundle_keys, edge_targets, plan_edges
from nnrender.edges.groups import EdgeGroup, FieldPlan
from nnrender.errors import ConfigError, DumpError
from nnrender.layout import atlas as atlas_mod
from nnrender.layout import network
from nnrender.layout.atlas import AtlasPlan
from nnrender.layout.camera import View, frame_points, frame_points_ortho, half_tangents
from nnrender.layout.labels import label_priority, place_labels, text_extent
from nnrender.layout.network import LayerBlock, LayerStyle, arrange
from nnrender.model.ir import Dump, LayerInfo
from nnrender.output.encode import temp_path
from nnrender.timeline.epochs import EpochTimeline, change_keys, keyed

PLAN_VERSION = 2
NORM_SAMPLE = 250_000  # values per layer for the percentiles; beyond that a seeded sample
DIVERGING = {"coolwarm"}
LABEL_HEIGHT = 0.021  # label text size, at least this share of the frame height...
LABEL_MAX = 0.04  # ...and at most this
DOF_DISTANCE = 1.0  # metres: depth of field as if the network were a model this far away
PLACEHOLDER_GREY = 90
PAD_GREY = 40

__all__ = ["AtlasPlan", "CameraPlan", "Caption", "Label", "LayerPlan", "Legend", "Light",
           "ScenePlan", "make_plan", "normalisation"]


@dataclass
class LayerPlan:
    name: str
    type: str
    role: str
    shape: list[int]
    centers: np.ndarray  # (n, 3) cells at the start (stage 0)
    sizes: np.ndarray  # (n, 3)
    tiles: np.ndarray  # (n, 4) interior rect x, y, w, h in its page's block pixels, rows top-down
    norm: tuple[float, float]
    placeholder: bool = False
    page: int = 0
    sources: np.ndarray | None = None  # (n,) channel index, or network.SUMMARY_MEAN etc.
    # animated arrangements: (S, n, 3) per stage and (frame, stage) keys; None when static
    stage_centers: np.ndarray | None = None
    stage_sizes: np.ndarray | None = None
    stage_keys: list[tuple[float, float]] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)

    @property
    def stage_count(self) -> int:
        """Arrangement stages: 1 for a static layer."""
        if self.stage_centers is None or not self.stage_keys:
            return 1
        return len(self.stage_centers)

    def at(self, frame: float) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres and sizes at a frame: stages mixed in a chain, like the node tree."""
        if self.stage_count == 1:
            return self.centers, self.sizes
        value = float(keyed(self.stage_keys, frame))
        c, s = self.stage_centers[0].copy(), self.stage_sizes[0].copy()
        for i in range(1, len(self.stage_centers)):
            t = min(max(value - (i - 1), 0.0), 1.0)
            c += (self.stage_centers[i] - c) * t
            s += (self.stage_sizes[i] - s) * t
        return c, s


@dataclass
class Label:
    text: str
    position: tuple[float, float, float]
    size: float
    layer: str


@dataclass
class Caption:
    """On-screen text shown from ``frame_start`` to ``frame_end`` (inclusive)."""

    text: str
    frame_start: int
    frame_end: int


@dataclass
class Light:
    name: str
    kind: str
    position: tuple[float, float, float]
    energy: float
    size: float
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass
class CameraPlan:
    target: tuple[float, float, float]
    distance: float
    elevation: float
    azimuth_start: float
    azimuth_end: float
    lens: float
    projection: str = "PERSP"  # or "ORTHO"
    ortho_scale: float = 0.0  # view width in world units (orthographic)
    fstop: float | None = None  # depth of field focused on the target; None is off

    def view(self, azimuth: float, width: int, height: int) -> View:
        return View(np.asarray(self.target), self.distance, azimuth, self.elevation, self.lens,
                    width, height, self.ortho_scale if self.projection == "ORTHO" else None)


@dataclass
class Legend:
    """A colour bar pinned to the lower right of the frame."""

    colors: np.ndarray  # (256, 4) uint8 sRGB, low to high
    title: str
    ticks: list[tuple[float, str]]  # (position 0..1 along the bar, text)


@dataclass
class ScenePlan:
    version: int
    layers: list[LayerPlan]
    labels: list[Label]
    captions: list[Caption]
    lights: list[Light]
    camera: CameraPlan
    atlas: AtlasPlan
    epochs: list[int]
    timeline: EpochTimeline
    render: dict[str, Any]
    look: dict[str, Any]
    seed: int
    legend: Legend | None = None
    warnings: list[str] = field(default_factory=list)
    # connections (issue 5): one Curves data-block per group; bundling strength keyed
    edges: list[EdgeGroup] = field(default_factory=list)
    frustum: FieldPlan | None = None  # a receptive field, when the scene asks for one
    bundle: float = 0.0  # strength at the first frame (0 straight .. 1 bundled)
    bundle_keys: list[tuple[float, float]] = field(default_factory=list)  # (frame, strength)

    @property
    def cell_count(self) -> int:
        return sum(layer.centers.shape[0] for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe description; atlas pixels are left out (see ``save``)."""

        def arr(a: np.ndarray | None) -> list | None:
            if a is None:
                return None
            return np.round(a, 6).tolist() if a.dtype.kind == "f" else a.tolist()

        lay = self.atlas.layout
        return {
            "format": "nnrender-plan",
            "version": self.version,
            "epochs": self.epochs,
            "seed": self.seed,
            "timeline": asdict(self.timeline) | {"keys": self.timeline.keys(),
                                                  "last_frame": self.timeline.last_frame},
            "render": self.render,
            "look": self.look,
            "camera": asdict(self.camera),
            "lights": [asdict(light) for light in self.lights],
            "labels": [asdict(label) for label in self.labels],
            "captions": [asdict(c) for c in self.captions],
            "legend": None if self.legend is None else {
                "title": self.legend.title, "ticks": self.legend.ticks,
                "colors": arr(self.legend.colors)},
            "atlas": {"epochs": lay.epochs,
                      "pages": [{"width": pg.width, "height": pg.height,
                                 "block_w": pg.block_w, "block_h": pg.block_h,
                                 "grid_cols": pg.grid_cols, "grid_rows": pg.grid_rows}
                                for pg in lay.pages],
                      "factor": list(lay.factor)},
            "layers": [
                {
                    "name": lp.name, "type": lp.type, "role": lp.role, "shape": lp.shape,
                    "norm": list(lp.norm), "placeholder": lp.placeholder, "page": lp.page,
                    "centers": arr(lp.centers), "sizes": arr(lp.sizes), "tiles": arr(lp.tiles),
                    "sources": arr(lp.sources), "stages": lp.stages,
                    "stage_centers": arr(lp.stage_centers), "stage_sizes": arr(lp.stage_sizes),
                    "stage_keys": lp.stage_keys,
                }
                for lp in self.layers
            ],
            "warnings": self.warnings,
            # curve points stay out (100k edges x 16 points); counts and looks go in
            "edges": [{"name": g.name, "kind": g.kind, "source": g.source, "target": g.target,
                       "count": g.count, "samples": g.samples, "radius": g.radius,
                       "min_radius": g.min_radius, "opacity": g.opacity,
                       "positive": g.positive, "negative": g.negative} for g in self.edges],
            "bundle": self.bundle,
            "bundle_keys": self.bundle_keys,
            "frustum": None if self.frustum is None else {
                "layer": self.frustum.layer, "channel": self.frustum.channel,
                "pixel": list(self.frustum.pixel), "layers": self.frustum.layers,
                "rects": self.frustum.rects, "quads": arr(self.frustum.quads)},
        }

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "plan.json"
        tmp = temp_path(path)  # farm chunks save the same plan into one folder at once
        tmp.write_text(json.dumps(self.to_json()) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path


def _layer_values(acts: list[np.ndarray], seed: int) -> np.ndarray:
    """The values a layer's range is taken from: all of them, or a fixed random sample of
    every epoch (seeded, so deterministic; percentiles of 250k values are stable to ~0.1%).
    Not a stride: a stride that shares a factor with the channel count sees some maps only."""
    total = sum(a.size for a in acts)
    if total <= NORM_SAMPLE:
        return np.concatenate([a.ravel() for a in acts]).astype(np.float32)
    rng = np.random.default_rng(seed)
    per = -(-NORM_SAMPLE // len(acts))
    return np.concatenate([a.ravel()[rng.integers(0, a.size, per)] for a in acts]).astype(
        np.float32)


def _symmetric(norm: str, cmap: str) -> bool:
    return norm == "symmetric" or (norm == "auto" and cmap in DIVERGING)


def normalisation(values: np.ndarray, percentiles: tuple[float, float],
                  symmetric: bool = False) -> tuple[float, float]:
    """(low, high) from robust percentiles; never a zero-width range. Symmetric ranges are
    centred on zero so a diverging map's middle colour means zero."""
    lo, hi = np.percentile(values, percentiles)
    lo, hi = float(lo), float(hi)
    if symmetric:
        m = max(abs(lo), abs(hi))
        lo, hi = -m, m
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


# --------------------------------------------------------------------------- per-layer styles

@dataclass
class _Resolved:
    style: LayerStyle
    changes: list[Any]  # ChangeConfig, sorted by time
    label: bool | None
    colormap: str


def _resolve_styles(layout: LayoutConfig, layers: list[LayerInfo], default_cmap: str,
                    source: str | Path) -> list[_Resolved]:
    """Scene ``layout.layers`` entries (names or glob patterns, later ones win) per layer.
    A pattern that matches no layer is an error: it is almost always a typo."""
    out = []
    names = [layer.name for layer in layers]
    for merged in per_layer(layout.layers, names, "layout.layers", source):
        first = merged.get("arrange") or layout.arrange
        changes = sorted(merged.get("changes", []), key=lambda c: c.at)
        style = LayerStyle(
            arrange=[first] + [c.arrange for c in changes],
            show=merged.get("show", layout.show),
            summary=merged.get("summary") or layout.summary,
            dense=merged.get("dense") or layout.dense,
            dense_limit=layout.dense_limit,
        )
        out.append(_Resolved(style, changes, merged.get("label"),
                             merged.get("colormap") or default_cmap))
    return out


def _stage_keys(res: _Resolved, name: str, timeline: EpochTimeline,
                source: str | Path) -> list[tuple[float, float]]:
    if not res.changes:
        return []
    return change_keys(timeline, 0.0, [(f"layout.layers: {name}: changes[{i}]", c.at, c.over,
                                        i + 1) for i, c in enumerate(res.changes)], source)


def _drawn_counts(layers: list[LayerInfo], resolved: list[_Resolved]) -> list[int]:
    """Neurons or maps each layer draws one by one (for edges, before the layout)."""
    out = []
    for layer, res in zip(layers, resolved, strict=True):
        n = int(layer.array_shape[-1]) if layer.role in ("maps", "vector") else 0
        show, limit = res.style.show, res.style.dense_limit
        if layer.role == "vector" and n > limit and (show is None or show > limit):
            out.append(n)  # one image slab: every neuron is a pixel
        elif all(a == "fold" for a in res.style.arrange):
            out.append(0)
        else:
            out.append(min(n, res.style.show or n))
    return out


# --------------------------------------------------------------------------- cell colours

def _stored(act: np.ndarray, block: LayerBlock) -> np.ndarray:
    """One input's activation as (stored cells, h, w): maps, neurons, or the vector image."""
    if block.role == "maps":
        return np.moveaxis(act, -1, 0)
    if block.role == "image":
        rows, cols = block.tile_hw
        flat = np.full(rows * cols, np.nan, dtype=np.float32)
        flat[: act.size] = act.ravel()
        return flat.reshape(1, rows, cols)
    if block.role == "vector":
        return act.reshape(-1, 1, 1)
    return np.full((1, 1, 1), float(np.mean(act)), dtype=np.float32)


def _cell_values(stored: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """(n, h, w) values per cell; NaN where the cell has no value (specials, padding)."""
    h, w = stored.shape[1:]
    out = np.full((len(sources), h, w), np.nan, dtype=np.float32)
    direct = sources >= 0
    if direct.any():
        out[direct] = stored[sources[direct]]
    image = sources == network.IMAGE
    if image.any():
        out[image] = stored[0]
    return out


def _summary(stored: np.ndarray, kind: int) -> np.ndarray:
    return stored.mean(axis=0) if kind == network.SUMMARY_MEAN else stored.max(axis=0)


def _colours(values: np.ndarray, norm: tuple[float, float], cmap: str,
             fill: tuple[int, int, int]) -> np.ndarray:
    rgba = colormaps.apply_rgba(cmap, (values - np.float32(norm[0]))
                                / np.float32(norm[1] - norm[0]))
    empty = np.isnan(values)
    if empty.any():
        rgba[empty, :3] = fill
    return rgba


# --------------------------------------------------------------------------- labels, lights

def _label_text(block: LayerBlock, layer: LayerInfo, fields: list[str]) -> str:
    lines = []
    for f in fields:
        if f == "name":
            lines.append(block.name)
        elif f == "type":
            lines.append(block.type)
        elif f == "shape":
            shape = "×".join(str(d) for d in block.shape)
            if block.role in ("maps", "vector") and block.shown < block.total:
                shape += f" ({block.shown} of {block.total})"
            lines.append(shape)
        elif f == "params" and layer.params:
            lines.append(_count(layer.params) + " params")
    return "\n".join(lines) or block.name


def _count(n: int) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def _lights(lo: np.ndarray, hi: np.ndarray, kind: str) -> list[Light]:
    center = (lo + hi) / 2
    span = float(np.linalg.norm(hi - lo))
    e = span * span

    def at(v: list[float]) -> tuple[float, float, float]:
        return tuple(float(x) for x in center + np.array(v) * span)

    if kind == "soft":  # big, even, from the camera side: shapes read, no hard shadows
        return [
            Light("key", "AREA", at([-0.5, -0.9, 1.0]), 5.0 * e, 1.2 * span, (1.0, 0.98, 0.95)),
            Light("fill", "AREA", at([-0.9, 0.6, 0.4]), 3.0 * e, 1.2 * span, (0.95, 0.97, 1.0)),
            Light("top", "AREA", at([0.0, 0.0, 1.2]), 2.5 * e, 1.5 * span),
        ]
    if kind == "rim":  # dark front, a strong back light outlining the slabs
        return [
            Light("key", "AREA", at([-0.7, -0.8, 0.6]), 3.0 * e, 0.4 * span, (1.0, 0.93, 0.85)),
            Light("rim", "AREA", at([0.9, 0.5, 0.7]), 16.0 * e, 0.3 * span, (0.7, 0.85, 1.0)),
            Light("rim2", "AREA", at([0.6, -0.6, 0.9]), 6.0 * e, 0.3 * span, (0.8, 0.9, 1.0)),
        ]
    return [
        Light("key", "AREA", at([-0.6, -0.9, 0.8]), 9.0 * e, 0.5 * span, (1.0, 0.96, 0.9)),
        Light("fill", "AREA", at([-0.9, 0.7, 0.2]), 3.0 * e, 0.6 * span, (0.85, 0.9, 1.0)),
        Light("rim", "AREA", at([0.9, 0.3, 0.9]), 6.0 * e, 0.4 * span, (0.8, 0.9, 1.0)),
    ]


def _legend(cmap: str, symmetric: bool, percentiles: tuple[float, float]) -> Legend:
    colors = np.concatenate([colormaps.lut(cmap), np.full((256, 1), 255, np.uint8)], axis=1)
    if symmetric:
        ticks = [(0.0, "−"), (0.5, "0"), (1.0, "+")]
        title = "activation (each layer: ± its range)"
    else:
        ticks = [(0.0, "low"), (1.0, "high")]
        title = f"activation (each layer: p{percentiles[0]:g}–p{percentiles[1]:g})"
    return Legend(colors, title, ticks)


def _label_colour(config: SceneConfig) -> tuple[float, float, float]:
    if config.look.label_color is not None:
        return tuple(config.look.label_color)
    r, g, b = config.look.background
    # a transparent figure ends up on a page: dark text, as on a light background
    light = config.look.transparent or 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.18
    return (0.04, 0.045, 0.055) if light else (0.92, 0.93, 0.95)


def _corners(blocks: list[LayerBlock]) -> np.ndarray:
    pts = []
    for b in blocks:
        for c, s in zip(b.stage_centers, b.stage_sizes, strict=True):
            shown = np.any(s > 0, axis=1)
            pts += [c[shown] - s[shown] / 2, c[shown] + s[shown] / 2]
    return np.concatenate(pts)


def _frame(points: np.ndarray, config: SceneConfig, azimuths: list[float],
           seed: int) -> tuple[np.ndarray, float, float]:
    """(target, distance, ortho_scale) that keep ``points`` in view at every azimuth."""
    if len(points) > 200_000:
        lo, hi = points.min(axis=0), points.max(axis=0)
        points = points[np.random.default_rng(seed).choice(len(points), 200_000, replace=False)]
        points = np.concatenate([points, lo[None], hi[None]])
    cam = config.camera
    w, h = config.render.resolution
    if cam.projection == "orthographic":
        target, scale = frame_points_ortho(points, azimuths, cam.elevation, w, h, cam.margin)
        radius = float(np.linalg.norm(points - target, axis=1).max())
        return target, 2.0 * radius + 1.0, float(scale)
    target, distance = frame_points(points, azimuths, cam.elevation, cam.lens, w, h, cam.margin)
    return target, float(distance), 0.0


def make_plan(dump: Dump, config: SceneConfig, source: str | Path = "scene") -> ScenePlan:
    """Turn a dump and a validated config into a ScenePlan."""
    manifest = dump.manifest
    recorded = [ep.epoch for ep in manifest.epochs]
    if config.epochs is None:
        epoch_ids = list(range(len(recorded)))
    else:
        missing = [e for e in config.epochs if e not in recorded]
        if missing:
            raise ConfigError(source, f"epochs: {missing} not in the dump (has {recorded})")
        epoch_ids = [recorded.index(e) for e in config.epochs]
    count = int(manifest.inputs["count"])
    if config.sample >= count:
        raise ConfigError(source, f"sample: {config.sample} but the dump has {count} inputs")

    rcfg, cam, look = config.render, config.camera, config.look
    width, height = rcfg.resolution
    timeline = EpochTimeline.from_seconds(len(epoch_ids), rcfg.fps, config.timeline.hold,
                                          config.timeline.blend, config.timeline.end_hold)
    resolved = _resolve_styles(config.layout, manifest.layers, look.colormap, source)
    stage_keys = [_stage_keys(r, layer.name, timeline, source)
                  for r, layer in zip(resolved, manifest.layers, strict=True)]
    blocks = arrange(manifest.layers, [r.style for r in resolved], spacing=config.layout.spacing,
                     wrap=config.layout.wrap, aspect=width / height,
                     camera=(cam.azimuth, cam.elevation, cam.orbit, cam.lens),
                     wide=edge_targets(dump, config.edges, _drawn_counts(manifest.layers,
                                                                         resolved), source))
    messages = [f"layer {b.name} ({b.type}, output {b.shape}): drawn as a placeholder"
                for b in blocks if b.role == "other"]
    try:
        layout = atlas_mod.plan_atlas([(b.count, *b.tile_hw) for b in blocks], len(epoch_ids),
                                      look.max_tile)
    except ValueError as exc:
        raise DumpError(dump.path, str(exc)) from None
    atlas = AtlasPlan.empty(layout)
    label_rgb = _label_colour(config)
    dots = tuple(int(round(255 * (0.35 + 0.4 * c))) for c in label_rgb)

    layers: list[LayerPlan] = []
    for i, (block, res) in enumerate(zip(blocks, resolved, strict=True)):
        # one layer at a time, all its epochs: read once, used for the range and the tiles
        acts = [dump.activations(e, i) for e in epoch_ids]
        symmetric = _symmetric(look.norm, res.colormap)
        sources = block.sources
        norm = (0.0, 1.0)
        if block.role != "other":
            norm = normalisation(_layer_values(acts, config.seed + i), look.percentiles, symmetric)
        mean_norm = norm
        if block.role != "other" and np.any(sources == network.SUMMARY_MEAN):
            # averaging narrows the range: the folded mean gets its own fixed range
            means = [a.astype(np.float32).mean(axis=-1) for a in acts]
            mean_norm = normalisation(_layer_values(means, config.seed + i), look.percentiles,
                                      symmetric)
        factor = layout.factor[i]
        for slot, layer_act in enumerate(acts):
            act = layer_act[config.sample].astype(np.float32)  # float16 dumps: sum safely
            stored = _stored(act, block)
            values = atlas_mod.downsample(_cell_values(stored, sources), factor)
            rgba = _colours(values, norm, res.colormap, (PAD_GREY,) * 3)
            for kind, rng in ((network.SUMMARY_MEAN, mean_norm), (network.SUMMARY_MAX, norm)):
                pick = sources == kind
                if pick.any():
                    summary = atlas_mod.downsample(_summary(stored, kind)[None], factor)
                    rgba[pick] = _colours(summary, rng, res.colormap, (PAD_GREY,) * 3)
            rgba[sources == network.ELLIPSIS, ..., :3] = dots
            rgba[sources == network.PLACEHOLDER, ..., :3] = PLACEHOLDER_GREY
            atlas.fill(slot, i, rgba)
        animated = len(block.stage_centers) > 1 and bool(stage_keys[i])
        layers.append(LayerPlan(
            block.name, block.type, block.role, block.shape,
            block.stage_centers[0], block.stage_sizes[0], layout.cell_rects(i, block.count),
            norm, placeholder=block.role == "other", page=layout.layer_page[i],
            sources=sources,
            stage_centers=block.stage_centers if animated else None,
            stage_sizes=block.stage_sizes if animated else None,
            stage_keys=stage_keys[i] if animated else [],
            stages=list(res.style.arrange)))

    # the camera first frames the blocks; labels are then sized to the view and placed so
    # that none overlaps another from any point of the orbit; the final framing adds them
    az0, az1 = cam.azimuth + cam.orbit / 2, cam.azimuth - cam.orbit / 2
    azimuths = [float(a) for a in np.linspace(az0, az1, 5)]
    cells = _corners(blocks)
    target, distance, ortho = _frame(cells, config, azimuths, config.seed)
    if ortho:
        view_h = ortho * (height / width if width >= height else 1.0)
    else:
        view_h = 2.0 * distance * half_tangents(cam.lens, width, height)[1]
    # a small network gets labels in proportion to its walls; a big one as big as fits
    wall = float(np.median([max(b.extent[1], b.extent[2]) for b in blocks]))
    # connections: radii are kept a visible share of a pixel at this framing; the skip arcs
    # run above the blocks, so the final framing holds them too
    pixel = (ortho / width if ortho else
             2.0 * distance * half_tangents(cam.lens, width, height)[1] / height)
    animated = {i for i, lp in enumerate(layers) if lp.stage_count > 1}
    edge_groups, frustum, edge_notes = plan_edges(
        dump, blocks, epoch_ids, config.edges, pixel=pixel, seed=config.seed,
        sample=config.sample, link_color=tuple(0.55 * c + 0.2 for c in label_rgb),
        animated=animated, source=source)
    arcs = [g.straight.reshape(-1, 3) for g in edge_groups if g.kind == "link"]
    label_size = config.labels.scale * float(np.clip(0.1 * wall, LABEL_HEIGHT * view_h,
                                                     LABEL_MAX * view_h))
    texts: list[str | None] = []
    forced: list[bool] = []
    for layer, block, res in zip(manifest.layers, blocks, resolved, strict=True):
        on = res.label if res.label is not None else config.labels.show
        texts.append(_label_text(block, layer, config.labels.fields) if on else None)
        forced.append(on and (res.label is True or not config.labels.auto_hide))
    priority = label_priority(manifest.layers, blocks)
    # twice: the second pass places the labels for the camera that frames them (framing
    # with the labels moves it, and with it which labels overlap or hide behind a layer)
    for _ in range(2):
        views = [View(target, distance, az, cam.elevation, cam.lens, width, height,
                      ortho or None) for az in (az0, (az0 + az1) / 2, az1)]
        spots = place_labels(blocks, texts, label_size, priority, forced, views)
        labels = [Label(text, tuple(float(v) for v in pos), label_size, block.name)
                  for text, pos, block in zip(texts, spots, blocks, strict=True)
                  if text is not None and pos is not None]
        boxes = [cells, *arcs]
        for label in labels:
            w, h = text_extent(label.text, label.size)
            p = np.array(label.position)
            boxes.append(np.array([p + [w / 2, w / 2, h], p - [w / 2, w / 2, 0]]))
        target, distance, ortho = _frame(np.concatenate(boxes), config, azimuths, config.seed)
    hidden = sum(1 for t, p in zip(texts, spots, strict=True) if t is not None and p is None)
    notes = list(edge_notes)  # in plan.json, not printed
    if hidden:
        notes.append(f"{hidden} of {sum(t is not None for t in texts)} layer labels hidden "
                        "where they would overlap (labels.auto_hide: false shows them all)")
    # Blender blurs in metres, and a network is tens of units across: the f-stop is scaled
    # as if the network were a desk model seen from DOF_DISTANCE, so f/2.8 looks the same
    # for a 10-layer CNN and for ResNet-50
    fstop = None if cam.fstop is None else cam.fstop * DOF_DISTANCE / distance
    camera = CameraPlan(tuple(float(v) for v in target), distance, cam.elevation, az0, az1,
                        cam.lens, "ORTHO" if ortho else "PERSP", ortho, fstop)

    captions = []
    if config.labels.epoch_caption:
        for slot, e in enumerate(epoch_ids):
            ep = manifest.epochs[e]
            start = timeline.frame_of_epoch(slot)
            end = (timeline.frame_of_epoch(slot + 1) - 1 if slot + 1 < len(epoch_ids)
                   else timeline.last_frame)
            # the caption changes half-way through the blend into the next epoch
            start = max(timeline.first_frame, start - timeline.blend_frames // 2)
            end = end - timeline.blend_frames // 2 if slot + 1 < len(epoch_ids) else end
            text = f"epoch {ep.epoch}"
            acc = ep.metrics.get("val_accuracy", ep.metrics.get("accuracy"))
            if acc is not None:
                text += f"   accuracy {acc:.1%}"
            captions.append(Caption(text, start, end))

    legend = None
    if look.legend:
        legend = _legend(look.colormap, _symmetric(look.norm, look.colormap), look.percentiles)
    for m in messages:
        warnings.warn(m, stacklevel=2)
    return ScenePlan(
        version=PLAN_VERSION,
        layers=layers,
        labels=labels,
        captions=captions,
        lights=_lights(cells.min(axis=0), cells.max(axis=0), look.lighting),
        camera=camera,
        atlas=atlas,
        epochs=[manifest.epochs[e].epoch for e in epoch_ids],
        timeline=timeline,
        render=rcfg.model_dump(),
        look=look.model_dump() | {"label_color": label_rgb},
        seed=config.seed,
        legend=legend,
        warnings=messages + notes,
        edges=edge_groups,
        frustum=frustum,
        bundle=float(config.edges.bundle),
        bundle_keys=bundle_keys(config.edges, timeline, source),
    )
