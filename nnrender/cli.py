"""Command line: ``nnrender demo | dump | render | figure | farm``, and ``init | inspect |
schema`` (in ``commands/``).

Heavy imports (TensorFlow, bpy) happen only inside the branch that needs them, and never
both in one process: ``demo`` trains and dumps in a subprocess, then renders here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import warnings
from pathlib import Path

from nnrender import __version__
from nnrender.errors import EXIT_BAD_INPUT, NNRenderError, NNRenderWarning

ENGINES = ("cycles", "eevee", "workbench")


def _add_render_options(p: argparse.ArgumentParser, presets: list[str],
                        styles: list[str]) -> None:
    g = p.add_argument_group("quality and look")
    g.add_argument("-q", "--quality", choices=presets, help="quality preset (default: preview)")
    g.add_argument("-s", "--style", choices=styles,
                   help="look preset: paper (white, soft light), talk (dark, glowing), "
                        "cinematic (depth of field, rim light)")
    g.add_argument("--engine", choices=ENGINES, help="render engine (overrides the preset)")
    o = p.add_argument_group("output")
    o.add_argument("-o", "--out", type=Path, help="output folder")
    o.add_argument("--save-blend", type=Path, metavar="PATH",
                   help="also save the built scene as a .blend file")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    from nnrender.config.load import preset_names, style_names

    presets, styles = preset_names(), style_names()
    parser = argparse.ArgumentParser(
        prog="nnrender",
        description="Offline, cinematic renders of trained neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"nnrender {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from nnrender.model.examples import NAMES as demo_names

    demo = sub.add_parser("demo", help="train an example network (the digits CNN by default), "
                                       "dump it, render a video + still")
    demo.add_argument("name", nargs="?", default="digits", choices=demo_names, metavar="NAME",
                      help="which example: digits (a CNN on 8x8 digits, the default), vit (a "
                           "Vision Transformer on the same digits), text (a transformer text "
                           "classifier), text_lstm (a bidirectional LSTM on the same text)")
    _add_render_options(demo, presets, styles)
    demo.add_argument("--epochs", type=int,
                      help="training epochs (default: digits 8, vit 12, text 6, text_lstm 6)")
    demo.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                      help="override any key of the example's scene (repeatable), e.g. "
                           "--set output.formats=[mp4,gif]")

    dump = sub.add_parser("dump", help="read a Keras, PyTorch or ONNX model and its epochs "
                                       "into a dump folder")
    dump.add_argument("model", type=Path,
                      help=".keras/.h5 model, a folder or glob of per-epoch model files, a "
                           "SavedModel folder or a tf.train.Checkpoint folder (with --builder); "
                           "a PyTorch .pt2 program, TorchScript .pt, state-dict files (with "
                           "--builder) or an .onnx model, or a glob/folder of them")
    dump.add_argument("-o", "--out", type=Path, required=True, help="dump folder to write")
    src = dump.add_argument_group("epochs")
    src.add_argument("--weights", metavar="PATTERN",
                     help="per-epoch weights: a glob or folder of *.weights.h5 / .keras files, "
                          "or checkpoints; ordered by the epoch number in the name")
    src.add_argument("--builder", metavar="MODULE:FUNCTION",
                     help="function that builds the model to restore SavedModel or checkpoint "
                          "variables (or PyTorch state dicts) into (MODULE may be a "
                          "path/to/file.py)")
    src.add_argument("--state-key", metavar="KEY",
                     help="PyTorch checkpoints: the entry holding the state dict (when a "
                          "checkpoint holds several, e.g. model and ema)")
    src.add_argument("--allow-gaps", action="store_true",
                     help="accept irregular gaps in the epoch numbers")
    src.add_argument("--import", dest="imports", action="append", default=[],
                     metavar="MODULE",
                     help="import this module (or path/to/file.py) first: the code that "
                          "defines or registers the model's custom layers (repeatable)")
    inp = dump.add_argument_group("inputs")
    inp.add_argument("--input", dest="inputs", action="append", default=[], metavar="SPEC",
                     help="image file (PNG/JPEG), .npy array or digits:N (repeatable; for a "
                          "model with several inputs, one per input in order)")
    inp.add_argument("--scale", choices=["0-1", "-1-1", "0-255", "imagenet-caffe"],
                     default="0-1", help="how image pixels are scaled (default 0-1)")
    inp.add_argument("--resize", choices=["stretch", "crop", "fit"], default="stretch",
                     help="how images are fitted to the model's input size")
    inp.add_argument("--input-shape", metavar="DIMS",
                     help="PyTorch modules: the input's shape without the batch axis in the "
                          "model's layout, e.g. 3,224,224 (default: from the first layer)")
    inp.add_argument("--vocab", type=Path, metavar="FILE",
                     help="token texts of integer inputs: one token per line (line i is id "
                          "i), a JSON list, or a JSON object {token: id}")
    st = dump.add_argument_group("storage")
    st.add_argument("--float16", action="store_true", help="store arrays as float16")
    st.add_argument("--max-maps", type=int, metavar="N", help="keep at most N maps per layer")
    st.add_argument("--maps-select", choices=["even", "first"], default="even",
                    help="which maps --max-maps keeps (default: evenly spaced)")
    st.add_argument("--max-side", type=int, metavar="PX",
                    help="block-average maps larger than PX on a side")
    st.add_argument("--no-weights", action="store_true", help="do not store layer weights")
    st.add_argument("--shapes-only", action="store_true",
                    help="layers and shapes only, for `nnrender figure`: no --input needed "
                         "(one run on zeros), zero activations, no weights")
    st.add_argument("--max-tokens", type=int, default=4096, metavar="N",
                    help="keep N evenly spaced tokens (or time steps) of longer sequences "
                         "(default 4096); their attention scores are not recorded")
    st.add_argument("--max-attention", type=int, metavar="N",
                    help="record a layer's attention scores only up to N values (inputs x "
                         "heads x queries x keys; default 64 Mi)")

    from nnrender import commands

    render = sub.add_parser("render", help="render a scene YAML, a dump or a model to "
                                           "frames, a video, a still")
    render.add_argument("scene", type=Path, metavar="SCENE|DUMP|MODEL",
                        help="scene YAML (or the name of a bundled scene), a dump folder "
                             "(the defaults, -s STYLE), or a model file with --input "
                             "(dumped into OUT/dump first)")
    _add_render_options(render, presets, styles)
    commands.add_render_options(render)
    t = render.add_argument_group("what to render")
    t.add_argument("--frames", metavar="A-B", help="only these frames (no video is encoded)")
    t.add_argument("--still", nargs="?", type=int, const=0, metavar="FRAME",
                   help="render only a still (default frame: output.still_frame or the last)")
    c = render.add_argument_group("configuration")
    c.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override any scene key, e.g. --set render.samples=4 (repeatable)")
    figure = sub.add_parser("figure", help="draw a scene, dump or model as a vector PDF or "
                                           "SVG (or PNG) figure for a paper")
    figure.add_argument("source", type=Path, metavar="SCENE|DUMP|MODEL",
                        help="scene YAML (or a bundled scene's name), dump folder, or a "
                             "model file that dump reads (an architecture figure)")
    figure.add_argument("--format", metavar="FORMAT",
                        help="pdf (default), svg or png; else from the -o file's suffix")
    figure.add_argument("-o", "--out", type=Path, metavar="FILE",
                        help="output file (default: the scene's output.name, or the "
                             "source's name, .pdf, here)")
    size = figure.add_mutually_exclusive_group()
    size.add_argument("--columns", type=int, metavar="1|2",
                      help="1: 3.5 in wide, 2: 7.16 in (the default)")
    size.add_argument("--width", metavar="LENGTH", help="width: 3.5in, 8.9cm, 89mm or 252pt")
    figure.add_argument("--dpi", type=int, metavar="N",
                        help="resolution of the embedded activations and of PNG output "
                             "(default 300)")
    figure.add_argument("--epoch", type=int, metavar="N",
                        help="the recorded epoch shown (default: the last)")
    figure.add_argument("--architecture", action="store_true",
                        help="boxes flat-coloured by layer type, with a legend of the types, "
                             "instead of activations (look.activations: false)")
    figure.add_argument("-s", "--style", choices=styles,
                        help="look preset (default: paper, whatever the scene's own)")
    figure.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override any scene key, e.g. --set figure.font=STIXGeneral")
    commands.add_reader_options(figure)
    commands.add_parsers(sub, presets, styles)
    farm = sub.add_parser("farm", help="render a scene in frame chunks on a Dask cluster "
                                       "(resumable; one Blender process per chunk)")
    farm.add_argument("scene", type=Path,
                      help="scene YAML, or the name of a bundled scene (scenes/)")
    _add_render_options(farm, presets, styles)
    f = farm.add_argument_group("farm")
    f.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786); default: a local cluster")
    f.add_argument("--chunk", type=int, default=12, metavar="N",
                   help="frames per task (default 12)")
    f.add_argument("--workers", type=int, metavar="N",
                   help="local cluster: worker processes (default 2)")
    f.add_argument("--retries", type=int, default=2, metavar="N",
                   help="times a failed chunk is tried again (default 2)")
    c = farm.add_argument_group("configuration")
    c.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override any scene key (repeatable); passed on to every chunk")
    return parser


def _farm(args: argparse.Namespace) -> int:
    from nnrender.config.load import load_config
    from nnrender.farm.job import Job
    from nnrender.model.ir import Dump
    from nnrender.pipeline import check_output_dir, plan_fingerprint, resolve_dump
    from nnrender.plan import make_plan

    for flag, value, low in (("--chunk", args.chunk, 1), ("--workers", args.workers, 1),
                             ("--retries", args.retries, 0)):
        if value is not None and value < low:
            raise NNRenderError(flag, f"must be at least {low}, not {value}")
    if args.save_blend is not None:
        raise NNRenderError("--save-blend", "not with farm: save the scene with "
                                            "`nnrender render SCENE --still --save-blend F`")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise NNRenderError("farm", "needs Dask distributed: pip install -e \".[farm]\"") \
            from None
    scene = args.scene.resolve()
    layer = _cli_layer(args)
    config, base = load_config(scene, layer, args.quality, args.style)
    out = check_output_dir((args.out or Path("nnrender-out") / scene.stem).resolve())
    plan = make_plan(Dump(resolve_dump(config, base, scene)), config, scene)
    engine = config.render.engine
    first, last = plan.story.first_frame, plan.story.last_frame
    still = config.output.still_frame or last
    if not first <= still <= last:
        raise NNRenderError(scene, f"output.still_frame: frame {still} outside {first}-{last}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NNRenderError(out, f"cannot create the output folder: {exc.strerror}") from None
    fingerprint = plan_fingerprint(plan, engine)
    job = Job.open(out, scene=str(scene), fingerprint=fingerprint,
                   engine=engine, quality=config.quality, style=config.style, seed=config.seed,
                   first=first, last=last, chunk=args.chunk)
    from nnrender.plan.saved import save_plan

    save_plan(plan, out, fingerprint)  # chunks load it rather than plan again
    # every chunk runs the same render command (what any farm manager would run), with the
    # worker's own Python: `python -m nnrender render SCENE ...`
    command = ["-m", "nnrender", "render", str(scene)]
    for flag, value in (("-q", args.quality), ("-s", args.style), ("--engine", args.engine)):
        if value:
            command += [flag, value]
    for item in args.sets:  # a relative dump was made absolute for this folder
        key = item.split("=", 1)[0].strip()
        command += ["--set", f"dump={layer['dump']}" if key == "dump" else item]
    from tqdm import tqdm

    from nnrender.farm.dask_runner import run_farm

    total = job.last - job.first + 1
    with tqdm(total=total, initial=len(job.done_frames()), unit="frame", desc="farm",
              disable=args.no_progress, file=sys.stderr, dynamic_ncols=True) as bar:

        def progress(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        result = run_farm(job, command, scheduler=args.scheduler, workers=args.workers,
                          retries=args.retries, fps=config.render.fps,
                          output=config.output, still_frame=still, progress=progress)
    for line in sorted(result.warnings):
        print(line, file=sys.stderr)
    print(f"nnrender: farm: {result.rendered_chunks} of {len(job.chunks)} chunks rendered "
          f"in {result.seconds:.1f} s", file=sys.stderr)
    for path in (*result.videos, result.still):
        if path is not None:
            print(path)
    return 0


def _cli_layer(args: argparse.Namespace) -> dict:
    from nnrender.commands.render import cli_layer

    return cli_layer(args)


def _render(scene: Path | None, cli_layer: dict, args: argparse.Namespace, out: Path,
            video: bool, still: int | None) -> int:
    from nnrender.commands.render import run_scene

    return run_scene(scene, cli_layer, args, out, video, still)


def _demo(args: argparse.Namespace) -> int:
    from nnrender.config.bundled import resolve
    from nnrender.model.examples import SCENES
    from nnrender.sources import TF_NOISE

    name = args.name
    # each example its own default folder, so switching examples retrains nothing
    out = (args.out or Path("nnrender-demo" if name == "digits"
                            else f"nnrender-demo-{name}")).resolve()
    work = out / "model"
    cmd = [sys.executable, "-m", "nnrender.model.examples", name, str(work)]
    if args.epochs is not None:
        cmd += ["--epochs", str(args.epochs)]
    # TensorFlow stays in that process; its C++ start-up chatter (absl/oneDNN info lines)
    # is dropped, everything else it prints is passed on
    proc = subprocess.Popen(cmd, env=os.environ.copy(), stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if not TF_NOISE.match(line):
            sys.stderr.write(line)
    if proc.wait() != 0:
        return proc.returncode
    scene = resolve("scene", SCENES[name])
    layer = _cli_layer(args)
    layer["dump"] = str(work / "dump")
    return _render(scene, layer, args, out, video=True, still=0)


def _dump(args: argparse.Namespace) -> int:
    from nnrender.errors import NNRenderWarning

    # the reader's warnings are in the manifest, printed below as one line each
    warnings.filterwarnings("ignore", category=NNRenderWarning)
    if args.shapes_only:  # the graph and its shapes alone: the smallest storage
        from nnrender.figure.shapes import STORAGE, zero_inputs

        for key, value in STORAGE.items():
            setattr(args, key, value)
    elif not args.inputs:
        raise NNRenderError("--input", "give at least one input: an image, a .npy file or "
                                       "digits:N")
    for flag in ("max_maps", "max_side", "max_tokens", "max_attention"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise NNRenderError(f"--{flag.replace('_', '-')}", f"must be at least 1, not {value}")
    from nnrender.model.ir import check_dump_target
    from nnrender.model.vocab import load_vocab

    check_dump_target(args.out)  # before minutes of work, not after
    vocab = load_vocab(args.vocab) if args.vocab is not None else None
    from nnrender.model.scores import ATTENTION_BUDGET
    from nnrender.model.torch_paths import is_torch_source

    storage = {"dtype": "float16" if args.float16 else "float32", "max_maps": args.max_maps,
               "max_side": args.max_side, "maps_select": args.maps_select,
               "store_weights": not args.no_weights, "max_tokens": args.max_tokens,
               "max_attention": args.max_attention or ATTENTION_BUDGET, "vocab": vocab}
    if is_torch_source(args.weights if args.builder and args.weights else args.model):
        from nnrender.model.torch_dump import dump_cli

        out = dump_cli(args.model, args.out, args.inputs, builder=args.builder,
                       weights=args.weights, state_key=args.state_key,
                       allow_gaps=args.allow_gaps, input_shape=args.input_shape,
                       scale=args.scale, resize=args.resize,
                       zeros=zero_inputs if args.shapes_only else None, **storage)
        return _dumped(out, args.shapes_only)
    from nnrender.model.builders import import_modules
    from nnrender.model.inputs import load_model_inputs
    from nnrender.model.keras_capture import dump_keras
    from nnrender.model.keras_env import keras_module
    from nnrender.model.keras_files import input_shapes, open_model

    if args.imports:
        keras_module()  # quietly, before the user's own `import keras` is noisy
    custom = import_modules(args.imports)
    model, series = open_model(args.model, builder=args.builder, weights=args.weights,
                               allow_gaps=args.allow_gaps, custom_objects=custom)
    inputs = (zero_inputs(input_shapes(model)) if args.shapes_only else
              load_model_inputs(args.inputs, input_shapes(model), scale=args.scale,
                                resize=args.resize))
    out = dump_keras(model, series, inputs, args.out,
                     input_source=",".join(str(p) for p in args.inputs), **storage)
    return _dumped(out, args.shapes_only)


def _dumped(out: Path, shapes_only: bool) -> int:
    """After a dump: shapes-only marking, the manifest's warnings, the folder printed."""
    import json

    if shapes_only:
        from nnrender.figure.shapes import mark_shapes_only

        mark_shapes_only(out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for message in manifest.get("model", {}).get("warnings", []):
        print(f"nnrender: warning: {message}", file=sys.stderr)
    print(out)
    return 0


def _figure(args: argparse.Namespace) -> int:
    from nnrender.figure.options import FigureOptions, output_format

    fmt = output_format(args.format, args.out)
    FigureOptions().with_cli(args.columns, args.width, args.dpi)  # bad sizes: before work
    if args.out is not None:
        out = args.out
        if out.is_dir():
            raise NNRenderError(out, "is a folder: give the figure's file name")
        if not out.parent.is_dir():
            raise NNRenderError(out, f"the folder {out.parent} does not exist")
    from nnrender.commands.render import reader_options
    from nnrender.figure import save
    from nnrender.figure.api import make_figure

    fig = make_figure(args.source, columns=args.columns, width=args.width, dpi=args.dpi,
                      style=args.style, sets=args.sets, epoch=args.epoch,
                      architecture=args.architecture, reader=reader_options(args))
    for note in fig.nnrender_notes:
        print(f"nnrender: warning: {note}", file=sys.stderr)
    out = args.out or Path(f"{fig.nnrender_name}.{fmt}")
    print(save(fig, out, fmt))
    return 0


def main(argv: list[str] | None = None) -> int:
    from nnrender.runtime import isolate_home

    isolate_home()
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "scene", None) is not None:
        from nnrender.config.bundled import scene_file

        args.scene = scene_file(args.scene)
    # nnrender's own warnings are printed as one line each (the plan's and the manifest's);
    # every other library's still reach the user
    warnings.filterwarnings("ignore", category=NNRenderWarning)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "dump":
            return _dump(args)
        if args.command == "farm":
            return _farm(args)
        if args.command == "figure":
            return _figure(args)
        if args.command == "render":
            from nnrender.commands.render import render_command

            return render_command(args)
        from nnrender import commands

        if args.command in commands.COMMANDS:
            return commands.run(args)
    except NNRenderError as exc:
        print(exc.line(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("nnrender: interrupted", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
