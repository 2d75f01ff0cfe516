"""``nnrender render SCENE|DUMP|MODEL``: a scene YAML, or no YAML at all: a dump folder with
the defaults (and ``-s STYLE``), or a model file with ``--input``, dumped into the output
folder first by ``nnrender dump`` in a child process (TensorFlow or PyTorch never shares a
process with Blender). The render's time is estimated once the scene is built, and a
render of more than an hour asks before it starts (on a terminal, without ``--yes``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nnrender.errors import NNRenderError
from nnrender.sources import ReaderOptions, dump_model, kind_of, output_stem


def cli_layer(args: argparse.Namespace) -> dict:
    """The command line's config layer: ``--set`` pairs (a relative dump made absolute:
    it was typed here) and ``--engine``."""
    from nnrender.config.load import parse_set

    layer = parse_set(getattr(args, "sets", []))
    if isinstance(layer.get("dump"), str) and not Path(layer["dump"]).is_absolute():
        layer["dump"] = str(Path.cwd() / layer["dump"])
    if getattr(args, "engine", None):
        layer.setdefault("render", {})["engine"] = args.engine
    return layer


def reader_options(args: argparse.Namespace) -> ReaderOptions:
    extra = []
    for flag, value in (("--scale", getattr(args, "scale", None)),
                        ("--resize", getattr(args, "resize", None)),
                        ("--input-shape", getattr(args, "input_shape", None)),
                        ("--vocab", getattr(args, "vocab", None))):
        if value is not None:
            extra += [flag, str(value)]
    return ReaderOptions(list(getattr(args, "inputs", None) or []),
                         getattr(args, "weights", None), getattr(args, "builder", None),
                         list(getattr(args, "imports", None) or []), extra)


def open_source(source: Path, args: argparse.Namespace, out: Path | None
                ) -> tuple[Path | None, dict[str, Any], str | Path]:
    """(the scene file or None, the command-line layer with the dump filled in, the name
    errors give): a model is dumped into ``out/dump`` first."""
    kind = kind_of(source)
    layer = cli_layer(args)
    reader = reader_options(args)
    if kind != "model" and reader.given:
        raise NNRenderError("--input", f"only for a model file: {source} is a {kind}")
    if kind == "scene":
        return source, layer, source
    if kind == "model":
        if out is None:
            raise NNRenderError(source, "give a dump folder or a scene (`nnrender dump "
                                        "MODEL --input ... -o DUMP` makes the dump)")
        from nnrender.config.load import load_config

        # a bad --set, -q or -s is one line now, not after minutes of dumping
        load_config(None, layer, getattr(args, "quality", None), getattr(args, "style", None))
        dump = dump_model(source, out / "dump", reader)
    else:
        dump = source
    layer["dump"] = str(dump.resolve())
    output = layer.setdefault("output", {})
    if isinstance(output, dict):
        output.setdefault("name", output_stem(source))
    return None, layer, dump


def announce(args: argparse.Namespace, out: Path
             ) -> Callable[[Any, Any, list[int], float], None]:
    """The hook that prints the estimate once the scene is built, and asks when it is long."""

    def after_build(built: Any, plan: Any, todo: list[int], build_s: float) -> None:
        from nnrender.estimate import confirm, estimate_built

        if not todo:
            return
        estimate = estimate_built(built, plan, todo, out / "blender.log")
        print(f"nnrender: estimate: {estimate.line()}", file=sys.stderr)
        confirm(estimate, bool(getattr(args, "yes", False)))

    return after_build


def run_scene(scene: Path | None, layer: dict, args: argparse.Namespace, out: Path,
              video: bool, still: int | None, origin: str | Path | None = None) -> int:
    """Render a scene (or the defaults, ``scene`` None) with the command line's layer;
    prints the outputs."""
    from nnrender.config.load import load_config
    from nnrender.pipeline import EXPECT_PLAN_ENV, RenderRequest, check_output_dir, run_render

    config, base = load_config(scene, layer, args.quality, args.style)
    # a farm's chunks are timed by the farm; --no-estimate skips the calibration frame
    timed = not getattr(args, "no_estimate", False) and not os.environ.get(EXPECT_PLAN_ENV)
    request = RenderRequest(out_dir=check_output_dir(out), video=video, still=still,
                            frames=getattr(args, "frames", None), save_blend=args.save_blend,
                            progress=not args.no_progress,
                            after_build=announce(args, out) if timed else None)
    result = run_render(config, base, request, origin or scene or "scene")
    for path in (*result.videos, result.still):
        if path is not None:
            print(path)
    if result.frames_dir is not None and result.video is None:
        print(result.frames_dir)
    return 0


def render_command(args: argparse.Namespace) -> int:
    """``nnrender render``: see the module docstring."""
    if args.frames and args.still is not None:
        raise NNRenderError("--frames", "render either --frames or a --still, not both")
    source = Path(args.scene)
    kind = kind_of(source)
    name = source.stem if kind == "scene" else output_stem(source)
    out = args.out or Path("nnrender-out") / name
    from nnrender.pipeline import check_output_dir

    check_output_dir(out)
    scene, layer, origin = open_source(source, args, out)
    return run_scene(scene, layer, args, out, args.still is None, args.still, origin)
