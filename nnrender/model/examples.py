"""The example networks of ``nnrender demo [NAME]``, by name, and their command line.

Run as ``python -m nnrender.model.examples NAME WORK_DIR [--epochs N] [--seed S] [--force]``:
trains NAME if no identical finished run is in WORK_DIR, then dumps it into WORK_DIR/dump
(see ``training``). The CLI starts it in a subprocess so the render process never imports
TensorFlow. Importing this module imports no TensorFlow either.

    digits      the digits CNN (``demo_train``), the default demo
    vit         a small Vision Transformer on the same digits (``example_vit``)
    text        a transformer text classifier on a synthetic sentiment task (``example_text``)
    text_lstm   the same task with a bidirectional LSTM (``example_text``)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nnrender.model.training import Example, run_example

# name -> the bundled scene that renders it (scenes/<scene>.yaml)
SCENES = {"digits": "demo", "vit": "vit_digits", "text": "text_transformer",
          "text_lstm": "text_lstm"}
NAMES = tuple(SCENES)


def example(name: str) -> Example:
    """The ``Example`` called ``name`` (one of ``NAMES``)."""
    if name == "digits":
        from nnrender.model.demo_train import DIGITS

        return DIGITS
    if name == "vit":
        from nnrender.model.example_vit import VIT

        return VIT
    if name == "text":
        from nnrender.model.example_text import TEXT

        return TEXT
    if name == "text_lstm":
        from nnrender.model.example_text import TEXT_LSTM

        return TEXT_LSTM
    raise KeyError(f"unknown example {name!r} (one of {', '.join(NAMES)})")


def main(argv: list[str] | None = None) -> int:
    """Train NAME if needed, then dump into WORK_DIR/dump; progress lines on stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m nnrender.model.examples",
        description="Train one of nnrender's example networks and dump it for rendering.",
    )
    parser.add_argument("name", choices=NAMES)
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--epochs", type=int, help="training epochs (default: the example's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="retrain and re-dump")
    args = parser.parse_args(argv)
    return run_example(example(args.name), args.work_dir, args.epochs, args.seed, args.force)


if __name__ == "__main__":
    sys.exit(main())
