"""The scene's keys walked from the pydantic models, for ``nnrender schema`` (every key, its
type, default and description) and ``nnrender init`` (a commented starter scene): both are
generated from ``config/schema.py``, so they never drift from what the loader accepts."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from nnrender.config.schema import SceneConfig


@dataclass
class Key:
    """One key of the scene: ``kind`` is ``section`` (a nested model with defaults of its
    own), ``mapping`` (names -> entries, as ``layout.layers``) or ``value``."""

    path: str
    name: str
    depth: int
    kind: str
    field: FieldInfo
    model: type[BaseModel] | None = None  # a section's model, a mapping's entry model

    @property
    def description(self) -> str:
        text = " ".join((self.field.description or "").split())
        choices = literal_choices(self.field.annotation)
        missing = [c for c in choices if str(c) not in text]
        if choices and missing:
            text = (text + "; " if text else "") + "one of " + ", ".join(map(str, choices))
        return text

    @property
    def default(self) -> Any:
        """The default as YAML data (a section's is its keys' defaults)."""
        if self.field.is_required():
            return None
        value = self.field.get_default(call_default_factory=True)
        return value.model_dump(mode="json") if isinstance(value, BaseModel) else _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _args(annotation: Any) -> tuple:
    return typing.get_args(annotation)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def literal_choices(annotation: Any) -> list:
    """The values of a ``Literal`` (inside an optional or a union too)."""
    if typing.get_origin(annotation) is Literal:
        return list(_args(annotation))
    if _is_union(annotation):
        return [c for a in _args(annotation) for c in literal_choices(a)]
    return []


def model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if _is_union(annotation):
        found = [m for a in _args(annotation) if (m := model_of(a)) is not None]
        return found[0] if found else None
    return None


def walk(model: type[BaseModel] = SceneConfig, prefix: str = "", depth: int = 0
         ) -> Iterator[Key]:
    """Every key in declaration order; a section's keys follow it."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        origin = typing.get_origin(annotation)
        sub = model_of(annotation)
        if sub is not None and not field.is_required() and field.default is not None:
            yield Key(path, name, depth, "section", field, sub)
            yield from walk(sub, path + ".", depth + 1)
        elif origin is dict:
            yield Key(path, name, depth, "mapping", field, model_of(_args(annotation)[1]))
        else:
            yield Key(path, name, depth, "value", field, sub)


def type_text(annotation: Any) -> str:
    """A type as the YAML it takes: ``int``, ``cycles | eevee``, ``[int, int]``, ..."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " | ".join("null" if v is None else str(v) for v in _args(annotation))
    if _is_union(annotation):
        return " | ".join(type_text(a) for a in _args(annotation))
    if origin is tuple:
        return "[" + ", ".join(type_text(a) for a in _args(annotation)) + "]"
    if origin is list:
        return f"list of {type_text(_args(annotation)[0])}"
    if origin is dict:
        return f"{{name or pattern: {type_text(_args(annotation)[1])}}}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "{" + ", ".join(annotation.model_fields) + "}"
    names = {type(None): "null", bool: "true | false", int: "int", float: "number",
             str: "text"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def range_text(field: FieldInfo) -> str:
    """`` (1..65536)`` from a field's bounds (``more than 0`` for an open one), or ``""``."""
    lo = hi = None
    lo_open = False
    for m in field.metadata:
        if isinstance(m, annotated_types.Ge | annotated_types.Gt):
            lo_open = isinstance(m, annotated_types.Gt)
            lo = m.gt if lo_open else m.ge
        if isinstance(m, annotated_types.Le | annotated_types.Lt):
            hi = m.le if isinstance(m, annotated_types.Le) else m.lt
    if lo is None and hi is None:
        return ""
    if lo is None:
        return f" (up to {hi})"
    if hi is None:
        return f" ({'more than' if lo_open else 'at least'} {lo})"
    return f" (more than {lo}, up to {hi})" if lo_open else f" ({lo}..{hi})"


def yaml_value(value: Any) -> str:
    """A value as YAML on one line (flow style): ``[640, 360]``, ``'off'``, ``null``."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
    lines = [ln for ln in text.splitlines() if ln != "..."]
    return " ".join(lines).strip()
