"""Stage 1 of planning: what the scene asks of the dump, checked and resolved once.

Every later stage reads this context rather than the raw config: which recorded epochs are
shown, the timeline, each layer's resolved style and animation keys, the label colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nnrender.config.load import per_layer
from nnrender.config.schema import ChangeConfig, LayoutConfig, SceneConfig
from nnrender.errors import ConfigError
from nnrender.layout.network import LayerStyle
from nnrender.layout.repeats import CollapsedDump, find_repeats, without_duplicates
from nnrender.model.ir import DumpLike, LayerInfo
from nnrender.timeline.epochs import EpochTimeline, Frames, change_keys
from nnrender.timeline.story import Story, build_story

Color = tuple[float, float, float]
DARK_TEXT: Color = (0.04, 0.045, 0.055)
LIGHT_TEXT: Color = (0.92, 0.93, 0.95)


@dataclass
class LayerChoice:
    """One layer's resolved ``layout.layers`` entry: how it is drawn and animated."""

    style: LayerStyle
    changes: list[ChangeConfig]  # sorted by time
    label: bool | None  # None: as ``labels.show`` says
    colormap: str
    stage_keys: list[tuple[float, float]]  # (frame, stage) keys; empty when static


@dataclass
class PlanContext:
    dump: DumpLike
    config: SceneConfig
    source: str | Path
    epoch_ids: list[int]  # indices into the dump's recorded epochs, in order
    timeline: EpochTimeline  # how the epochs are paced
    story: Story  # the video's frames, the (epoch, input) states it shows, its shots
    choices: list[LayerChoice]  # one per drawn layer
    label_color: Color
    # repeated blocks folded (layout.collapse): each drawn block's layer names and count
    badges: list[tuple[list[str], int]] = field(default_factory=list)

    @property
    def layers(self) -> list[LayerInfo]:
        return self.dump.manifest.layers

    @property
    def size(self) -> tuple[int, int]:
        width, height = self.config.render.resolution
        return int(width), int(height)


def label_colour(config: SceneConfig) -> Color:
    """The scene's text colour: as given, else dark on light backgrounds and light on dark."""
    if config.look.label_color is not None:
        return tuple(float(c) for c in config.look.label_color)
    r, g, b = config.look.background
    # a transparent figure ends up on a page: dark text, as on a light background
    light = config.look.transparent or 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.18
    return DARK_TEXT if light else LIGHT_TEXT


def resolve_choices(layout: LayoutConfig, layers: list[LayerInfo], default_cmap: str,
                    timeline: Frames, source: str | Path) -> list[LayerChoice]:
    """Scene ``layout.layers`` entries (names or glob patterns, later ones win) per layer.
    A pattern that matches no layer is an error: it is almost always a typo."""
    out = []
    names = [layer.name for layer in layers]
    for name, merged in zip(names, per_layer(layout.layers, names, "layout.layers", source),
                            strict=True):
        first = merged.get("arrange") or layout.arrange
        changes = sorted(merged.get("changes", []), key=lambda c: c.at)
        style = LayerStyle(
            arrange=[first] + [c.arrange for c in changes],
            show=merged.get("show", layout.show),
            summary=merged.get("summary") or layout.summary,
            dense=merged.get("dense") or layout.dense,
            dense_limit=layout.dense_limit,
            steps=merged.get("steps", layout.steps),
            attention=merged.get("attention", layout.attention),
        )
        keys = [] if not changes else change_keys(
            timeline, 0.0, [(f"layout.layers: {name}: changes[{i}]", c.at, c.over, i + 1)
                            for i, c in enumerate(changes)], source)
        out.append(LayerChoice(style, changes, merged.get("label"),
                               merged.get("colormap") or default_cmap, keys))
    return out


def plan_context(dump: DumpLike, config: SceneConfig, source: str | Path) -> PlanContext:
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
    t = config.timeline
    timeline = EpochTimeline.from_seconds(len(epoch_ids), config.render.fps, t.hold, t.blend,
                                          t.end_hold)
    story = build_story(config, timeline, [recorded[e] for e in epoch_ids], count, source)
    choices = resolve_choices(config.layout, manifest.layers, config.look.colormap, story,
                              source)
    view = without_duplicates(dump)
    keep = getattr(view, "keep", list(range(len(manifest.layers))))
    merged = per_layer(config.layout.layers, [la.name for la in manifest.layers],
                       "layout.layers", source)
    allowed = [merged[i].get("collapse", config.layout.collapse) == "repeats" for i in keep]
    folded, badges = fold_repeats(view, allowed)
    if folded is not view:
        keep = [keep[i] for i in folded.keep]
    return PlanContext(folded, config, source, epoch_ids, timeline, story,
                       [choices[i] for i in keep], label_colour(config), badges)


def fold_repeats(dump: DumpLike, allowed: list[bool]
                 ) -> tuple[DumpLike, list[tuple[list[str], int]]]:
    """The dump with its repeated blocks folded where ``allowed`` (``layout.collapse``, or a
    layer's own setting) lets them, and the badges of the folded runs."""
    if not any(allowed):
        return dump, []
    runs = find_repeats(dump.manifest.layers, allowed)
    if not runs:
        return dump, []
    view = CollapsedDump(dump, runs)
    return view, view.badges


def drawn_counts(layers: list[LayerInfo], choices: list[LayerChoice]) -> list[int]:
    """Neurons or maps each layer draws one by one (for edges, before the layout)."""
    out = []
    for layer, choice in zip(layers, choices, strict=True):
        n = int(layer.array_shape[-1]) if layer.role in ("maps", "vector") else 0
        show, limit = choice.style.show, choice.style.dense_limit
        if layer.role == "vector" and n > limit and (show is None or show > limit):
            out.append(n)  # one image slab: every neuron is a pixel
        elif all(a == "fold" for a in choice.style.arrange):
            out.append(0)
        else:
            out.append(min(n, choice.style.show or n))
    return out
