"""Scene and preset schema. Unknown keys are errors, so a typo never passes silently."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class RenderConfig(_Strict):
    engine: Literal["cycles", "eevee", "workbench"] = "cycles"
    resolution: tuple[int, int] = (640, 360)
    fps: int = Field(24, ge=1, le=240)
    samples: int = Field(16, ge=1, le=65536)
    denoise: Literal["off", "fast", "balanced", "high"] = "off"
    max_bounces: int = Field(4, ge=0, le=64)
    device: Literal["cpu", "gpu"] = Field(
        "cpu", description="Cycles: gpu uses the machine's OptiX/CUDA/HIP/oneAPI devices, "
        "falling back to the CPU (with a warning) where there are none")

    @field_validator("resolution")
    @classmethod
    def _even_positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        w, h = value
        if w < 16 or h < 16 or w > 16384 or h > 16384:
            raise ValueError("width and height must lie in 16..16384")
        return value


class TimelineConfig(_Strict):
    hold: float = Field(0.5, ge=0, le=3600, description="seconds each epoch is held")
    blend: float = Field(0.6, ge=0, le=3600, description="seconds of blend between two epochs")
    end_hold: float = Field(1.0, ge=0, le=3600, description="extra seconds on the last epoch")


Arrange = Literal["line", "grid", "circle", "fold", "slab"]
ColormapName = Literal["viridis", "magma", "inferno", "plasma", "cividis", "gray", "coolwarm"]


class CameraConfig(_Strict):
    azimuth: float = Field(55.0, ge=-3600, le=3600,
                           description="degrees from the input side towards the viewer")
    elevation: float = Field(20.0, ge=-89, le=89)
    orbit: float = Field(14.0, ge=-3600, le=3600,
                         description="degrees the camera turns over the whole video")
    lens: float = Field(70.0, gt=1, le=500, description="focal length, mm (36 mm sensor)")
    margin: float = Field(1.06, ge=1.0, le=3.0, description="empty border around the network")
    projection: Literal["perspective", "orthographic"] = "perspective"
    fstop: float | None = Field(
        None, gt=0, le=128,
        description="depth of field on the network, as for a model seen from 1 m; null is off")


class LookConfig(_Strict):
    colormap: ColormapName = "viridis"
    norm: Literal["auto", "percentile", "symmetric"] = Field(
        "auto", description="symmetric: a range centred on zero; auto: symmetric for diverging "
        "maps (coolwarm), percentiles otherwise")
    background: tuple[float, float, float] = (0.012, 0.014, 0.02)
    transparent: bool = Field(False, description="transparent background (RGBA frames)")
    emission: float = Field(0.9, ge=0, le=50, description="how much the maps glow")
    glow: float = Field(0.0, ge=0, le=10, description="bloom around bright maps; 0 is off")
    lighting: Literal["studio", "soft", "rim"] = "studio"
    legend: bool = Field(False, description="a colour bar in the lower right corner")
    label_color: tuple[float, float, float] | None = Field(
        None, description="text colour; by default light on dark, dark on light backgrounds")
    percentiles: tuple[float, float] = (0.5, 99.5)
    max_tile: int = Field(64, ge=1, le=1024, description="largest map side kept, px")

    @field_validator("percentiles")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not 0 <= lo < hi <= 100:
            raise ValueError("need 0 <= low < high <= 100")
        return value


class LabelConfig(_Strict):
    show: bool = True
    scale: float = Field(1.0, gt=0, le=20)
    epoch_caption: bool = True
    fields: list[Literal["name", "type", "shape", "params"]] = Field(
        default_factory=lambda: ["name", "shape"], min_length=1)
    auto_hide: bool = Field(True, description="hide labels that would overlap others")
    level: Literal["layer", "group", "auto"] = Field(
        "auto", description="label every layer, or groups of layers (nested-model paths or "
        "shared name prefixes); auto: groups when most layer labels would be hidden")
    tokens: Literal["auto", "all", "none"] = Field(
        "auto", description="token labels (text or position): auto labels the first token "
        "layer of each sequence, when it draws at most 48 tokens")
    vocab: str | None = Field(None, description="token texts, one per line (line i = id i); "
                              "the dump's own vocabulary by default")


class ChangeConfig(_Strict):
    """One animated change of a layer's arrangement."""

    at: float = Field(ge=0, le=36000, description="seconds from the start")
    arrange: Arrange
    over: float = Field(1.0, ge=0, le=3600, description="seconds the change takes")


class LayerStyleConfig(_Strict):
    """Per-layer overrides; unset keys fall back to the ``layout`` defaults."""

    arrange: Arrange | None = None
    changes: list[ChangeConfig] = Field(default_factory=list)
    show: int | None = Field(None, ge=1)
    summary: Literal["mean", "max"] | None = None
    dense: Literal["line", "grid", "auto"] | None = None
    label: bool | None = None
    colormap: ColormapName | None = None
    steps: int | None = Field(None, ge=1, description="volumes: time steps / slices drawn")
    attention: bool | None = Field(None, description="per-head attention maps beside it")
    collapse: Literal["none", "repeats"] | None = Field(
        None, description="repeats: fold runs of identical blocks through these layers")


