"""``nnrender init DUMP [-o scene.yaml]``: a commented starter scene, so a user edits one
rather than writes one. Every key is there with its default, commented out, and a line of
what it does (from the schema); the default shown is the value the scene renders with (the
built-in default under the quality preset and the style), so uncommenting a line changes
nothing until its value is edited. The network's layer names are listed, commented out, under
``layout.layers`` and ``edges.layers``; only ``dump`` is set. The file renders as it is
(exactly as ``nnrender render DUMP``), and uncommenting any one key line keeps it valid:
a section left with nothing under it is its defaults (see ``config.load``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nnrender.commands.keys import Key, walk, yaml_value
from nnrender.config.load import load_config
from nnrender.config.schema import SceneConfig
from nnrender.errors import NNRenderError
from nnrender.model.ir import Dump, LayerInfo
from nnrender.output.encode import temp_path
from nnrender.sources import kind_of

COMMENT_AT = 34  # column of the descriptions


def _line(indent: str, text: str, note: str) -> str:
    if not note:
        return f"{indent}{text}"
    pad = max(1, COMMENT_AT - len(indent) - len(text))
    return f"{indent}{text}{' ' * pad}# {note}"


def _shape(layer: LayerInfo) -> str:
    return "x".join(str(d) for d in layer.output_shape) or "scalar"


def _dump_notes(dump: Dump) -> dict[str, str]:
    """What this dump adds to a key's comment."""
    manifest = dump.manifest
    epochs = [e.epoch for e in manifest.epochs]
    metrics = sorted({m for e in manifest.epochs for m in (e.metrics or {})})
    count = int(manifest.inputs.get("count", 1))
    notes = {"epochs": f"recorded here: {', '.join(map(str, epochs))}",
             "sample": f"this dump has {count} input{'s' * (count != 1)} (0..{count - 1})"}
    if metrics:
        notes["metrics"] = f"recorded here: {', '.join(metrics)}"
    return notes


def _layer_lines(key: Key, layers: list[LayerInfo], indent: str) -> list[str]:
    keys = ", ".join(key.model.model_fields) if key.model else ""
    out = [f"{indent}  # each entry may set {keys}; later entries win"]
    for layer in layers:
        name = yaml_value(layer.name)
        out.append(_line(indent + "  ", f"# {name}: {{}}", f"{layer.type}, {_shape(layer)}"))
    return out


def _value(config: SceneConfig, key: Key) -> Any:
    """The value ``config`` has at ``key`` (YAML data)."""
    node: Any = config
    for part in key.path.split("."):
        node = getattr(node, part)
    if isinstance(node, BaseModel):
        return node.model_dump(mode="json")
    return list(node) if isinstance(node, tuple) else node


def starter_scene(dump_dir: Path, dump: Dump, scene: Path, style: str | None = None) -> str:
    """The text of the starter scene for ``dump_dir``, to be written at ``scene``."""
    effective, _ = load_config(None, {}, None, style)
    manifest = dump.manifest
    layers = manifest.layers
    name = manifest.model.get("name") or dump_dir.name
    try:  # beside the scene: relative, so the folder can move as a whole
        rel = Path(os.path.relpath(dump_dir.resolve(), scene.resolve().parent))
        path = str(rel) if not rel.parts or rel.parts[0] != ".." else str(dump_dir.resolve())
    except ValueError:  # another drive
        path = str(dump_dir.resolve())
    out = [f"# nnrender scene for {name}: {len(layers)} layers, "
           f"{len(manifest.epochs)} recorded epochs.",
           f"#   nnrender render {scene.name}       renders it as it is (as the dump alone)",
           f"#   nnrender inspect {scene.name}      what is drawn, hidden, and how long it takes",
           "# Every key is shown with its default, commented out: uncomment a line to change",
           "# it (nnrender schema describes them all). For completion in an editor, see the",
           "# README on yaml-language-server.",
           ]
    notes = _dump_notes(dump)
    for key in walk():
        indent = "  " * key.depth
        note = "; ".join(n for n in (key.description, notes.get(key.path)) if n)
        if key.path == "dump":
            out.append(_line(indent, f"dump: {yaml_value(path)}", note))
            continue
        if key.path == "style" and style:
            out.append(_line(indent, f"style: {yaml_value(style)}", note))
        elif key.kind == "section":
            out.append(_line(indent, f"{key.name}:", note))
        elif key.kind == "mapping":
            out.append(_line(indent, f"{key.name}:", note))
            out += _layer_lines(key, layers, indent)
        else:
            value = _value(effective, key)
            if key.path == "style":
                value = None
            out.append(_line(indent, f"# {key.name}: {yaml_value(value)}", note))
    return "\n".join(out) + "\n"


def init_command(args: argparse.Namespace) -> int:
    source = Path(args.dump)
    if kind_of(source) != "dump":
        raise NNRenderError(source, "not a dump folder (no manifest.json): `nnrender dump "
                                    "MODEL --input ... -o DUMP` writes one")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise NNRenderError(out, "exists: give another -o, or --force to replace it")
    if out.is_dir() or not out.resolve().parent.is_dir():
        raise NNRenderError(out, "give a file in an existing folder")
    dump = Dump(source)
    try:
        text = starter_scene(source, dump, out, args.style)
    finally:
        dump.close()
    tmp = temp_path(out)
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    print(out)
    return 0
