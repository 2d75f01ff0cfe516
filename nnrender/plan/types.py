"""The scene plan's data: everything a view of the scene needs (Blender, a vector figure),
as plain data that serialises to JSON field by field.

Names here are nnrender's own (``"orthographic"``, ``"area"``); ``blender/names.py`` maps
them to Blender's enums, in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from nnrender.config.schema import LookConfig, RenderConfig
from nnrender.edges.groups import EdgeGroup, FieldPlan
from nnrender.layout.atlas import AtlasPlan
from nnrender.layout.camera import View
from nnrender.output.encode import temp_path
from nnrender.timeline.epochs import EpochTimeline, keyed
from nnrender.timeline.story import Story

PLAN_VERSION = 3
FORMAT = "nnrender-plan"


def to_data(value: Any) -> Any:
    """JSON-safe data of a plan value, field by field: dataclasses as dicts (fields with
    ``metadata={"json": False}`` left out, names in a class's ``JSON_EXTRA`` added from its
    properties or methods; a class with ``JSON_AS`` is written as that one field), pydantic
    models dumped, arrays as lists (floats to 6 places)."""
    if hasattr(type(value), "JSON_AS"):
        return to_data(getattr(value, type(value).JSON_AS))
    if is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_data(getattr(value, f.name)) for f in fields(value)
               if f.metadata.get("json", True)}
        for name in getattr(type(value), "JSON_EXTRA", ()):
            attr = getattr(value, name)
            out[name] = to_data(attr() if callable(attr) else attr)
        return out
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, np.ndarray):
        return np.round(value, 6).tolist() if value.dtype.kind == "f" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_data(v) for v in value]
    return value


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
    depth: float = 0.0  # graph depth (a forward-pass wave reaches the layer there)
    inbound: list[str] = field(default_factory=list)  # the layers it reads (the graph)
    # cells drawn one by one out of the layer's maps, neurons, tokens (0 of N: folded)
    shown: int = 0
    total: int = 0

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
    """Text in the scene that turns to face the camera: a layer's label (``position`` is its
    bottom centre), a token's (``vertical``: read bottom to top, ``position`` its top end,
    hanging below the token) or a group's or badge's."""

    text: str
    position: tuple[float, float, float]
    size: float
    layer: str
    kind: str = "layer"  # layer | token | group | badge
    align_x: str = "center"  # left | center | right (along the reading direction)
    align_y: str = "bottom"  # top | bottom
    vertical: bool = False
    priority: float = 0.0  # higher first when labels compete for room (layout.labels)
    forced: bool = False  # never hidden for room
    members: list[str] = field(default_factory=list)  # the layers a group label names


@dataclass
class Caption:
    """On-screen text shown from ``frame_start`` to ``frame_end`` (inclusive): the epoch
    caption, a shot's title card or its lower-third caption; ``fade``: frames it takes to
    fade in at the start and out at the end (0: it cuts)."""

    text: str
    frame_start: int
    frame_end: int
    kind: str = "epoch"  # epoch | title | lower
    fade: int = 0


@dataclass
class ScreenText:
    """Text pinned to the screen: camera-local position at the overlay depth (x right,
    y up from the image centre, in the units of ``Overlay.half_w``)."""

    text: str
    x: float
    y: float
    size: float
    align_x: str = "center"  # left | center | right
    align_y: str = "bottom"  # top | bottom


@dataclass
class Legend:
    """A colour bar pinned to the lower right of the frame."""

    colors: np.ndarray  # (256, 4) uint8 sRGB, low to high
    title: str
    ticks: list[tuple[float, str]]  # (position 0..1 along the bar, text)
    # placed by the plan's overlay stage: the bar's rect (left, bottom, right, top) and its
    # texts (ticks under it, the title above), in the overlay's screen units
    bar: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    texts: list[ScreenText] = field(default_factory=list)


@dataclass
class Inset:
    """The metrics inset, in the overlay's screen units: its box, one polyline per metric
    (its value per shown epoch), the metric names and epoch range, and each curve's marker
    per frame."""

    JSON_EXTRA = ("count",)

    box: tuple[float, float, float, float]  # left, bottom, right, top
    lines: list[np.ndarray]  # per metric (epochs, 2)
    colors: list[tuple[float, float, float]]
    texts: list[ScreenText]
    frames: np.ndarray = field(metadata={"json": False})  # (F,)
    markers: np.ndarray = field(metadata={"json": False})  # (F, metrics, 2)
    line_width: float = 0.01
    marker_size: float = 0.03

    @property
    def count(self) -> int:
        return len(self.lines)


@dataclass
class Plate:
    """A translucent backdrop in the background colour behind pinned text or the inset,
    from ``frame_start`` to ``frame_end``, so it reads over the network."""

    box: tuple[float, float, float, float]  # left, bottom, right, top (overlay units)
    frame_start: int
    frame_end: int
    opacity: float = 0.72
    fade: int = 0  # frames of fade in and out, as its caption's


@dataclass
class Overlay:
    """Where screen-pinned things go: the visible rectangle ``half_w`` x ``half_h`` at
    ``depth`` in front of the camera, and the epoch captions' text (one per caption)."""

    depth: float
    half_w: float
    half_h: float
    captions: list[ScreenText] = field(default_factory=list)
    # with depth of field the overlays get a scene of their own, seen by a camera without
    # it and composited on top, with at most ``samples`` samples (text edges only)
    separate: bool = False
    samples: int = 16
    inset: Inset | None = None  # the metrics inset
    plates: list[Plate] = field(default_factory=list)
    # per frame the pinned things' scale about the camera, (x, y) and depth: they keep
    # their place on screen while the camera zooms (orthographic) or clips close (a push)
    root_scale: np.ndarray | None = field(default=None, metadata={"json": False})  # (F, 2)