class LayoutConfig(_Strict):
    arrange: Arrange = "grid"
    show: int | None = Field(None, ge=1, description="maps drawn per layer; null draws all")
    summary: Literal["mean", "max"] = "mean"
    dense: Literal["line", "grid", "auto"] = "auto"
    dense_limit: int = Field(512, ge=1, description="longer vectors are drawn as one image")
    wrap: Literal["auto", "none"] | int = Field("auto", description="rows of a long network")
    spacing: float = Field(1.0, gt=0, le=20)
    steps: int | None = Field(None, ge=1, description="volumes (T, H, W, C): steps drawn "
                              "(time steps or depth slices, evenly spaced); null draws all")
    attention: bool = Field(True, description="attention layers: each head's query x key "
                            "map drawn above the layer's tokens")
    collapse: Literal["none", "repeats"] = Field(
        "none", description="repeats: N identical consecutive blocks (found from the graph) "
        "drawn once with a ×N badge")
    layers: dict[str, LayerStyleConfig] = Field(
        default_factory=dict, description="per layer, by name or glob pattern (conv*)")

    @field_validator("wrap")
    @classmethod
    def _rows(cls, value: str | int) -> str | int:
        if isinstance(value, int) and not 1 <= value <= 1000:
            raise ValueError("rows must lie in 1..1000")
        return value


Color = tuple[float, float, float]


class EdgeLayerConfig(_Strict):
    """Per target layer overrides of ``edges`` (keyed by layer name or glob pattern)."""

    show: bool | None = None
    top_k: int | None = Field(None, ge=1, le=100_000)
    threshold: float | None = Field(None, ge=0, le=1)
    max_targets: int | None = Field(None, ge=1)


class BundleChange(_Strict):
    """An animated change of the bundling strength."""

    at: float = Field(ge=0, le=36000, description="seconds from the start")
    to: float = Field(ge=0, le=1, description="bundling strength reached")
    over: float = Field(1.0, ge=0, le=3600, description="seconds the change takes")


class FieldConfig(_Strict):
    """A receptive field: one output pixel traced back to the input pixels it sees."""

    layer: str = Field(description="the conv/pool layer whose pixel is traced")
    pixel: tuple[int, int] | None = Field(None, description="(row, column); centre by default")
    channel: int | None = Field(None, ge=0, description="map; the most active one by default")
    to: str | None = Field(None, description="the layer it is traced back to; the input")
    color: Color = (1.0, 0.85, 0.35)
    opacity: float = Field(0.22, ge=0, le=1)


class AttentionEdgesConfig(_Strict):
    """Attention as edges: from the key tokens to the query tokens, weighted by the score."""

    show: bool = Field(True, description="draw attention edges into attention layers")
    top_k: int = Field(2, ge=1, le=100_000, description="strongest keys kept per query token")
    heads: Literal["mean", "max", "each"] = Field(
        "mean", description="one group of the heads' mean (or max) score, or one per head")
    color: Color = Field((0.98, 0.82, 0.3), description="colour (each head: its own hue)")


class EdgesConfig(_Strict):
    show: bool = Field(True, description="draw connections between layers")
    select: Literal["weight", "weight_activation"] = Field(
        "weight", description="rank edges by |w|, or by |w| times the source's mean activation")
    top_k: int = Field(3, ge=1, le=100_000, description="strongest inputs kept per neuron/map")
    threshold: float | None = Field(
        None, ge=0, le=1, description="also keep any edge above this share of the largest")
    max_per_group: int = Field(20_000, ge=1, le=2_000_000,
                               description="at most this many curves between two layers")
    max_targets: int = Field(
        128, ge=1, description="layers drawing more maps/neurons get no edges (they would "
        "bury the maps); raise it, or draw fewer maps with layout.show")
    channels: bool = Field(True, description="conv layers: map-to-map connections")
    links: bool = Field(True, description="skip connections and branches as arcs")
    bundle: float = Field(0.85, ge=0, le=1, description="0 straight .. 1 fully bundled")
    changes: list[BundleChange] = Field(default_factory=list)
    refine: bool = Field(False, description="density-based refinement (slower, tighter)")
    samples: int = Field(16, ge=4, le=64, description="points per curve")
    width: float = Field(1.0, gt=0, le=20, description="scales every curve's radius")
    opacity: float = Field(0.85, ge=0, le=1)
    positive: Color = (1.0, 0.45, 0.12)
    negative: Color = (0.15, 0.45, 1.0)
    link_color: Color | None = Field(None, description="skip arcs; the label colour by default")
    field: FieldConfig | None = None
    attention: AttentionEdgesConfig = AttentionEdgesConfig()
    layers: dict[str, EdgeLayerConfig] = Field(
        default_factory=dict, description="per target layer, by name or glob pattern")


class OutputConfig(_Strict):
    name: str = Field("nnrender", pattern=r"^[A-Za-z0-9_.-]+$")
    video: bool = True
    still_frame: int | None = Field(None, ge=1, description="frame of the still; last by default")


class SceneConfig(_Strict):
    dump: str | None = None
    quality: str = "preview"
    style: str | None = None
    sample: int = Field(0, ge=0, description="which recorded input drives the activations")
    epochs: list[int] | None = Field(None, min_length=1)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    render: RenderConfig = RenderConfig()
    timeline: TimelineConfig = TimelineConfig()
    camera: CameraConfig = CameraConfig()
    layout: LayoutConfig = LayoutConfig()
    look: LookConfig = LookConfig()
    labels: LabelConfig = LabelConfig()
    edges: EdgesConfig = EdgesConfig()
    output: OutputConfig = OutputConfig()
