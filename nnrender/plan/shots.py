"""The camera of a story, frame by frame: each shot's move (overview, orbit, focus, fly,
push), eased in from the previous shot where its transition blends. Pure numpy.

A camera state is (target, azimuth, elevation, distance, orthographic scale), the same
parameters as the one-orbit camera: the target is what it looks at, the rest where it sits.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np

from nnrender.config.story import ShotConfig
from nnrender.errors import ConfigError
from nnrender.layout.camera import half_tangents
from nnrender.layout.network import LayerBlock, median_wall
from nnrender.plan.context import PlanContext
from nnrender.plan.framing import fit
from nnrender.plan.types import CameraPlan, CameraTrack
from nnrender.timeline.epochs import smoothstep
from nnrender.timeline.story import ShotSpan

FILL = 1.08  # a pushed-in map fills the frame's height to this margin
PUSH_CLIP = 0.97  # at the end of a push the near clip is this share of the distance
FLY_AHEAD = 0.12  # the fly camera looks this share of the path ahead
FLY_SIDE = 1.4  # ...from this many walls to the viewer's side...
FLY_UP = 0.6  # ...and this many above the path


@dataclass
class State:
    """One camera state: arrays of length F (frames of a shot)."""

    target: np.ndarray  # (F, 3)
    azimuth: np.ndarray
    elevation: np.ndarray
    distance: np.ndarray
    ortho: np.ndarray
    clip: np.ndarray | None = None  # near clip share of the distance (None: the default)

    @staticmethod
    def hold(n: int, target: np.ndarray, azimuth: float, elevation: float, distance: float,
             ortho: float) -> State:
        return State(np.tile(np.asarray(target, float), (n, 1)), np.full(n, azimuth),
                     np.full(n, elevation), np.full(n, distance), np.full(n, ortho))

    def row(self, i: int) -> tuple:
        return (self.target[i], self.azimuth[i], self.elevation[i], self.distance[i],
                self.ortho[i])


def _unknown(ctx: PlanContext, name: str, where: str) -> ConfigError:
    names = [layer.name for layer in ctx.layers]
    near = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    return ConfigError(ctx.source, f"{where}: no layer {name!r}{hint}")


def _corners(blocks: list[LayerBlock]) -> np.ndarray:
    pts = []
    for b in blocks:
        lo, hi = b.bounds()
        pts += [lo, hi, [lo[0], hi[1], lo[2]], [hi[0], lo[1], hi[2]]]
    return np.array(pts, dtype=np.float64)


def _framed(ctx: PlanContext, points: np.ndarray, azimuths: list[float], elevation: float,
            orthographic: bool) -> tuple[np.ndarray, float, float]:
    return fit(points, azimuths, elevation, ctx.config, orthographic)


def _overview(ctx: PlanContext, shot: ShotConfig, n: int, keep: np.ndarray,
              orthographic: bool) -> State:
    cam = ctx.config.camera
    az = cam.azimuth if shot.azimuth is None else shot.azimuth
    el = cam.elevation if shot.elevation is None else shot.elevation
    if shot.move == "orbit":
        a = az + shot.orbit / 2 - shot.orbit * np.arange(n) / max(n - 1, 1)
        target, distance, ortho = _framed(ctx, keep, [float(a[0]), az, float(a[-1])], el,
                                          orthographic)
        state = State.hold(n, target, az, el, distance, ortho)
        state.azimuth = a
        return state
    target, distance, ortho = _framed(ctx, keep, [az], el, orthographic)
    return State.hold(n, target, az, el, distance, ortho)


def _focus(ctx: PlanContext, shot: ShotConfig, n: int, blocks: list[LayerBlock],
           where: str, orthographic: bool) -> State:
    cam = ctx.config.camera
    index = {b.name: b for b in blocks}
    chosen = []
    for name in shot.layers or ([shot.layer] if shot.layer else [b.name for b in blocks]):
        if name not in index:
            raise _unknown(ctx, name, f"{where}.{'layers' if shot.layers else 'layer'}")
        chosen.append(index[name])
    az = cam.azimuth if shot.azimuth is None else shot.azimuth
    el = cam.elevation if shot.elevation is None else shot.elevation
    target, distance, ortho = _framed(ctx, _corners(chosen), [az], el, orthographic)
    return State.hold(n, target, az, el, distance, ortho)


def _pick_cell(ctx: PlanContext, block: LayerBlock, cells: np.ndarray, shot: ShotConfig,
               where: str, state: tuple[int, int]) -> int:
    """The cell a push closes in on: the one showing ``shot.map``, else the drawn map most
    active for the input and epoch the shot shows."""
    if shot.map is not None:
        hits = [c for c in cells if int(block.sources[c]) == shot.map]
        if not hits:
            raise ConfigError(ctx.source, f"{where}.map: {shot.layer} draws no map "
                                          f"{shot.map}")
        return int(hits[0])
    names = [layer.name for layer in ctx.layers]
    slot, sample = state
    act = np.asarray(ctx.dump.activations(ctx.epoch_ids[slot], names.index(block.name))[
        sample], dtype=np.float32)
    stored = block.sources[cells].astype(int)
    if block.role == "maps":
        means = act.reshape(-1, act.shape[-1]).mean(axis=0)[stored]
    elif block.role == "tokens":
        means = act.mean(axis=-1)[stored]
    elif block.role == "volume":  # cells are (step, channel) maps, step-major
        means = np.moveaxis(act, -1, 1).reshape(act.shape[0] * act.shape[-1], -1).mean(
            axis=-1)[stored]
    else:
        means = np.zeros(len(cells))
    return int(cells[int(np.argmax(means))])


def _push(ctx: PlanContext, shot: ShotConfig, n: int, blocks: list[LayerBlock],
          start: tuple, where: str, orthographic: bool, span_state: tuple[int, int]
          ) -> State:
    """From ``start`` to facing one cell of the layer (its -X face) closely enough that
    the cell fills the frame's height (a vector layer: the whole column)."""
    index = {b.name: b for b in blocks}
    if shot.layer is None:
        raise ConfigError(ctx.source, f"{where}.layer: push needs the layer to close in on")
    if shot.layer not in index:
        raise _unknown(ctx, shot.layer, f"{where}.layer")
    block = index[shot.layer]
    cells = np.nonzero(block.sources >= 0)[0]
    if not len(cells):
        cells = np.arange(block.count)
    w, h = ctx.size
    if block.role in ("vector", "image") or block.count == 1:
        # neurons are single pixels: close in on the whole column or slab, face on
        lo, hi = block.own_bounds()
        center, size = (lo + hi) / 2, hi - lo
    else:
        pick = _pick_cell(ctx, block, cells, shot, where, span_state)
        center, size = block.centers[pick], block.sizes[pick]
    face = center - np.array([size[0] / 2, 0.0, 0.0])
    side = max(float(size[2]), float(size[1]) * h / w)  # the frame's height holds it
    if orthographic:
        ortho = FILL * side * (max(w, h) / h)
        end = (face, 0.0, 0.0, 2.0 * side + 1.0, ortho)
    else:
        ty = half_tangents(ctx.config.camera.lens, w, h)[1]
        end = (face, 0.0, 0.0, FILL * side / 2 / ty, 0.0)
    state = _ease(start, end, n)
    # the layers in front of the map would block the view: the near clip cuts them away as
    # the camera comes close (cubic: nothing is cut while the network is still in view)
    state.clip = PUSH_CLIP * np.linspace(0.0, 1.0, n) ** 3
    return state


