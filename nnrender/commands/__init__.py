"""Subcommands beyond the core ones in ``cli.py``: ``init``, ``inspect`` and ``schema``, and
the options ``render`` and ``figure`` take for a source without a scene YAML (a dump
folder, or a model file read by ``nnrender dump`` in a child process). Each module imports
only what its command needs, when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMANDS = ("init", "inspect", "schema")


def add_reader_options(p: argparse.ArgumentParser) -> None:
    """``nnrender dump``'s main options, for a MODEL source (passed on to it)."""
    g = p.add_argument_group("a model file as the source (read by `nnrender dump`, in a "
                             "process of its own)")
    g.add_argument("--input", dest="inputs", action="append", default=[], metavar="SPEC",
                   help="image file, .npy array or digits:N (repeatable; one per model input)")
    g.add_argument("--weights", metavar="PATTERN", help="per-epoch weights (as for dump)")
    g.add_argument("--builder", metavar="MODULE:FUNCTION",
                   help="builds the model to restore checkpoints into (as for dump)")
    g.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="module defining the model's custom layers (repeatable)")
    g.add_argument("--scale", choices=["0-1", "-1-1", "0-255", "imagenet-caffe"],
                   help="how image pixels are scaled (default 0-1)")
    g.add_argument("--resize", choices=["stretch", "crop", "fit"],
                   help="how images are fitted to the model's input size")
    g.add_argument("--input-shape", metavar="DIMS",
                   help="PyTorch modules: the input's shape without the batch axis")
    g.add_argument("--vocab", type=Path, metavar="FILE", help="token texts of integer inputs")


def add_render_options(render: argparse.ArgumentParser) -> None:
    """What ``render`` adds to its core options: the estimate's and a model's."""
    g = render.add_argument_group("estimate")
    g.add_argument("--yes", action="store_true",
                   help="start a render estimated at over an hour without asking")
    g.add_argument("--no-estimate", action="store_true",
                   help="no calibration frame, no estimate")
    add_reader_options(render)


def add_parsers(sub: argparse._SubParsersAction, presets: list[str], styles: list[str]
                ) -> None:
    """The ``init``, ``inspect`` and ``schema`` subcommands."""
    init = sub.add_parser("init", help="write a commented starter scene for a dump")
    init.add_argument("dump", type=Path, metavar="DUMP", help="dump folder")
    init.add_argument("-o", "--out", type=Path, default=Path("scene.yaml"), metavar="FILE",
                      help="scene file to write (default scene.yaml)")
    init.add_argument("-s", "--style", choices=styles, help="set this look preset in it")
    init.add_argument("--force", action="store_true", help="replace an existing file")

    ins = sub.add_parser("inspect", help="what a scene or dump draws, leaves out and hides, "
                                         "and how long it takes to render")
    ins.add_argument("source", type=Path, metavar="SCENE|DUMP",
                     help="scene YAML (or a bundled scene's name) or dump folder")
    ins.add_argument("-q", "--quality", choices=presets, help="quality preset")
    ins.add_argument("-s", "--style", choices=styles, help="look preset")
    ins.add_argument("--engine", choices=("cycles", "eevee", "workbench"))
    ins.add_argument("--frames", metavar="A-B", help="estimate only these frames")
    ins.add_argument("--still", nargs="?", type=int, const=0, metavar="FRAME",
                     help="estimate a still")
    ins.add_argument("--no-estimate", action="store_true",
                     help="the table only (no calibration frame, no Blender)")
    ins.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                     help="override any scene key (repeatable)")

    sch = sub.add_parser("schema", help="every scene key with its type, default and "
                                        "description; --json: a JSON Schema for editors")
    sch.add_argument("--json", action="store_true", help="the JSON Schema of a scene file")
    sch.add_argument("-o", "--out", type=Path, metavar="FILE", help="write it to FILE")


def run(args: argparse.Namespace) -> int:
    """Run ``init``, ``inspect`` or ``schema``."""
    if args.command == "init":
        from nnrender.commands.init_scene import init_command

        return init_command(args)
    if args.command == "inspect":
        from nnrender.commands.inspect import inspect_command

        return inspect_command(args)
    from nnrender.commands.schema import schema_command

    return schema_command(args)
