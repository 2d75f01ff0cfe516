"""The presets and scenes nnrender ships: the repository's top-level ``presets/`` and
``scenes/`` folders, installed as the packages ``nnrender.presets`` and ``nnrender.scenes``
(editable or not). One function resolves a name of either kind."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from nnrender.errors import ConfigError, did_you_mean

KINDS = {"quality": ("nnrender.presets", "quality"), "style": ("nnrender.presets", "style"),
         "scene": ("nnrender.scenes", "")}


def _folder(kind: str) -> Path:
    package, sub = KINDS[kind]
    root = resources.files(package)
    return Path(str(root.joinpath(sub) if sub else root))


def names(kind: str) -> list[str]:
    """The bundled names of ``kind`` (quality, style or scene), sorted."""
    return sorted(p.stem for p in _folder(kind).iterdir() if p.suffix == ".yaml")


def resolve(kind: str, name: str, source: str | Path | None = None) -> Path:
    """The file of the bundled ``kind`` called ``name``; an error naming ``source`` and the
    known names when there is none."""
    path = _folder(kind) / f"{name}.yaml"
    if not path.is_file():
        known = names(kind)
        what = "preset" if kind in ("quality", "style") else "scene"
        hint = did_you_mean(name, known) or f" (one of {', '.join(known)})"
        raise ConfigError(source, f"{kind}: unknown {what} {name!r}{hint}")
    return path


def scene_file(arg: str | Path) -> Path:
    """A scene argument: a YAML file, or the name of a bundled scene (``demo``, ...); a
    folder (a dump) is never a bundled name."""
    path = Path(arg)
    if path.exists() or path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        return path
    if str(arg) in names("scene"):
        return resolve("scene", str(arg))
    return path  # not there: the loader says so, naming it