def _fly(ctx: PlanContext, shot: ShotConfig, n: int, blocks: list[LayerBlock]) -> State:
    """Along the layers in graph order (through the wrapped rows), looking ahead."""
    points = np.array([(b.bounds()[0] + b.bounds()[1]) / 2 for b in blocks])
    if len(points) == 1:
        points = np.concatenate([points, points + [1.0, 0, 0]])
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    total = max(along[-1], 1e-9)
    s = np.linspace(0.0, total * (1 - FLY_AHEAD), n)
    where = np.stack([np.interp(s, along, points[:, k]) for k in range(3)], axis=1)
    ahead = np.stack([np.interp(s + FLY_AHEAD * total, along, points[:, k]) for k in range(3)],
                     axis=1)
    # smooth the corners of the path (a moving average over a tenth of the shot)
    k = max(1, n // 10)
    kernel = np.ones(k) / k
    for arr in (where, ahead):
        for c in range(3):
            padded = np.pad(arr[:, c], (k // 2, k - 1 - k // 2), mode="edge")
            arr[:, c] = np.convolve(padded, kernel, mode="valid")
    wall = median_wall(blocks)
    eye = where + np.array([0.0, -FLY_SIDE * wall, FLY_UP * wall])
    d = eye - ahead
    dist = np.maximum(np.linalg.norm(d, axis=1), 1e-6)
    el = np.degrees(np.arcsin(np.clip(d[:, 2] / dist, -1, 1)))
    az = np.degrees(np.unwrap(np.arctan2(-d[:, 1], -d[:, 0])))
    return State(ahead, az, el, dist, np.zeros(n))


def _ease(start: tuple, end: tuple, n: int) -> State:
    """From camera state ``start`` to ``end`` over ``n`` frames, smoothstep-eased; angles
    the short way round, distance and scale in log space."""
    t = smoothstep(np.linspace(0.0, 1.0, n))[:, None] if n > 1 else np.ones((1, 1))
    tgt = np.asarray(start[0], float) + (np.asarray(end[0], float)
                                          - np.asarray(start[0], float)) * t
    turn = (end[1] - start[1] + 180.0) % 360.0 - 180.0
    az = start[1] + turn * t[:, 0]
    el = start[2] + (end[2] - start[2]) * t[:, 0]

    def logmix(a: float, b: float) -> np.ndarray:
        if a <= 0 or b <= 0:
            return a + (b - a) * t[:, 0]
        return np.exp(math.log(a) + (math.log(b) - math.log(a)) * t[:, 0])

    return State(tgt, az, el, logmix(start[3], end[3]), logmix(start[4], end[4]))


def _blend_in(prev: tuple, own: State, frames: int) -> None:
    """The first ``frames`` of a shot ease from the previous shot's last state."""
    for i in range(min(frames, len(own.distance))):
        t = float(smoothstep((i + 1) / (frames + 1)))
        row = own.row(i)
        own.target[i] = np.asarray(prev[0]) + (np.asarray(row[0]) - np.asarray(prev[0])) * t
        own.azimuth[i] = prev[1] + ((row[1] - prev[1] + 180.0) % 360.0 - 180.0) * t
        own.elevation[i] = prev[2] + (row[2] - prev[2]) * t
        for arr, a, b in ((own.distance, prev[3], row[3]), (own.ortho, prev[4], row[4])):
            arr[i] = a * (b / a) ** t if a > 0 and b > 0 else a + (b - a) * t


def camera_track(ctx: PlanContext, blocks: list[LayerBlock], keep: np.ndarray,
                 base: CameraPlan) -> CameraTrack | None:
    """The camera per frame for a story of shots (None without shots: one orbit)."""
    spans: list[ShotSpan] = ctx.story.shots
    if not spans:
        return None
    ortho = base.orthographic
    states: list[State] = []
    prev = (np.asarray(base.target, float), base.azimuth_start, base.elevation, base.distance,
            base.ortho_scale)
    for span, shot in zip(spans, ctx.config.shots, strict=True):
        n = span.end - span.start + 1
        where = f"shots[{span.index}]"
        if shot.move in ("overview", "orbit"):
            state = _overview(ctx, shot, n, keep, ortho)
        elif shot.move == "focus":
            state = _focus(ctx, shot, n, blocks, where, ortho)
        elif shot.move == "fly":
            state = _fly(ctx, shot, n, blocks)
            if ortho:  # a flat view keeps its scale, a third of the overview's
                state.ortho[:] = base.ortho_scale / 3
        else:
            state = _push(ctx, shot, n, blocks, prev, where, ortho,
                          ctx.story.state_at(span.end))
        if span.blend and shot.move != "push":
            _blend_in(prev, state, span.blend)
        states.append(state)
        prev = state.row(n - 1)
    frames = np.arange(spans[0].start, spans[-1].end + 1)
    clip = None
    if any(s.clip is not None for s in states):
        clip = np.concatenate([s.clip if s.clip is not None else np.zeros(len(s.distance))
                               for s in states])
    return CameraTrack(frames, np.concatenate([s.target for s in states]),
                       np.concatenate([s.azimuth for s in states]),
                       np.concatenate([s.elevation for s in states]),
                       np.concatenate([s.distance for s in states]),
                       np.concatenate([s.ortho for s in states]), clip)