@dataclass
class Light:
    name: str
    kind: str  # area | point | spot | sun
    position: tuple[float, float, float]
    energy: float
    size: float  # area: side; point/spot: diameter; sun: angular diameter (radians)
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass
class CameraTrack:
    """The camera frame by frame, for a story of shots: arrays over ``frames``."""

    JSON_EXTRA = ("count",)

    frames: np.ndarray = field(metadata={"json": False})  # (F,) frame numbers
    target: np.ndarray = field(metadata={"json": False})  # (F, 3)
    azimuth: np.ndarray = field(metadata={"json": False})  # (F,) degrees
    elevation: np.ndarray = field(metadata={"json": False})  # (F,) degrees
    distance: np.ndarray = field(metadata={"json": False})  # (F,)
    ortho_scale: np.ndarray = field(metadata={"json": False})  # (F,); 0 in perspective
    # near clip as a share of the distance: a push-in cuts away the layers in front of
    # the map it closes in on
    clip_share: np.ndarray | None = field(default=None, metadata={"json": False})  # (F,)

    @property
    def count(self) -> int:
        return int(len(self.frames))

    def at(self, frame: float) -> tuple[np.ndarray, float, float, float, float]:
        """(target, azimuth, elevation, distance, ortho_scale) at a frame."""
        i = int(np.clip(round(frame) - self.frames[0], 0, len(self.frames) - 1))
        return (self.target[i], float(self.azimuth[i]), float(self.elevation[i]),
                float(self.distance[i]), float(self.ortho_scale[i]))


@dataclass
class CameraPlan:
    target: tuple[float, float, float]
    distance: float
    elevation: float
    azimuth_start: float
    azimuth_end: float
    lens: float
    projection: str = "perspective"  # or "orthographic"
    ortho_scale: float = 0.0  # view width in world units (orthographic)
    fstop: float | None = None  # depth of field focused on the target; None is off
    sensor: float = 36.0  # mm, fitted to the larger image side
    clip_start: float = 0.01
    clip_end: float = 1000.0
    track: CameraTrack | None = None  # shots: the camera per frame (None: one orbit)

    @property
    def orthographic(self) -> bool:
        return self.projection == "orthographic"

    def view(self, azimuth: float, width: int, height: int) -> View:
        return View(np.asarray(self.target), self.distance, azimuth, self.elevation, self.lens,
                    width, height, self.ortho_scale if self.orthographic else None)


@dataclass
class Bloom:
    """Glow around bright maps (a compositor glare): ``strength`` beyond 1 is added on top."""

    strength: float
    threshold: float  # linear brightness where it starts
    size: float  # 0..1, the glare's reach


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
    story: Story  # frames, the (epoch, input) states shown and their keys, shots, waves
    render: RenderConfig
    look: LookConfig  # label_color resolved
    seed: int
    overlay: Overlay
    legend: Legend | None = None
    bloom: Bloom | None = None
    warnings: list[str] = field(default_factory=list)
    # connections: one Curves data-block per group; bundling strength keyed
    edges: list[EdgeGroup] = field(default_factory=list)
    frustum: FieldPlan | None = None  # a receptive field, when the scene asks for one
    bundle: float = 0.0  # strength at the first frame (0 straight .. 1 bundled)
    bundle_keys: list[tuple[float, float]] = field(default_factory=list)  # (frame, strength)
    # per layer, what ``warnings`` says in prose (``nnrender inspect`` reads these): why a
    # layer's edges are left out, and the layers whose labels are hidden for room
    edges_omitted: dict[str, str] = field(default_factory=dict)
    labels_hidden: list[str] = field(default_factory=list)

    @property
    def cell_count(self) -> int:
        return sum(layer.centers.shape[0] for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe description, field by field; atlas pixels and curve points left out."""
        return {"format": FORMAT, **to_data(self)}

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "plan.json"
        tmp = temp_path(path)  # farm chunks save the same plan into one folder at once
        tmp.write_text(json.dumps(self.to_json()) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path
