"""The plan's 3D scene seen flat: every cell's visible box faces, its activation tile on the
camera-facing face, the connections as polylines, all projected with the plan's own camera
(orthographic, at the shown frame's azimuth) and put in painting order (far to near).
Pure numpy: ``draw.py`` turns the result into matplotlib artists.

Coordinates here are the view's: x right, y up, in world units (the drawing scales them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nnrender.edges.groups import EdgeGroup
from nnrender.figure import palette
from nnrender.layout import cells as cell_kinds
from nnrender.layout.camera import View, offset_direction
from nnrender.model.ir import LayerInfo
from nnrender.plan.types import LayerPlan, ScenePlan
from nnrender.timeline.epochs import keyed

# the unit box as blender/mesh.py builds it: corner index 4x + 2y + z, faces -X +X -Y +Y -Z +Z;
# the -X face is the one the camera sees, its u along -Y (corner 2 -> 0), v along +Z
BOX_VERTS = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
BOX_FACES = np.array([[2, 0, 1, 3], [4, 6, 7, 5], [0, 4, 5, 1], [6, 2, 3, 7], [0, 2, 6, 4],
                      [1, 5, 7, 3]])
NORMALS = np.array([[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]],
                   dtype=np.float64)
FRONT = 0  # the textured face
LIGHT = np.array([-0.6, 0.35, 0.75])  # fixed light: from the upper left, in front
AMBIENT = 0.72  # shade of a face turned away from the light (1: as lit as it gets)
SHEEN = 0.28  # white added to a face that looks straight at the light
SIDE_PALE = 0.3  # the sides of activation cells, mixed this much towards white
FLAT_SOURCES = (cell_kinds.ELLIPSIS, cell_kinds.PLACEHOLDER)


@dataclass
class Faces:
    """Filled polygons drawn in order: ``points`` (n, 4, 2), colours (n, 4) RGBA 0..1."""

    points: np.ndarray
    colors: np.ndarray
    outlined: np.ndarray | None = None  # (n,) bool: which get an outline (None: all)


@dataclass
class Tiles:
    """Activation tiles, each mapped onto its face: ``corners[i]`` is the face's bottom-left,
    bottom-right and top-left corner (image row 0 is the top)."""

    images: list[np.ndarray]  # (h, w, 3) uint8 sRGB
    corners: np.ndarray  # (n, 3, 2)


@dataclass
class Curves:
    """Polylines (n, S, 2) with RGBA colours (n, 4) and widths (n,) in world units."""

    points: np.ndarray
    colors: np.ndarray
    widths: np.ndarray
    kind: str = "dense"


@dataclass
class Item:
    """One thing to paint and its depth (larger is farther: painted first)."""

    depth: float
    order: int
    what: Faces | Tiles | Curves
    layer: str = ""


@dataclass
class Projected:
    """The scene in painting order, the 2D box of every shown cell (what labels must not
    cover) and the extent of everything drawn."""

    items: list[Item]
    cell_boxes: np.ndarray  # (n, 4) x0, y0, x1, y1
    cell_layers: list[str]  # the layer of each cell box
    bounds: tuple[float, float, float, float]  # x0, y0, x1, y1
    view: View
    frame: float
    slot: int
    types: list[str] = field(default_factory=list)  # layer types coloured (architecture)


def shown_slot(plan: ScenePlan, epoch: int | None) -> int:
    """Index (into ``plan.epochs``) of the recorded epoch shown: ``epoch``, or the last."""
    if epoch is None:
        return len(plan.epochs) - 1
    return plan.epochs.index(epoch)


def figure_frame(plan: ScenePlan, slot: int) -> float:
    """The frame that shows epoch slot ``slot`` (the last frame for the last epoch)."""
    tl = plan.timeline
    if slot >= len(plan.epochs) - 1:
        return float(tl.last_frame)
    return float(tl.frame_of_epoch(slot))


def flat_view(plan: ScenePlan, frame: float) -> View:
    """The plan's camera at ``frame``, orthographic, one world unit per unit of the view."""
    cam, tl = plan.camera, plan.timeline
    span = max(tl.last_frame - tl.first_frame, 1)
    az = cam.azimuth_start + (cam.azimuth_end - cam.azimuth_start) * (
        (frame - tl.first_frame) / span)
    return View(np.asarray(cam.target, dtype=np.float64), cam.distance, az, cam.elevation,
                cam.lens, 1, 1, 1.0)


