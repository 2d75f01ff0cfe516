"""Dump + config -> ScenePlan: everything Blender needs, as plain data (no bpy).

The plan is the Kubric-style scene description: the Blender side only translates it.
Activation colours are decided here, with one normalisation per layer fixed across all
epochs and inputs, so a brightness means the same thing at epoch 1 and epoch 8.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnrender import colormaps
from nnrender.config.schema import SceneConfig
from nnrender.errors import ConfigError, DumpError
from nnrender.layout import atlas as atlas_mod
from nnrender.layout.camera import frame_points
from nnrender.layout.network import LayerBlock, arrange
from nnrender.model.ir import Dump
from nnrender.timeline.epochs import EpochTimeline

PLAN_VERSION = 1
NORM_SAMPLE = 2_000_000  # values per layer used for the percentiles, beyond that a fixed subsample


@dataclass
class LayerPlan:
    name: str
    type: str
    role: str
    shape: list[int]
    centers: np.ndarray  # (n, 3)
    sizes: np.ndarray  # (n, 3)
    tiles: np.ndarray  # (n, 4) interior rect x, y, w, h in block pixels, rows top-down
    norm: tuple[float, float]
    placeholder: bool = False


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


@dataclass
class AtlasPlan:
    layout: atlas_mod.AtlasLayout
    blocks: np.ndarray  # (epochs, block_h, block_w, 4) uint8, rows top-down

    def image(self) -> np.ndarray:
        """The whole atlas (height, width, 4) uint8 with epoch blocks in their grid."""
        lay = self.layout
        out = np.zeros((lay.height, lay.width, 4), dtype=np.uint8)
        for e in range(lay.epochs):
            x, y = lay.block_origin(e)
            out[y:y + lay.block_h, x:x + lay.block_w] = self.blocks[e]
        return out

    def blend(self, value: float) -> np.ndarray:
        """One block at a fractional epoch, mixed in linear light like the shader does."""
        lo = int(math.floor(value))
        hi = min(lo + 1, self.layout.epochs - 1)
        t = value - lo
        a = _to_linear(self.blocks[lo])
        b = _to_linear(self.blocks[hi])
        return _to_srgb(a * (1 - t) + b * t)


def _to_linear(srgb: np.ndarray) -> np.ndarray:
    c = srgb.astype(np.float32) / 255.0
    rgb = np.where(c[..., :3] <= 0.04045, c[..., :3] / 12.92, ((c[..., :3] + 0.055) / 1.055) ** 2.4)
    return np.concatenate([rgb, c[..., 3:]], axis=-1)


def _to_srgb(lin: np.ndarray) -> np.ndarray:
    rgb = np.clip(lin[..., :3], 0, 1)
    rgb = np.where(rgb <= 0.0031308, rgb * 12.92, 1.055 * rgb ** (1 / 2.4) - 0.055)
    out = np.concatenate([rgb, np.clip(lin[..., 3:], 0, 1)], axis=-1)
    return np.rint(out * 255).astype(np.uint8)


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
    warnings: list[str] = field(default_factory=list)

    @property
    def cell_count(self) -> int:
        return sum(layer.centers.shape[0] for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe description; atlas pixels are left out (see ``save``)."""

        def arr(a: np.ndarray) -> list:
            return np.round(a, 6).tolist() if a.dtype.kind == "f" else a.tolist()

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
            "atlas": asdict(self.atlas.layout) | {"width": self.atlas.layout.width,
                                                   "height": self.atlas.layout.height},
            "layers": [
                {
                    "name": lp.name, "type": lp.type, "role": lp.role, "shape": lp.shape,
                    "norm": list(lp.norm), "placeholder": lp.placeholder,
                    "centers": arr(lp.centers), "sizes": arr(lp.sizes), "tiles": arr(lp.tiles),
                }
                for lp in self.layers
            ],
            "warnings": self.warnings,
        }

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "plan.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json()) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path


def _layer_values(acts: list[np.ndarray], index: int, seed: int) -> np.ndarray:
    flat = np.concatenate([a.ravel() for a in acts])
    if flat.size > NORM_SAMPLE:
        rng = np.random.default_rng(seed + index)
        flat = flat[rng.choice(flat.size, NORM_SAMPLE, replace=False)]
    return flat


def normalisation(values: np.ndarray, percentiles: tuple[float, float]) -> tuple[float, float]:
    """(low, high) from robust percentiles; never a zero-width range."""
    lo, hi = np.percentile(values.astype(np.float64), percentiles)
    lo, hi = float(lo), float(hi)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def _maps_of(act: np.ndarray, role: str) -> np.ndarray:
    """One input's activation as (cells, h, w)."""
    if role == "maps":
        return np.moveaxis(act, -1, 0)
    if role == "vector":
        return act.reshape(-1, 1, 1)
    return np.full((1, 1, 1), float(np.mean(act)))


def _label_text(block: LayerBlock, total: int) -> str:
    shape = "×".join(str(d) for d in block.shape)
    if block.role != "other" and block.count < total:
        shape += f" ({block.count} shown)"
    return f"{block.name}\n{shape}"


