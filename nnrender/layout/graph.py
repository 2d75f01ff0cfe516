"""Graph layout: depth columns, lanes for side branches, rows for long networks. Pure numpy.

The model's ``inbound`` names form a DAG. Each layer's column is its longest-path depth from
the inputs, so every edge points to the right. The longest input-to-output path is the main
path and sits on the axis (lane 0); the other layers are cut into chains (again longest paths
first) that sit in lanes above (+Z) or below (-Z) the layers they run beside, centred between
where they split off and where they merge back. A network much wider than the frame is
wrapped into rows stacked downwards, like lines of text, breaking where possible at columns
that no edge jumps over (ResNet's block outputs, say), so only one node's edges cross a break.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nnrender.layout.camera import frame_points
from nnrender.model.ir import LayerInfo

WRAP_GAIN = 1.3  # wrapping must make the network this much larger in the frame to be chosen
ROW_TIE = 0.97  # a row count this close to the best fit, with fewer rows, is preferred
BREAK_SLACK = 0.25  # a clean break this close (in row lengths) to the ideal one is preferred
LABEL_SHARE = 0.25  # room for labels above a row, as a share of its height
DEFAULT_CAMERA = (55.0, 20.0, 14.0, 70.0)  # azimuth, elevation, orbit, lens judging the wrap
GAP_SHARE = 0.3  # gap between columns, as a share of the larger wall...
WIDE_SHARE = 0.6  # ...in front of a layer that edges run into


@dataclass
class GraphPlacement:
    """Per node: depth column, wrapped row, lane (0 main path, +k above, -k below) and the
    translation that moves its origin-centred block into place."""

    column: np.ndarray
    row: np.ndarray
    lane: np.ndarray
    offset: np.ndarray


def graph_edges(layers: Sequence[LayerInfo]) -> list[tuple[int, int]]:
    """(parent, child) index pairs from ``inbound``; unknown names are ignored. A dump with
    no inbound lists at all (older manifests) is read as a chain in layer order."""
    index = {layer.name: i for i, layer in enumerate(layers)}
    edges: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for i, layer in enumerate(layers):
        for name in layer.inbound:
            j = index.get(name)
            if j is None or j == i or (j, i) in seen:
                continue
            seen.add((j, i))
            edges.append((j, i))
    if not edges and all(not layer.inbound for layer in layers):
        edges = [(i, i + 1) for i in range(len(layers) - 1)]
    return edges


def topological(n: int, edges: Sequence[tuple[int, int]]
                ) -> tuple[list[int], list[tuple[int, int]]]:
    """A topological order (layer order among ties) and the edges consistent with it; an
    edge closing a cycle (never in a valid dump) is dropped rather than looping."""
    children: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for u, v in edges:
        children[u].append(v)
        indeg[v] += 1
    heap = [i for i in range(n) if indeg[i] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    done = [False] * n
    while len(order) < n:
        if not heap:  # a cycle: release the earliest waiting node
            heap = [min(i for i in range(n) if not done[i])]
        v = heapq.heappop(heap)
        if done[v]:
            continue
        done[v] = True
        order.append(v)
        for c in children[v]:
            indeg[c] -= 1
            if indeg[c] == 0 and not done[c]:
                heapq.heappush(heap, c)
    rank = {v: k for k, v in enumerate(order)}
    return order, [(u, v) for u, v in edges if rank[u] < rank[v]]


def longest_depth(n: int, order: Sequence[int], edges: Sequence[tuple[int, int]],
                  nodes: set[int] | None = None) -> np.ndarray:
    """Longest-path depth from the sources of the subgraph on ``nodes`` (all by default)."""
    parents: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        if nodes is None or (u in nodes and v in nodes):
            parents[v].append(u)
    depth = np.zeros(n, dtype=int)
    for v in order:
        if nodes is not None and v not in nodes:
            continue
        if parents[v]:
            depth[v] = max(depth[p] for p in parents[v]) + 1
    return depth


def longest_path(n: int, order: Sequence[int], edges: Sequence[tuple[int, int]],
                 nodes: set[int]) -> list[int]:
    """The longest path within ``nodes``, ties broken by layer order (earliest first)."""
    depth = longest_depth(n, order, edges, nodes)
    parents: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        if u in nodes and v in nodes:
            parents[v].append(u)
    end = min(nodes, key=lambda v: (-depth[v], v))
    path = [end]
    while depth[path[-1]] > 0:
        v = path[-1]
        path.append(min(p for p in parents[v] if depth[p] == depth[v] - 1))
    return path[::-1]


def chains(n: int, order: Sequence[int], edges: Sequence[tuple[int, int]]
           ) -> tuple[list[int], list[list[int]]]:
    """The main path and the chains the other layers split into, longest first."""
    rest = set(range(n))
    main = longest_path(n, order, edges, rest) if n else []
    rest -= set(main)
    out: list[list[int]] = []
    while rest:
        path = longest_path(n, order, edges, rest)
        out.append(path)
        rest -= set(path)
    return main, out


def clean_breaks(column: np.ndarray, edges: Sequence[tuple[int, int]]) -> np.ndarray:
    """Score of ending a row after column c: 0 when edges of several nodes would cross the
    break, 1 when only one node's edges do, 2 when that node also splits (a ResNet block
    output, say: the row then ends on a whole block)."""
    last = int(column.max()) if column.size else 0
    sources: list[dict[int, int]] = [{} for _ in range(max(last, 1))]
    for u, v in edges:
        for c in range(int(column[u]), int(column[v])):
            sources[c][u] = sources[c].get(u, 0) + 1
    return np.array([0 if len(s) > 1 else (2 if sum(s.values()) > 1 else 1) for s in sources])


def _centre_chains(column: np.ndarray, edges: Sequence[tuple[int, int]],
                   branch: list[list[int]]) -> None:
    """Slide each chain along X to the middle of the span between its split and merge."""
    parents: dict[int, list[int]] = {}
    children: dict[int, list[int]] = {}
    for u, v in edges:
        parents.setdefault(v, []).append(u)
        children.setdefault(u, []).append(v)
    for chain in branch:
        members = set(chain)
        lows = [column[p] - column[v] + 1 for v in chain for p in parents.get(v, [])
                if p not in members]
        highs = [column[q] - column[v] - 1 for v in chain for q in children.get(v, [])
                 if q not in members]
        lo = max(lows) if lows else None
        hi = min(highs) if highs else None
        if lo is not None and hi is not None:
            shift = (lo + hi) // 2
        elif hi is not None:  # a separate input: right next to where it joins
            shift = hi
        else:  # a side output: right after its parent
            shift = lo if lo is not None else 0
        for v in chain:
            column[v] += shift


def _lanes(column: np.ndarray, main: list[int], branch: list[list[int]], lo: np.ndarray,
           hi: np.ndarray, room: float, tilt: float) -> tuple[np.ndarray, np.ndarray]:
    """Lane and Z offset per node: chains stack above the skyline of the columns they span
    (then below, alternating), each aligned on one line, ``room`` apart plus ``tilt`` times
    the walls' depth (seen from above, a deep wall's far edge rises on screen)."""
    n = len(column)
    cols = int(column.max()) + 1
    top = np.zeros(cols)
    bottom = np.zeros(cols)
    depth = np.zeros(cols)
    up = np.zeros(cols, dtype=int)
    down = np.zeros(cols, dtype=int)
    lane = np.zeros(n, dtype=int)
    z = np.zeros(n)
    for v in main:
        c = column[v]
        top[c] = max(top[c], hi[v, 2])
        bottom[c] = min(bottom[c], lo[v, 2])
        depth[c] = max(depth[c], hi[v, 1] - lo[v, 1])
    for chain in branch:
        a = int(min(column[v] for v in chain))
        b = int(max(column[v] for v in chain)) + 1
        c_hi = max(hi[v, 2] for v in chain)
        c_lo = min(lo[v, 2] for v in chain)
        c_depth = max(hi[v, 1] - lo[v, 1] for v in chain)
        apart = room + tilt * (c_depth + float(depth[a:b].max())) / 2
        above, below = int(up[a:b].max()), int(down[a:b].max())
        if above <= below:
            zc = float(top[a:b].max()) + apart - c_lo
            top[a:b] = zc + c_hi
            up[a:b] = above + 1
            level = above + 1
        else:
            zc = float(bottom[a:b].min()) - apart - c_hi
            bottom[a:b] = zc + c_lo
            down[a:b] = below + 1
            level = -(below + 1)
        depth[a:b] = np.maximum(depth[a:b], c_depth)
        for v in chain:
            lane[v] = level
            z[v] = zc
    return lane, z


def _column_x(column: np.ndarray, lo: np.ndarray, hi: np.ndarray, spacing: float,
              wide: np.ndarray | None = None) -> np.ndarray:
    """X of every column: gaps grow with the walls on either side, and more in front of a
    ``wide`` node (one that edges run into: bundles need room to turn between walls)."""
    cols = int(column.max()) + 1
    back = np.zeros(cols)
    front = np.zeros(cols)
    wall = np.zeros(cols)
    share = np.full(cols, GAP_SHARE)
    for v, c in enumerate(column):
        if wide is not None and wide[v]:
            share[c] = WIDE_SHARE
        back[c] = max(back[c], -lo[v, 0])
        front[c] = max(front[c], hi[v, 0])
        wall[c] = max(wall[c], hi[v, 1] - lo[v, 1], hi[v, 2] - lo[v, 2])
    x = np.zeros(cols)
    for c in range(1, cols):
        x[c] = (x[c - 1] + front[c - 1] + back[c]
                + spacing * (1.2 + share[c] * max(wall[c - 1], wall[c])))
    return x


def _breaks(x: np.ndarray, clean: np.ndarray, rows: int) -> np.ndarray:
    """Row index per column for ``rows`` rows of about equal length, ending rows after the
    best-scored clean column (see ``clean_breaks``) when one is near the ideal break."""
    cols = len(x)
    rows = max(1, min(rows, cols))
    row_of = np.zeros(cols, dtype=int)
    if rows == 1:
        return row_of
    length = x[-1] - x[0]
    per = length / rows
    mids = (x[:-1] + x[1:]) / 2  # boundary after column c
    prev = -1
    ends = []
    for k in range(1, rows):
        target = x[0] + k * per
        first = prev + 1
        last = cols - 1 - (rows - k)  # leave a column for every later row
        cand = np.arange(first, last + 1)
        dist = np.abs(mids[cand] - target)
        good = cand[(clean[cand] > 0) & (dist <= BREAK_SLACK * per)]
        if good.size:
            best = good[clean[good] == clean[good].max()]
            c = int(best[np.argmin(np.abs(mids[best] - target))])
        else:
            c = int(cand[np.argmin(dist)])
        ends.append(c)
        prev = c
    for c in ends:
        row_of[c + 1:] += 1
    return row_of


def _stack_rows(row_of_col: np.ndarray, column: np.ndarray, x: np.ndarray, z: np.ndarray,
                lo: np.ndarray, hi: np.ndarray, gap: float, tilt: float) -> np.ndarray:
    """Offsets with rows restarting at the left and stacked downwards, each row below the
    previous one's lowest point by its own height's label room, ``gap``, and ``tilt`` times
    the walls' depth."""
    n = len(column)
    row = row_of_col[column]
    rows = int(row_of_col.max()) + 1
    start = np.array([x[np.argmax(row_of_col == r)] for r in range(rows)])
    offset = np.zeros((n, 3))
    offset[:, 0] = x[column] - start[row]
    axis = 0.0
    prev_bottom = prev_depth = None
    for r in range(rows):
        sel = row == r
        r_top = float((z[sel] + hi[sel, 2]).max())
        r_bottom = float((z[sel] + lo[sel, 2]).min())
        r_depth = float((hi[sel, 1] - lo[sel, 1]).max())
        if prev_bottom is not None:
            axis = (prev_bottom - gap - LABEL_SHARE * (r_top - r_bottom)
                    - tilt * (prev_depth + r_depth) / 2 - r_top)
        offset[sel, 2] = axis + z[sel]
        prev_bottom, prev_depth = axis + r_bottom, r_depth
    return offset