def shades(view: View) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which of the 6 box faces the camera sees, each face's flat shade (a factor) and its
    sheen (a share of white added: faces turned to the light read lighter, not darker)."""
    toward = offset_direction(view.azimuth, view.elevation)
    visible = NORMALS @ toward > 1e-9
    light = LIGHT / np.linalg.norm(LIGHT)
    lit = np.clip(NORMALS @ light, 0, 1)
    return visible, AMBIENT + (1 - AMBIENT) * lit, SHEEN * lit ** 2


def lit(base: np.ndarray, shade: float, sheen: float) -> np.ndarray:
    """A face's colour: its base shaded, then lightened by its sheen."""
    return np.clip(base * shade + (1 - base * shade) * sheen, 0, 1)


def _project(view: View, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    shape = points.shape[:-1]
    x, y, depth = view.project(points.reshape(-1, 3))
    return np.stack([x, y], axis=-1).reshape(*shape, 2), depth.reshape(shape)


def _tile(block: np.ndarray, rect: np.ndarray) -> np.ndarray:
    x, y, w, h = (int(v) for v in rect)
    return block[y:y + h, x:x + w, :3]


def _layer_faces(lp: LayerPlan, block: np.ndarray | None, view: View, flat: tuple | None,
                 order: int) -> tuple[list[Item], np.ndarray]:
    """A layer's items (side faces, tiles, then the tiles' outlines, cells far to near) and
    the 2D boxes of its shown cells. ``flat``: the layer's type colour (architecture)."""
    centers, sizes = lp.centers, lp.sizes
    shown = np.nonzero(np.any(sizes > 0, axis=1))[0]
    if not len(shown):
        return [], np.zeros((0, 4))
    visible, shade, sheen = shades(view)
    corners = BOX_VERTS[None] * sizes[shown, None] + centers[shown, None]  # (n, 8, 3)
    pts, depth = _project(view, corners)
    far = np.argsort(-depth.mean(axis=1), kind="stable")
    polys, colors, lined, tile_imgs, tile_corners, outlines = [], [], [], [], [], []
    faces = [f for f in range(6) if visible[f]]
    for k in far:
        j = shown[k]
        if flat is not None:
            base = np.asarray(flat, dtype=np.float64)
            tile = None
        else:
            tile = _tile(block, lp.tiles[j]) if block is not None else None
            uniform = tile is None or tile.shape[0] * tile.shape[1] <= 1 or (
                lp.sources is not None and int(lp.sources[j]) in FLAT_SOURCES)
            base = (tile.reshape(-1, 3).mean(axis=0) / 255.0 if tile is not None
                    else np.full(3, 0.6))
            if uniform:
                tile = None
        for f in faces:
            quad = pts[k, BOX_FACES[f]]
            if f == FRONT and tile is not None:
                tile_imgs.append(tile)
                tile_corners.append(quad[[0, 1, 3]])  # u0v0, u1v0, u0v1
                outlines.append(quad)
                continue
            exact = f == FRONT and flat is None  # a neuron's colour, as the colour bar says
            color = base if exact else lit(base, shade[f], sheen[f])
            if not exact and flat is None:  # a map's edges: its colour, paled like card
                color = SIDE_PALE + (1 - SIDE_PALE) * color
            colors.append(np.append(np.clip(color, 0, 1), 1.0))
            polys.append(quad)
            # the ellipsis' dots stay plain: outlined, three specks read as clutter
            lined.append(lp.sources is None or int(lp.sources[j]) != cell_kinds.ELLIPSIS)
    items = []
    d = float(depth.mean())
    if polys:
        items.append(Item(d, order, Faces(np.array(polys), np.array(colors), np.array(lined)),
                          lp.name))
    if tile_imgs:
        items.append(Item(d, order, Tiles(tile_imgs, np.array(tile_corners)), lp.name))
        items.append(Item(d, order, Faces(np.array(outlines), np.zeros((len(outlines), 4))),
                          lp.name))
    flat_pts = pts.reshape(len(shown), -1, 2)
    boxes = np.concatenate([flat_pts.min(axis=1), flat_pts.max(axis=1)], axis=1)
    return items, boxes


def srgb(linear: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Linear RGB (the plan's colours) to sRGB 0..1 (matplotlib's)."""
    lin = np.clip(np.asarray(linear, dtype=np.float64), 0, 1)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)


def bundle_strength(plan: ScenePlan, frame: float) -> float:
    return float(keyed(plan.bundle_keys, frame)) if plan.bundle_keys else float(plan.bundle)


def _curves(group: EdgeGroup, view: View, strength: float, slot: int
            ) -> tuple[Curves, np.ndarray] | None:
    """A group's drawn curves at a bundling strength and epoch slot, and their depths."""
    w = group.weight_at(float(slot))
    present = group.presence_at(float(slot))
    keep = (np.abs(w) > 0) & (present > 0)
    if not keep.any():
        return None
    pts3 = group.at(strength)[keep].astype(np.float64)
    pts, depth = _project(view, pts3)
    mag = np.abs(w[keep])
    alpha = group.opacity * (group.alpha_floor + (1 - group.alpha_floor) * mag) * present[keep]
    rgb = np.where((w[keep] >= 0)[:, None], srgb(group.positive)[None],
                   srgb(group.negative)[None])
    colors = np.concatenate([rgb, np.clip(alpha, 0, 1)[:, None]], axis=1)
    widths = 2 * (group.min_radius + (group.radius - group.min_radius) * mag)
    return Curves(pts, colors, widths, group.kind), depth


def _edge_items(plan: ScenePlan, view: View, strength: float, slot: int,
                layer_depth: dict[str, float], start: int) -> list[Item]:
    """Connections: each group between its two layers' depths (drawn over the farther
    layer, under the nearer); skip arcs each at its own depth."""
    out = []
    names = [lp.name for lp in plan.layers]
    for g in plan.edges:
        made = _curves(g, view, strength, slot)
        if made is None:
            continue
        curves, depth = made
        if g.kind == "link":  # one item per arc: they run over and between many layers
            for k in range(len(curves.points)):
                one = Curves(curves.points[k:k + 1], curves.colors[k:k + 1],
                             curves.widths[k:k + 1], g.kind)
                ends = [layer_depth.get(names[int(i)], float(depth[k].mean()))
                        for i in _link_ends(g, k, len(names))]
                out.append(Item(float(np.mean(ends)) if ends else float(depth[k].mean()),
                                start + len(out), one, "links"))
            continue
        ends = [layer_depth[n] for n in (g.source, g.target) if n in layer_depth]
        out.append(Item(float(np.mean(ends)) if ends else float(depth.mean()), start + len(out),
                        curves, g.name))
    return out


def _link_ends(group: EdgeGroup, k: int, count: int) -> list[int]:
    ends = []
    for index in (group.src_index, group.dst_index):
        if index is not None and k < len(index) and 0 <= int(index[k]) < count:
            ends.append(int(index[k]))
    return ends


def _covered(plan: ScenePlan) -> set[tuple[str, str]]:
    """Layer pairs the plan already connects (edge groups, skip arcs)."""
    names = [lp.name for lp in plan.layers]
    pairs = {(g.source, g.target) for g in plan.edges if g.kind != "link"}
    for g in plan.edges:
        if g.kind == "link" and g.src_index is not None and g.dst_index is not None:
            pairs |= {(names[int(a)], names[int(b)]) for a, b in zip(g.src_index, g.dst_index,
                                                                    strict=True)
                      if 0 <= int(a) < len(names) and 0 <= int(b) < len(names)}
    return pairs


def connectors(plan: ScenePlan, graph: Sequence[LayerInfo],
               bounds: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Straight (n, 2, 3) segments from each drawn layer's back to the front of each drawn
    layer it feeds, where the plan draws no connection between them and the second lies
    ahead of the first in the same row (an architecture figure's arrows)."""
    covered = _covered(plan)
    out = []
    for info in graph:
        if info.name not in bounds:
            continue
        lo_c, hi_c = bounds[info.name]
        for parent in info.inbound:
            if parent not in bounds or (parent, info.name) in covered:
                continue
            lo_p, hi_p = bounds[parent]
            same_row = lo_c[2] < hi_p[2] and lo_p[2] < hi_c[2]
            if lo_c[0] <= hi_p[0] or not same_row:
                continue
            out.append([[hi_p[0], (lo_p[1] + hi_p[1]) / 2, (lo_p[2] + hi_p[2]) / 2],
                        [lo_c[0], (lo_c[1] + hi_c[1]) / 2, (lo_c[2] + hi_c[2]) / 2]])
    return np.array(out, dtype=np.float64).reshape(-1, 2, 3)


def _connector_items(plan: ScenePlan, graph: Sequence[LayerInfo], view: View,
                     bounds: dict[str, tuple[np.ndarray, np.ndarray]], start: int,
                     color: np.ndarray) -> list[Item]:
    segments = connectors(plan, graph, bounds)
    out = []
    for k, seg in enumerate(segments):
        pts, depth = _project(view, seg)
        curve = Curves(pts[None], np.append(color, 1.0)[None], np.zeros(1), "connector")
        out.append(Item(float(depth.mean()), start + k, curve, "connectors"))
    return out


def project(plan: ScenePlan, epoch: int | None = None, activations: bool | None = None,
            graph: Sequence[LayerInfo] | None = None) -> Projected:
    """The plan as flat items in painting order (see the module docstring)."""
    slot = shown_slot(plan, epoch)
    frame = figure_frame(plan, slot)
    view = flat_view(plan, frame)
    colour_by_type = not (plan.look.activations if activations is None else activations)
    colours = palette.type_colors([lp.type for lp in plan.layers]) if colour_by_type else {}
    items: list[Item] = []
    boxes, owners = [], []
    layer_depth: dict[str, float] = {}
    bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for i, lp in enumerate(plan.layers):
        if lp.stage_count > 1:
            c, s = lp.at(frame)
            lp = LayerPlan(lp.name, lp.type, lp.role, lp.shape, c, s, lp.tiles, lp.norm,
                           lp.placeholder, lp.page, lp.sources)
        blocks = plan.atlas.blocks[lp.page]
        block = blocks[min(slot, len(blocks) - 1)] if len(blocks) else None
        flat = None
        if colour_by_type:
            flat = palette.PLACEHOLDER if lp.placeholder else colours[lp.type]
        made, cell_boxes = _layer_faces(lp, block, view, flat, i)
        items += made
        if made:
            layer_depth[lp.name] = made[0].depth
            shown = np.any(lp.sizes > 0, axis=1)
            bounds[lp.name] = ((lp.centers[shown] - lp.sizes[shown] / 2).min(axis=0),
                               (lp.centers[shown] + lp.sizes[shown] / 2).max(axis=0))
        boxes.append(cell_boxes)
        owners += [lp.name] * len(cell_boxes)
    items += _edge_items(plan, view, bundle_strength(plan, frame), slot, layer_depth,
                         len(plan.layers))
    if colour_by_type and graph:
        items += _connector_items(plan, graph, view, bounds, len(plan.layers) + len(items),
                                  srgb(plan.look.label_color))
    items.sort(key=lambda it: (-it.depth, it.order))
    cell_boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    return Projected(items, cell_boxes, owners, _bounds(items, cell_boxes), view, frame, slot,
                     list(colours))


def _bounds(items: list[Item], cell_boxes: np.ndarray) -> tuple[float, float, float, float]:
    pts = [cell_boxes[:, :2], cell_boxes[:, 2:]]
    for it in items:
        if isinstance(it.what, Curves):
            pts.append(it.what.points.reshape(-1, 2))
    allpts = np.concatenate([p for p in pts if len(p)]) if any(len(p) for p in pts) else \
        np.zeros((1, 2))
    lo, hi = allpts.min(axis=0), allpts.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])
