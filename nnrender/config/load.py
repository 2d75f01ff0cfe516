"""Layered configuration: defaults < quality preset < style preset < scene YAML < command line.

Quality presets (``presets/quality``) set how long a frame takes; style presets
(``presets/style``) set how it looks. The scene file and the command line override both.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from nnrender.config import bundled
from nnrender.config.schema import SceneConfig
from nnrender.errors import ConfigError, did_you_mean


def preset_names(kind: str = "quality") -> list[str]:
    return bundled.names(kind)


def style_names() -> list[str]:
    return preset_names("style")


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(path, "file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(path, f"{where}{problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "not a text file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, "the top level must be a mapping of keys")
    return drop_empty_sections(data)


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a section-typed field (``RenderConfig``, ``X | None``), else None."""
    for arg in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def drop_empty_sections(data: dict[str, Any], model: type[BaseModel] = SceneConfig
                        ) -> dict[str, Any]:
    """A section written with nothing under it (``render:`` with every key commented out,
    as ``nnrender init`` writes them) is YAML's null: it means the section's defaults, so
    it is left out rather than replacing what a preset set there."""
    out = {}
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            out[key] = value
            continue
        sub = _section_model(field.annotation)
        origin = getattr(field.annotation, "__origin__", None)
        if value is None and field.default is not None and (sub is not None
                                                            or origin in (dict, list)):
            continue
        if isinstance(value, dict) and sub is not None:
            value = drop_empty_sections(value, sub)
        out[key] = value
    return out


def _preset(name: str, source: str | Path | None, kind: str = "quality") -> dict[str, Any]:
    text = bundled.resolve(kind, name, source).read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check(data: dict[str, Any], source: str | Path | None) -> SceneConfig:
    """Validate one layer on its own, so an error names the file the bad key came from."""
    try:
        return SceneConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(source, f"{key}: {_message(err)}") from None


def _message(err: Any) -> str:
    """pydantic's message for one error, with the nearest known key or value named."""
    if err["type"] == "literal_error" and isinstance(err.get("input"), str):
        expected = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
        return err["msg"] + did_you_mean(err["input"], expected)
    if err["type"] != "extra_forbidden":
        return err["msg"]
    parent: Any = SceneConfig
    container = False  # the part is a list index or a dict key (a layer name, a shot)
    for part in err["loc"][:-1]:
        if container:
            container = False
            continue
        field = parent.model_fields.get(str(part))
        if field is None:
            parent = None
            break
        container = getattr(field.annotation, "__origin__", None) in (dict, list)
        parent = _section_model(field.annotation)
        if parent is None:
            break
    if parent is None:
        return "unknown key"
    known = list(parent.model_fields)
    return "unknown key" + (did_you_mean(err["loc"][-1], known)
                            or f" (known: {', '.join(known)})")


def parse_set(items: list[str]) -> dict[str, Any]:
    """``--set render.samples=4`` pairs to a nested mapping; values are YAML scalars or lists."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError("--set", f"{item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            raise ConfigError("--set", f"{key}: cannot read value {raw!r}") from None
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError("--set", f"{key!r}: empty key")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError("--set", f"{key}: conflicts with another --set")
        node[parts[-1]] = value
    return out


def load_config(
    scene: str | Path | None,
    cli: dict[str, Any] | None = None,
    quality: str | None = None,
    style: str | None = None,
) -> tuple[SceneConfig, Path]:
    """Merge the layers and validate. Returns the config and the folder relative paths use."""
    scene_data: dict[str, Any] = {}
    base_dir = Path.cwd()
    if scene is not None:
        path = Path(scene)
        scene_data = _read_yaml(path)
        _check(scene_data, path)
        base_dir = path.resolve().parent
    cli = cli or {}
    _check(cli, "--set")
    if quality:
        name, origin = quality, "-q"
    elif cli.get("quality"):
        name, origin = cli["quality"], "--set"
    else:
        name, origin = scene_data.get("quality") or SceneConfig().quality, scene
    preset = _preset(str(name), origin)
    _check(preset, f"preset {name}")
    if style:
        style_name, style_origin = style, "--style"
    elif cli.get("style"):
        style_name, style_origin = cli["style"], "--set"
    else:
        style_name, style_origin = scene_data.get("style"), scene
    if style_name:
        style_data = _preset(str(style_name), style_origin, "style")
        _check(style_data, f"style {style_name}")
        preset = _merge(preset, style_data)
    merged = _merge(_merge(preset, scene_data), cli)
    merged["quality"] = name
    merged["style"] = style_name or None
    config = _check(merged, scene if scene is not None else "--set")
    return config, base_dir


def per_layer(entries: dict[str, Any], names: list[str], section: str,
              source: str | Path) -> list[dict[str, Any]]:
    """Per-layer overrides keyed by layer name or glob pattern (later entries win): for
    each of ``names``, the keys its matching entries set. A pattern that matches no layer
    is an error naming ``section``: it is almost always a typo."""
    import fnmatch

    used = dict.fromkeys(entries, False)
    out = []
    for name in names:
        merged: dict[str, Any] = {}
        for key, entry in entries.items():
            if key == name or fnmatch.fnmatchcase(name, key):
                used[key] = True
                merged.update({k: getattr(entry, k) for k in entry.model_fields_set})
        out.append(merged)
    for key, hit in used.items():
        if not hit:
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            hint = did_you_mean(key, names) or f" ({shown})"
            raise ConfigError(source, f"{section}.{key}: matches no layer{hint}")
    return out