def _fit(offset: np.ndarray, lo: np.ndarray, hi: np.ndarray, aspect: float,
         camera: tuple[float, float, float, float], label_room: float) -> float:
    """How large the network appears in a frame of ``aspect`` seen by ``camera`` (azimuth,
    elevation, orbit, lens; perspective): the inverse of the framing distance."""
    az, el, orbit, lens = camera
    a, b = offset + lo, offset + hi
    b = b + [0.0, 0.0, label_room]  # the labels above every block stay in the frame too
    corners = np.concatenate([np.stack([np.where([i & 1, i & 2, i & 4], b, a)
                                        for i in range(8)], axis=1).reshape(-1, 3)])
    height = 1000
    width = int(round(height * aspect))
    azimuths = [az + orbit / 2, az, az - orbit / 2] if orbit else [az]
    _, distance = frame_points(corners, azimuths, el, lens, width, height, 1.0)
    return 1.0 / max(distance, 1e-9)


def layout_graph(n: int, edges: Sequence[tuple[int, int]], lo: np.ndarray, hi: np.ndarray,
                 *, spacing: float = 1.0, wrap: str | int = "auto", aspect: float = 16 / 9,
                 label_room: float = 0.0, gap: float = 1.0,
                 camera: tuple[float, float, float, float] = DEFAULT_CAMERA,
                 wide: np.ndarray | None = None) -> GraphPlacement:
    """Place ``n`` origin-centred blocks with local bounds ``lo``/``hi`` (n, 3) on the graph
    and centre the result on the origin (X and Z; walls stay centred on Y = 0)."""
    if n == 0:
        empty = np.zeros(0, dtype=int)
        return GraphPlacement(empty, empty, empty, np.zeros((0, 3)))
    order, edges = topological(n, edges)
    column = longest_depth(n, order, edges)
    main, branch = chains(n, order, edges)
    _centre_chains(column, edges, branch)
    # seen from above at ``elevation``, the far edge of a wall d deep rises like a wall
    # d * sin(azimuth) * tan(elevation) taller: rows and lanes keep that much further apart
    az, el = math.radians(camera[0]), math.radians(min(abs(camera[1]), 60.0))
    tilt = abs(math.sin(az)) * math.tan(el)
    lane, z = _lanes(column, main, branch, lo, hi, label_room + gap, tilt)
    x = _column_x(column, lo, hi, spacing, wide)
    clean = clean_breaks(column, edges)
    cols = len(x)

    def build(rows: int) -> tuple[np.ndarray, np.ndarray]:
        row_of_col = _breaks(x, clean, rows)
        return row_of_col, _stack_rows(row_of_col, column, x, z, lo, hi, gap, tilt)

    if wrap == "none":
        rows = 1
    elif wrap == "auto":
        fits = [_fit(build(1)[1], lo, hi, aspect, camera, label_room)]
        for rows in range(2, min(cols, 40) + 1):
            fits.append(_fit(build(rows)[1], lo, hi, aspect, camera, label_room))
            if len(fits) - int(np.argmax(fits)) > 3:  # past the best: only taller from here
                break
        best = max(fits)
        # the fewest rows that come close to the best (ties read better as longer rows)
        rows = next(r for r, f in enumerate(fits, start=1) if f >= ROW_TIE * best)
        if best < WRAP_GAIN * fits[0]:
            rows = 1
    elif isinstance(wrap, int) and not isinstance(wrap, bool) and wrap >= 1:
        rows = wrap
    else:
        raise ValueError(f"wrap must be 'auto', 'none' or a row count >= 1, got {wrap!r}")
    row_of_col, offset = build(rows)
    a, b = offset + lo, offset + hi
    centre = (a.min(axis=0) + b.max(axis=0)) / 2
    centre[1] = 0.0
    offset -= centre
    return GraphPlacement(column.copy(), row_of_col[column], lane, offset)

