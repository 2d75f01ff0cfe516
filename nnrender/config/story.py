"""Scene keys for a talk video's story: camera shots, forward-pass waves, input changes,
the metrics inset and the output formats. Validated like the rest of the scene."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    # a field's docstring is its description (``nnrender schema``, editors' JSON Schema)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False,
                              use_attribute_docstrings=True)


Move = Literal["overview", "orbit", "focus", "fly", "push"]


class BlendConfig(_Strict):
    blend: float = Field(gt=0, le=600, description="seconds the camera eases from the "
                         "previous shot into this one")


class ShotConfig(_Strict):
    """One shot: a camera move over ``duration`` seconds, and what the network shows."""

    move: Move = "overview"
    """overview, orbit, focus (layers), fly (input to output) or push (into a map)"""
    duration: float = Field(gt=0, le=36000, description="seconds")
    transition: Literal["cut"] | BlendConfig = Field(
        "cut", description="cut, or {blend: seconds}: the camera eases in from the last shot")
    title: str | None = Field(None, description="a title card over this shot")
    caption: str | None = Field(None, description="a lower-third caption during this shot")
    epochs: Literal["play", "first", "last"] | int | None = Field(
        None, description="play: blend through the epochs; first, last or a recorded epoch "
        "number: hold it; null: keep what the last shot showed")
    orbit: float = Field(20.0, ge=-3600, le=3600, description="orbit: degrees turned")
    layers: list[str] = Field(default_factory=list, description="focus: layers to frame")
    layer: str | None = Field(None, description="push: the layer closed in on (focus: "
                              "one layer to frame, as layers: [it])")
    map: int | None = Field(None, ge=0, description="push: the map, neuron or token; the "
                            "most active one by default")
    azimuth: float | None = Field(None, ge=-3600, le=3600,
                                  description="degrees; the scene camera's by default")
    elevation: float | None = Field(None, ge=-89, le=89)

    @field_validator("epochs", mode="before")
    @classmethod
    def _not_bool(cls, value: object) -> object:
        """YAML reads an unquoted yes/no/on/off as a boolean, which would pass as epoch 1
        or 0."""
        if isinstance(value, bool):
            raise ValueError("a yes/no value: give play, first, last or an epoch number")
        return value


class WaveConfig(_Strict):
    """A forward pass: a wave from the input to the output, each layer lighting up from
    dark to its activation as it arrives; pulses run along the edges."""

    at: float = Field(ge=0, le=36000, description="seconds from the start")
    duration: float | None = Field(None, gt=0, le=3600,
                                   description="seconds from the input to the output")
    per_layer: float | None = Field(None, gt=0, le=600,
                                    description="seconds per graph depth (instead of duration)")

    @field_validator("per_layer")
    @classmethod
    def _one_timing(cls, value: float | None, info) -> float | None:  # noqa: ANN001
        if value is not None and info.data.get("duration") is not None:
            raise ValueError("give duration or per_layer, not both")
        return value


class InputConfig(_Strict):
    """From ``at`` seconds, recorded input ``sample`` drives the activations."""

    at: float = Field(ge=0, le=36000, description="seconds from the start")
    sample: int = Field(ge=0, description="index of the recorded input")
    blend: float = Field(0.6, ge=0, le=600, description="seconds of blend into it")


class MetricsConfig(_Strict):
    """An inset plot of the dump's epoch metrics with a marker at the current epoch."""

    show: list[str] = Field(default_factory=lambda: ["accuracy"], min_length=1,
                            description="metric names recorded in the dump's epochs")
    corner: Literal["upper_left", "upper_right", "lower_left", "lower_right"] = "upper_right"
    """where the inset sits"""
    size: float = Field(0.3, gt=0.05, le=0.8, description="width, a share of the frame's")


Format = Literal["mp4", "gif", "webm", "mov"]