def _lights(lo: np.ndarray, hi: np.ndarray) -> list[Light]:
    center = (lo + hi) / 2
    span = float(np.linalg.norm(hi - lo))
    e = span * span
    return [
        Light("key", "AREA", tuple(center + np.array([-0.6, -0.9, 0.8]) * span), 9.0 * e,
              0.5 * span, (1.0, 0.96, 0.9)),
        Light("fill", "AREA", tuple(center + np.array([-0.9, 0.7, 0.2]) * span), 3.0 * e,
              0.6 * span, (0.85, 0.9, 1.0)),
        Light("rim", "AREA", tuple(center + np.array([0.9, 0.3, 0.9]) * span), 6.0 * e,
              0.4 * span, (0.8, 0.9, 1.0)),
    ]


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

    messages: list[str] = []
    blocks = arrange(manifest.layers)
    shapes = []
    for layer, block in zip(manifest.layers, blocks, strict=True):
        if block.role == "maps":
            h, w, c = layer.array_shape
            shapes.append((c, h, w))
        else:
            shapes.append((block.count, 1, 1))
        if block.role == "other":
            messages.append(
                f"layer {block.name} ({block.type}, output {block.shape}): drawn as a placeholder"
            )
    try:
        layout = atlas_mod.plan_atlas(shapes, len(epoch_ids), config.look.max_tile)
    except ValueError as exc:
        raise DumpError(dump.path, str(exc)) from None
    blocks_px = np.zeros((len(epoch_ids), layout.block_h, layout.block_w, 4), dtype=np.uint8)

    layers: list[LayerPlan] = []
    for i, block in enumerate(blocks):
        # one layer at a time, all its epochs: read once, used for the range and the tiles
        acts = [dump.activations(e, i) for e in epoch_ids]
        if block.role == "other":
            norm = (0.0, 1.0)
        else:
            norm = normalisation(_layer_values(acts, i, config.seed), config.look.percentiles)
        for slot, layer_act in enumerate(acts):
            act = layer_act[config.sample].astype(np.float32)  # float16 dumps: sum safely
            maps = _maps_of(act, block.role)
            maps = atlas_mod.downsample(maps, layout.factor[i])
            if block.role == "other":
                rgba = np.full((*maps.shape, 4), 90, dtype=np.uint8)
            else:
                scaled = (maps - norm[0]) / (norm[1] - norm[0])
                rgb = colormaps.apply(config.look.colormap, scaled)
                rgba = np.concatenate(
                    [rgb, np.full((*maps.shape, 1), 255, dtype=np.uint8)], axis=-1)
            atlas_mod.fill_layer(blocks_px[slot], layout, i, rgba)
        layers.append(LayerPlan(block.name, block.type, block.role, block.shape,
                                block.centers, block.sizes, layout.cell_rects(i, block.count),
                                norm, placeholder=block.role == "other"))

    # labels above each wall, sized to the network so they stay readable at any scale
    all_lo = np.min([b.bounds()[0] for b in blocks], axis=0)
    all_hi = np.max([b.bounds()[1] for b in blocks], axis=0)
    wall = float(np.median([max(b.extent[1], b.extent[2]) for b in blocks]))
    label_size = config.labels.scale * float(np.clip(0.13 * wall, 0.12, 3.0))
    labels = []
    if config.labels.show:
        for layer, block in zip(manifest.layers, blocks, strict=True):
            lo, hi = block.bounds()
            pos = ((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2] + 0.5 * label_size)
            text = _label_text(block, int(layer.output_shape[-1]))
            labels.append(Label(text, tuple(float(v) for v in pos), label_size, block.name))

    rcfg = config.render
    timeline = EpochTimeline.from_seconds(len(epoch_ids), rcfg.fps, config.timeline.hold,
                                          config.timeline.blend, config.timeline.end_hold)
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

    # frame everything: cell corners and label boxes over the whole orbit
    corners = []
    for block in blocks:
        lo = block.centers - block.sizes / 2
        hi = block.centers + block.sizes / 2
        corners += [lo, hi]
    for label in labels:
        p = np.array(label.position)
        half_w = 0.3 * label.size * max(len(s) for s in label.text.split("\n"))
        corners.append(np.array([p + [half_w, half_w, 2.3 * label.size],
                                 p - [half_w, half_w, 0]]))
    points = np.concatenate(corners)
    if len(points) > 200_000:
        points = points[np.random.default_rng(config.seed).choice(len(points), 200_000,
                                                                  replace=False)]
        points = np.concatenate([points, all_lo[None], all_hi[None]])
    cam = config.camera
    # the orbit ends on the more frontal side: the last frame (the trained network, and
    # the default still) is the most readable view
    az0, az1 = cam.azimuth + cam.orbit / 2, cam.azimuth - cam.orbit / 2
    w, h = rcfg.resolution
    target, distance = frame_points(points, list(np.linspace(az0, az1, 5)), cam.elevation,
                                    cam.lens, w, h, cam.margin)
    camera = CameraPlan(tuple(float(v) for v in target), float(distance), cam.elevation,
                        az0, az1, cam.lens)
    for m in messages:
        warnings.warn(m, stacklevel=2)
    return ScenePlan(
        version=PLAN_VERSION,
        layers=layers,
        labels=labels,
        captions=captions,
        lights=_lights(all_lo, all_hi),
        camera=camera,
        atlas=AtlasPlan(layout, blocks_px),
        epochs=[manifest.epochs[e].epoch for e in epoch_ids],
        timeline=timeline,
        render=rcfg.model_dump(),
        look=config.look.model_dump(),
        seed=config.seed,
        warnings=messages,
    )
