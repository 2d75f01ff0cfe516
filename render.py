#!/usr/bin/env python3
"""Thin entry point: ``python render.py SCENE.yaml ...`` is ``nnrender render SCENE.yaml ...``."""

import sys

from nnrender.cli import main

if __name__ == "__main__":
    sys.exit(main(["render", *sys.argv[1:]]))
