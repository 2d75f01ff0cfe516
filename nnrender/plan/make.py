"""Dump + config -> ScenePlan, as a sequence of stages; each stage is a function of its own
module that a unit test can call alone:

    context -> arrange -> paint -> frame -> connect -> label -> camera, lights, captions
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnrender.config.schema import SceneConfig
from nnrender.edges.connect import bundle_keys, edge_targets, plan_edges
from nnrender.edges.groups import EdgeGroup, FieldPlan
from nnrender.layout.network import LayerBlock, arrange
from nnrender.model.ir import DumpLike
from nnrender.plan import dressing
from nnrender.plan.context import PlanContext, drawn_counts, plan_context
from nnrender.plan.framing import Framing, block_corners, frame
from nnrender.plan.labelling import label
from nnrender.plan.paint import paint
from nnrender.plan.shots import camera_track
from nnrender.plan.types import PLAN_VERSION, LayerPlan, ScenePlan
from nnrender.timeline.story import waves


def arrange_layers(ctx: PlanContext) -> tuple[list[LayerBlock], list[str]]:
    """Blocks on the model graph (room in front of layers that edges run into), and a
    note per layer drawn as a placeholder."""
    config = ctx.config
    cam = config.camera
    width, height = ctx.size
    wide = edge_targets(ctx.dump, config.edges, drawn_counts(ctx.layers, ctx.choices),
                        ctx.source)
    blocks = arrange(ctx.layers, [c.style for c in ctx.choices], spacing=config.layout.spacing,
                     wrap=config.layout.wrap, aspect=width / height,
                     camera=(cam.azimuth, cam.elevation, cam.orbit, cam.lens), wide=wide)
    notes = [f"layer {b.name} ({b.type}, output {b.shape}): drawn as a placeholder"
             for b in blocks if b.role == "other"]
    return blocks, notes


def connect(ctx: PlanContext, blocks: list[LayerBlock], layers: list[LayerPlan],
            framing: Framing, omitted: dict[str, str] | None = None
            ) -> tuple[list[EdgeGroup], FieldPlan | None, list[str]]:
    """Edges, skip arcs and the receptive field, with radii kept visible at ``framing``;
    ``omitted`` is filled with the layers left without edges and why."""
    config = ctx.config
    animated = {i for i, lp in enumerate(layers) if lp.stage_count > 1}
    groups, field, notes = plan_edges(
        ctx.dump, blocks, ctx.epoch_ids, config.edges, pixel=framing.pixel, seed=config.seed,
        sample=config.sample, link_color=tuple(0.55 * c + 0.2 for c in ctx.label_color),
        animated=animated, source=ctx.source, states=ctx.story.states, omitted=omitted)
    emission = dressing.edge_emission(config.look)
    for group in groups:
        group.emission = emission
    return groups, field, notes


def _arrivals(edges: list[EdgeGroup], blocks: list[LayerBlock]) -> None:
    """Each curve's source and target graph depth, for forward-pass pulses."""
    depth = {b.name: float(b.column) for b in blocks}
    columns = np.array([b.column for b in blocks], dtype=np.float64)
    for g in edges:
        if g.kind == "link":  # src/dst_index are layer indices
            g.arrive = np.stack([columns[g.src_index], columns[g.dst_index]], axis=1)
        else:
            g.arrive = np.tile([depth.get(g.source, 0.0), depth.get(g.target, 0.0)],
                               (g.count, 1))


def make_plan(dump: DumpLike, config: SceneConfig, source: str | Path = "scene") -> ScenePlan:
    """Turn a dump and a validated config into a ScenePlan."""
    ctx = plan_context(dump, config, source)
    blocks, notes = arrange_layers(ctx)
    layers, atlas = paint(ctx, blocks)
    # the camera first frames the blocks; labels are then sized to that view and placed so
    # that none overlaps another from any point of the orbit; the final framing adds them
    cells = block_corners(blocks)
    framing = frame(cells, config)
    omitted: dict[str, str] = {}
    edges, field, edge_notes = connect(ctx, blocks, layers, framing, omitted)
    # the skip arcs run above the blocks: the final framing holds them too
    arcs = [g.straight.reshape(-1, 3) for g in edges if g.kind == "link"]
    hidden: list[str] = []
    labels, framing, label_notes = label(ctx, blocks, framing, [cells, *arcs], hidden)
    camera = dressing.camera(ctx, framing)
    track = camera_track(ctx, blocks, np.concatenate([cells, *arcs, *(
        np.array([lab.position]) for lab in labels)]), camera)
    if track is not None:
        camera = dressing.follow(camera, track)
    ctx.story.waves = waves(config, ctx.story, max(b.column for b in blocks), source)
    _arrivals(edges, blocks)
    captions = dressing.captions(ctx)
    legend = dressing.legend(config.look)
    look = config.look.model_copy(update={"label_color": ctx.label_color})
    return ScenePlan(
        version=PLAN_VERSION,
        layers=layers,
        labels=labels,
        captions=captions,
        lights=dressing.lights(cells.min(axis=0), cells.max(axis=0), config.look.lighting),
        camera=camera,
        atlas=atlas,
        epochs=[dump.manifest.epochs[e].epoch for e in ctx.epoch_ids],
        timeline=ctx.timeline,
        story=ctx.story,
        render=config.render.model_copy(),
        look=look,
        seed=config.seed,
        overlay=dressing.overlay(ctx, camera, captions, legend),
        legend=legend,
        bloom=dressing.bloom(config.look),
        warnings=notes + edge_notes + label_notes,
        edges=edges,
        frustum=None if field is None else dressing.field_look(field, config.look, camera),
        bundle=float(config.edges.bundle),
        bundle_keys=bundle_keys(config.edges, ctx.story, source),
        edges_omitted=omitted,
        labels_hidden=hidden,
    )

