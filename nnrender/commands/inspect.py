"""``nnrender inspect DUMP|SCENE``: what a render would draw, read off the very plan it
would render (``make_plan``: its layers, edge groups, labels and notes), never worked out
again here; then how long it would take (``estimate.py``: one calibration frame).

One row per layer: its type and output shape, how it is drawn (maps, neurons, tokens, a
placeholder; "k of N" when some are left out, one block when folded), its edges (kept,
with their count, or why not) and its label (shown, in a group's, hidden for room, off)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnrender.errors import NNRenderError, NNRenderWarning
from nnrender.layout.cells import SUMMARY_MAX
from nnrender.plan.types import LayerPlan, ScenePlan

WHAT = {"maps": "maps", "vector": "neurons", "tokens": "tokens", "volume": "steps x maps"}
HEADER = ("layer", "type", "output", "drawn", "edges in", "label")


@dataclass
class Row:
    name: str
    type: str
    shape: str
    drawn: str
    edges: str
    label: str

    def cells(self) -> tuple[str, ...]:
        return (self.name, self.type, self.shape, self.drawn, self.edges, self.label)


def _shape(shape: list[int]) -> str:
    return "x".join(str(d) for d in shape) or "scalar"


def drawn_text(lp: LayerPlan) -> str:
    """How a plan layer is drawn, in words."""
    if lp.placeholder or lp.role == "other":
        return "placeholder (no drawable shape)"
    if lp.role == "image":
        return f"{lp.total} neurons as one image"
    if lp.role == "attention":
        return f"{lp.total} heads' query x key maps"
    what = WHAT.get(lp.role, lp.role)
    if lp.shown == 0:
        kind = "max" if lp.sources is not None and np.any(lp.sources == SUMMARY_MAX) else "mean"
        return f"one block: the {kind} of {lp.total} {what}"
    text = (f"{what} {lp.shown} of {lp.total}" if lp.shown < lp.total
            else f"{what}, all {lp.total}")
    if len(set(lp.stages)) > 1:
        text += " (" + " > ".join(lp.stages) + ")"
    return text


def edges_text(plan: ScenePlan, index: int, name: str) -> str:
    """The edges into plan layer ``index`` (``name``): kept, or why not."""
    parts = [f"{g.count} from {g.source}" + (" (attention)" if g.kind == "attention" else "")
             for g in plan.edges if g.kind != "link" and g.target == name]
    for g in plan.edges:
        if g.kind == "link" and g.dst_index is not None:
            arcs = int(np.sum(g.dst_index == index))
            if arcs:
                parts.append(f"{arcs} skip arc{'s' * (arcs != 1)}")
    if parts:
        return "kept: " + ", ".join(parts)
    why = plan.edges_omitted.get(name)
    return f"omitted: {why}" if why else "-"


def label_text(plan: ScenePlan, name: str) -> str:
    for lab in plan.labels:
        if lab.kind == "layer" and lab.layer == name:
            return "shown"
        if lab.kind == "group" and name in lab.members:
            return f"in the group label {lab.text.splitlines()[0]}"
    return "hidden for room" if name in plan.labels_hidden else "off"


def layer_rows(plan: ScenePlan, layers: list) -> list[Row]:
    """A row per layer of the dump (``layers``, in order), attached blocks (attention maps)
    after their layer, and the layers the plan leaves out (folded repeats)."""
    own = {lp.name: i for i, lp in enumerate(plan.layers) if lp.role != "attention"}
    attached: dict[str, list[LayerPlan]] = {}
    for lp in plan.layers:
        if lp.role == "attention" and lp.inbound:
            attached.setdefault(lp.inbound[0], []).append(lp)
    folded = any(lab.kind == "badge" for lab in plan.labels)
    rows = []
    for layer in layers:
        if layer.name not in own:
            why = ("folded into its repeated block (layout.collapse)" if folded
                   else "left out: it repeats the output before it")
            rows.append(Row(layer.name, layer.type, _shape(layer.output_shape), why, "-", "-"))
            continue
        i = own[layer.name]
        lp = plan.layers[i]
        rows.append(Row(lp.name, lp.type, _shape(lp.shape), drawn_text(lp),
                        edges_text(plan, i, lp.name), label_text(plan, lp.name)))
        for extra in attached.get(layer.name, []):
            rows.append(Row(f"  {extra.name}", extra.type, _shape(extra.shape),
                            drawn_text(extra), "-", "-"))
    return rows


def table(rows: list[Row]) -> str:
    cells = [HEADER, *(r.cells() for r in rows)]
    widths = [max(len(c[k]) for c in cells) for k in range(len(HEADER) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True))
             + "  " + row[-1] for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def summary(plan: ScenePlan, model: dict, origin: str | Path) -> str:
    story = plan.story
    frames = story.last_frame - story.first_frame + 1
    fps = plan.render.fps
    w, h = plan.render.resolution
    return (f"{origin}: {model.get('name', 'model')}, epochs "
            f"{', '.join(map(str, plan.epochs))}; {frames} frames at {fps} fps "
            f"({frames / fps:.1f} s), {w}x{h}, {plan.render.engine}, "
            f"{plan.cell_count} cells, {sum(g.count for g in plan.edges)} edges")


def inspect_command(args: argparse.Namespace) -> int:
    from nnrender.commands.render import open_source
    from nnrender.config.bundled import scene_file
    from nnrender.config.load import load_config
    from nnrender.model.ir import Dump
    from nnrender.pipeline import parse_frames, resolve_dump
    from nnrender.plan import make_plan

    source = scene_file(args.source)
    scene, layer, origin = open_source(Path(source), args, None)
    config, base = load_config(scene, layer, args.quality, args.style)
    dump = Dump(resolve_dump(config, base, origin))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NNRenderWarning)
        plan = make_plan(dump, config, origin)
    print(summary(plan, dump.manifest.model, origin))
    print(table(layer_rows(plan, dump.manifest.layers)))
    for note in plan.warnings:
        print(f"note: {note}")
    if args.no_estimate:
        return 0
    last = plan.story.last_frame
    if args.still is not None:
        frame = args.still or config.output.still_frame or last
        if not 1 <= frame <= last:
            raise NNRenderError("--still", f"frame {frame} outside 1-{last}")
        frames = [frame]
    else:
        a, b = parse_frames(args.frames, last) if args.frames else (plan.story.first_frame,
                                                                     last)
        frames = list(range(a, b + 1))
    from nnrender.estimate import estimate_plan

    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="nnrender-inspect-") as tmp:
        estimate = estimate_plan(plan, config.render.engine, frames, Path(tmp) / "blender.log")
    print(f"estimate: {estimate.line()}")
    return 0
