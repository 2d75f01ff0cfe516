"""Plan data for connections: what the Blender side needs to draw them, nothing more."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class EdgeGroup:
    """All edges between two layers: drawn as ONE Curves data-block.

    Every curve has the same number of points S. ``straight`` and ``bundled`` are the two
    ends of the bundling-strength blend (points move linearly between them, so any strength
    0..1 is ``straight + strength * (bundled - straight)``); the first and last point of
    each curve are the same in both. ``weights`` holds one signed value per curve and
    recorded epoch, in -1..1: the magnitude sets radius and opacity (0 = not drawn at that
    epoch), the sign picks the colour. Epochs blend like the feature maps; an edge leaving
    or joining the selection also fades in radius and opacity (``presence_at``).
    Opacity = ``opacity * (alpha_floor + (1 - alpha_floor) * |w|)``, so weak edges stay
    visible; ``emission`` is the strength of their flat, unlit colour.
    """

    JSON_EXTRA = ("count", "samples")  # curve points stay out of plan.json (100k x 16)

    name: str  # "source->target"
    kind: str  # "dense" | "channel" | "link"
    source: str  # layer names
    target: str
    straight: np.ndarray = field(metadata={"json": False})  # (E, S, 3) float32
    bundled: np.ndarray = field(metadata={"json": False})  # (E, S, 3) float32
    weights: np.ndarray = field(metadata={"json": False})  # (E, epochs) float32, |w| <= 1
    radius: float  # world units at |w| = 1
    min_radius: float  # world units as |w| -> 0+ (curves never thinner than this)
    opacity: float  # at |w| = 1 (0..1); fades with |w|
    positive: tuple[float, float, float]  # linear RGB for w > 0
    negative: tuple[float, float, float]  # linear RGB for w < 0
    src_index: np.ndarray | None = field(default=None, metadata={"json": False})  # (E,)
    dst_index: np.ndarray | None = field(default=None, metadata={"json": False})  # (E,)
    emission: float = 1.0
    alpha_floor: float = 0.25
    # graph depth of each curve's source and target (a forward-pass pulse runs between)
    arrive: np.ndarray | None = field(default=None, metadata={"json": False})  # (E, 2)

    @property
    def count(self) -> int:
        return int(self.straight.shape[0])

    @property
    def samples(self) -> int:
        return int(self.straight.shape[1])

    def at(self, strength: float) -> np.ndarray:
        """Curve points at a bundling strength (what the Geometry Nodes mix computes)."""
        return self.straight + np.float32(strength) * (self.bundled - self.straight)

    def weight_at(self, epoch_value: float) -> np.ndarray:
        """Per-curve signed weight at a (fractional) epoch slot, blended like the maps."""
        return _blend(self.weights, epoch_value)

    def presence_at(self, epoch_value: float) -> np.ndarray:
        """Per-curve 0..1: 1 where the edge is drawn at both neighbouring epochs, easing to
        0 as it leaves the selection (so it fades out instead of popping off at w = 0)."""
        return _blend((self.weights != 0).astype(np.float32), epoch_value)


def _blend(values: np.ndarray, epoch_value: float) -> np.ndarray:
    last = values.shape[1] - 1
    e0 = int(np.clip(np.floor(epoch_value), 0, last))
    e1 = min(e0 + 1, last)
    t = np.float32(np.clip(epoch_value - e0, 0.0, 1.0))
    return values[:, e0] + t * (values[:, e1] - values[:, e0])


@dataclass
class FieldPlan:
    """A receptive field: from one output pixel back to the input pixels it sees.

    ``quads[i]`` is one frustum segment between two drawn layers: ``quads[i, 0]`` the
    4 corners (counter-clockwise as seen from -X) of the rectangle on the nearer-to-output
    map, ``quads[i, 1]`` the 4 matching corners on the earlier map. Segment 0 starts at the
    chosen pixel. ``layers[i]`` names the (later, earlier) layer pair of segment i and
    ``rects[i]`` the (row0, row1, col0, col1) inclusive pixel rect on the earlier map.
    """

    layer: str
    channel: int
    pixel: tuple[int, int]
    quads: np.ndarray  # (F, 2, 4, 3) float32
    layers: list[tuple[str, str]]
    rects: list[tuple[int, int, int, int]]
    color: tuple[float, float, float]
    opacity: float
    emission: float = 1.0  # strength of the flat colour of its sides and outline
    line_radius: float = 0.0  # the outline's curve radius, world units
