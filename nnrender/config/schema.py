"""Scene and preset schema. Unknown keys are errors, so a typo never passes silently."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nnrender.config.story import Format, InputConfig, MetricsConfig, ShotConfig, WaveConfig


class _Strict(BaseModel):
    # a field's docstring is its description (``nnrender schema``, editors' JSON Schema)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False,
                              use_attribute_docstrings=True)


Denoise = Literal["off", "fast", "balanced", "high"]


class RenderConfig(_Strict):
    engine: Literal["cycles", "eevee", "workbench"] = "cycles"
    """cycles for final output, eevee (slow on software GL), workbench for fast layout previews"""
    resolution: tuple[int, int] = (640, 360)
    """width and height in pixels, 16..16384"""
    fps: int = Field(24, ge=1, le=240)
    """frames per second of the video"""
    samples: int = Field(16, ge=1, le=65536)
    """samples per pixel (Cycles, Eevee; Workbench: 8 or more is anti-aliased)"""
    denoise: Denoise = "off"
    """OpenImageDenoise quality (Cycles): off, fast, balanced or high; an unquoted off
    (YAML's false) is off"""
    max_bounces: int = Field(4, ge=0, le=64)
    """light bounces (Cycles)"""
    device: Literal["cpu", "gpu"] = Field(
        "cpu", description="Cycles: gpu uses the machine's OptiX/CUDA/HIP/oneAPI devices, "
        "falling back to the CPU (with a warning) where there are none")

    @field_validator("denoise", mode="before", json_schema_input_type=Denoise | Literal[False])
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML 1.1 reads an unquoted ``off`` (and ``--set render.denoise=off``) as false."""
        if value is False:
            return "off"
        if value is True:
            raise ValueError("on is not a denoiser quality: give fast, balanced or high "
                             "(or off)")
        return value

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
    """degrees above the network"""
    orbit: float = Field(14.0, ge=-3600, le=3600,
                         description="degrees the camera turns over the whole video")
    lens: float = Field(70.0, gt=1, le=500, description="focal length, mm (36 mm sensor)")
    margin: float = Field(1.06, ge=1.0, le=3.0, description="empty border around the network")
    projection: Literal["perspective", "orthographic"] = "perspective"
    """orthographic: a flat, figure-like view"""
    fstop: float | None = Field(
        None, gt=0, le=128,
        description="depth of field on the network, as for a model seen from 1 m; null is off")


class LookConfig(_Strict):
    colormap: ColormapName = "viridis"
    """colour map of the activations (coolwarm is diverging)"""
    norm: Literal["auto", "percentile", "symmetric"] = Field(
        "auto", description="symmetric: a range centred on zero; auto: symmetric for diverging "
        "maps (coolwarm), percentiles otherwise")
    background: tuple[float, float, float] = (0.012, 0.014, 0.02)
    """linear RGB, 0..1"""
    transparent: bool = Field(False, description="transparent background (RGBA frames)")
    emission: float = Field(0.9, ge=0, le=50, description="how much the maps glow")
    glow: float = Field(0.0, ge=0, le=10, description="bloom around bright maps; 0 is off")
    lighting: Literal["studio", "soft", "rim"] = "studio"
    """light rig: studio (key, fill, back), soft (even), rim (a strong back light)"""
    legend: bool = Field(False, description="a colour bar in the lower right corner")
    label_color: tuple[float, float, float] | None = Field(
        None, description="text colour; by default light on dark, dark on light backgrounds")
    percentiles: tuple[float, float] = (0.5, 99.5)
    """each layer's colour range, fixed across epochs and inputs"""
    max_tile: int = Field(64, ge=1, le=1024, description="largest map side kept, px")
    activations: bool = Field(
        True, description="show the recorded activations; false: an architecture figure, "
        "blocks flat-coloured by layer type with a legend of the types (nnrender figure)")

    @field_validator("percentiles")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not 0 <= lo < hi <= 100:
            raise ValueError("need 0 <= low < high <= 100")
        return value


class LabelConfig(_Strict):
    show: bool = True
    """layer labels"""
    scale: float = Field(1.0, gt=0, le=20)
    """scales the labels' size"""
    epoch_caption: bool = True
    """the epoch shown, as a caption"""
    fields: list[Literal["name", "type", "shape", "params"]] = Field(
        default_factory=lambda: ["name", "shape"], min_length=1)
    """lines of a layer label: name, type, shape, params"""
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
    """the arrangement it eases into"""
    over: float = Field(1.0, ge=0, le=3600, description="seconds the change takes")


class LayerStyleConfig(_Strict):
    """Per-layer overrides; unset keys fall back to the ``layout`` defaults."""

    arrange: Arrange | None = None
    """line, grid, circle, fold (one block) or slab"""
    changes: list[ChangeConfig] = Field(default_factory=list)
    """animated changes of the arrangement"""
    show: int | None = Field(None, ge=1)
    """maps, neurons or tokens drawn (evenly spaced, with an ellipsis)"""
    summary: Literal["mean", "max"] | None = None
    """what a folded block shows: the mean or max map"""
    dense: Literal["line", "grid", "auto"] | None = None
    """vectors: a line or a grid of neurons"""
    label: bool | None = None
    """its label: true always shown, false never"""
    colormap: ColormapName | None = None
    """its own colour map"""
    steps: int | None = Field(None, ge=1, description="volumes: time steps / slices drawn")
    attention: bool | None = Field(None, description="per-head attention maps beside it")
    collapse: Literal["none", "repeats"] | None = Field(
        None, description="repeats: fold runs of identical blocks through these layers")


class LayoutConfig(_Strict):
    arrange: Arrange = "grid"
    """every layer's arrangement: line, grid, circle, fold (one block) or slab"""
    show: int | None = Field(None, ge=1, description="maps drawn per layer; null draws all")
    summary: Literal["mean", "max"] = "mean"
    """what a folded block shows: the mean or max map"""
    dense: Literal["line", "grid", "auto"] = "auto"
    """vectors: a line or a grid of neurons; auto: a line up to 16"""
    dense_limit: int = Field(512, ge=1, description="longer vectors are drawn as one image")
    wrap: Literal["auto", "none"] | int = Field("auto", description="rows of a long network")
    spacing: float = Field(1.0, gt=0, le=20)
    """scales the gaps between layers"""
    steps: int | None = Field(None, ge=1, description="volumes (T, H, W, C): steps drawn "
                              "(time steps or depth slices, evenly spaced); null draws all")
    attention: bool = Field(True, description="attention layers: each head's query x key "
                            "map drawn above the layer's tokens")
    collapse: Literal["none", "repeats"] = Field(
        "none", description="repeats: N identical consecutive blocks (found from the graph) "
        "drawn once with a ×N badge")
    layers: dict[str, LayerStyleConfig] = Field(
        default_factory=dict, description="per layer, by name or glob pattern (conv*)")

    @field_validator("wrap", mode="before",
                     json_schema_input_type=Literal["auto", "none"] | int | bool)
    @classmethod
    def _yaml_bool(cls, value: Any) -> Any:
        """YAML 1.1 reads unquoted off/no as false (no wrapping) and on/yes as true (auto),
        which would otherwise pass as the row counts 0 and 1."""
        if isinstance(value, bool):
            return "auto" if value else "none"
        return value

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
    """false: no edges into it"""
    top_k: int | None = Field(None, ge=1, le=100_000)
    """strongest inputs kept per neuron/map"""
    threshold: float | None = Field(None, ge=0, le=1)
    """also keep any edge above this share of the largest"""
    max_targets: int | None = Field(None, ge=1)
    """no edges when it draws more maps/neurons"""


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
    """linear RGB"""
    opacity: float = Field(0.22, ge=0, le=1)
    """of the traced cone"""


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
    """animated changes of the bundling strength"""
    refine: bool = Field(False, description="density-based refinement (slower, tighter)")
    samples: int = Field(16, ge=4, le=64, description="points per curve")
    width: float = Field(1.0, gt=0, le=20, description="scales every curve's radius")
    opacity: float = Field(0.85, ge=0, le=1)
    """of the strongest edges; weaker ones fade"""
    positive: Color = (1.0, 0.45, 0.12)
    """linear RGB of positive weights"""
    negative: Color = (0.15, 0.45, 1.0)
    """linear RGB of negative weights"""
    link_color: Color | None = Field(None, description="skip arcs; the label colour by default")
    field: FieldConfig | None = None
    """a receptive field: one pixel of a layer traced back to the input"""
    attention: AttentionEdgesConfig = AttentionEdgesConfig()
    """attention layers: edges from keys to queries"""
    layers: dict[str, EdgeLayerConfig] = Field(
        default_factory=dict, description="per target layer, by name or glob pattern")


class OutputConfig(_Strict):
    name: str = Field("nnrender", pattern=r"^[A-Za-z0-9_.-]+$")
    """file name of the video and still, without suffix"""
    video: bool = True
    """encode the video (false: frames only)"""
    still_frame: int | None = Field(None, ge=1, description="frame of the still; last by default")
    formats: list[Format] = Field(
        default_factory=lambda: ["mp4"], min_length=1,
        description="videos to encode: mp4 (H.264), gif (a palette per video), webm (VP9), "
        "mov (ProRes 4444 with alpha when look.transparent is on)")
    gif_width: int = Field(480, ge=16, le=4096, description="GIF width, px (height follows)")
    gif_fps: int | None = Field(15, ge=1, le=240, description="GIF frame rate: frames are "
                                "dropped evenly down to it (GIFs are large); null keeps the "
                                "video's")


class FigureConfig(_Strict):
    """``nnrender figure``: the vector PDF/SVG (and PNG) drawing of the scene."""

    font: str = Field("STIXGeneral", description="font family of every text (a matplotlib "
                      "font name): STIXGeneral (Times-like, as most paper templates) and "
                      "DejaVu Serif ship with matplotlib")
    font_size: float = Field(8.0, ge=4, le=24, description="layer labels, pt")
    small_size: float = Field(7.0, ge=3, le=24, description="tokens, ticks, legend, pt")
    columns: Literal[1, 2] = Field(2, description="1: 3.5 in wide, 2: 7.16 in")
    width: str | None = Field(None, description="instead of columns: 3.5in, 8.9cm, 89mm, 252pt")
    dpi: int = Field(300, ge=10, le=2400, description="embedded activations and PNG output")
    epoch: int | None = Field(None, description="the recorded epoch shown; the last by default")
    outline: float = Field(0.3, ge=0, le=5, description="box outlines, pt")
    edges: float = Field(1.0, ge=0, le=20, description="scales every connection's width")


class SceneConfig(_Strict):
    dump: str | None = None
    """the dump folder `nnrender dump` wrote (relative to the scene file)"""
    quality: str = "preview"
    """quality preset: draft, preview, final or 4k"""
    style: str | None = None
    """look preset: paper, talk or cinematic; null: the defaults"""
    sample: int = Field(0, ge=0, description="which recorded input drives the activations")
    epochs: list[int] | None = Field(None, min_length=1)
    """recorded epochs shown, in order; null: all"""
    seed: int = Field(0, ge=0, le=2**31 - 1)
    """seeds the sampling and the edge bundling"""
    render: RenderConfig = RenderConfig()
    """engine, size, samples"""
    timeline: TimelineConfig = TimelineConfig()
    """how long each epoch shows"""
    camera: CameraConfig = CameraConfig()
    """where the camera looks from, and its orbit"""
    layout: LayoutConfig = LayoutConfig()
    """how each layer's maps, neurons and tokens are arranged"""
    look: LookConfig = LookConfig()
    """colours, light, background"""
    labels: LabelConfig = LabelConfig()
    """layer and token labels"""
    edges: EdgesConfig = EdgesConfig()
    """connections between layers"""
    output: OutputConfig = OutputConfig()
    """file names and video formats"""
    figure: FigureConfig = FigureConfig()
    """`nnrender figure`: the vector PDF/SVG drawing"""
    shots: list[ShotConfig] = Field(
        default_factory=list, description="the camera's story, shot by shot; the video lasts "
        "as long as they do (none: one orbit over the epochs)")
    forward: list[WaveConfig] = Field(default_factory=list,
                                      description="forward-pass waves through the network")
    inputs: list[InputConfig] = Field(default_factory=list,
                                      description="recorded inputs shown in sequence")
    metrics: MetricsConfig | None = Field(None, description="an inset plot of epoch metrics")
