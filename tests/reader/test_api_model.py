"""A picture straight from a model (issue 17): ``nnrender.still`` from a .keras file and
from a Keras model object in this (TensorFlow) process, ``nnrender render MODEL --input``
dumping into the output folder first, and ``nnrender figure MODEL --input``. Every reader
and every render runs in a child process: TensorFlow is loaded here, Blender never is."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def small_model(keras_mod: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    keras = keras_mod
    from keras import layers

    model = keras.Sequential([keras.Input((8, 8, 1)),
                              layers.Conv2D(4, 3, padding="same", activation="relu",
                                            name="conv"),
                              layers.Flatten(name="flat"), layers.Dense(10, name="out")],
                             name="small_cnn")
    return model


def test_still_from_a_model_file_and_object(small_model: Any, tmp_path: Path) -> None:
    import nnrender

    path = tmp_path / "small.keras"
    small_model.save(path)
    out = tmp_path / "from_file"
    png = nnrender.still(path, inputs="digits:2", out=out, resolution=(64, 36),
                         render_samples=1, progress=False)
    assert png == out / "small.png" and png.read_bytes()[:4] == b"\x89PNG"
    assert (out / "dump" / "manifest.json").is_file()  # dumped into the output folder
    assert "bpy" not in sys.modules  # rendered in a child process

    # the model object itself (saved to a .keras file here, where TensorFlow already is)
    png = nnrender.still(small_model, inputs=np.random.default_rng(0).random((1, 8, 8, 1)),
                         out=tmp_path / "from_object", resolution=(64, 36),
                         render_samples=1, style=None, progress=False)
    assert png == tmp_path / "from_object" / "small_cnn.png" and png.is_file()
    assert "bpy" not in sys.modules


def test_render_and_figure_of_a_model_file(small_model: Any, tmp_path: Path) -> None:
    path = tmp_path / "small.keras"
    small_model.save(path)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "nnrender", "render", str(path), "--input", "digits:1",
           "--still", "--set", "render.resolution=[64,36]", "--set", "render.samples=1",
           "-o", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.strip().splitlines() == [str(out / "small.png")]
    manifest = (out / "dump" / "manifest.json").read_bytes()
    # a re-run finds the dump of the same model and inputs: not read again
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "is up to date" in again.stderr, again.stderr
    assert (out / "dump" / "manifest.json").read_bytes() == manifest
    # other inputs: dumped again
    cmd[cmd.index("digits:1")] = "digits:2"
    third = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0 and "is up to date" not in third.stderr, third.stderr

    svg = tmp_path / "fig.svg"
    proc = subprocess.run([sys.executable, "-m", "nnrender", "figure", str(path), "--input",
                           "digits:1", "-o", str(svg)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    root = ET.parse(svg).getroot()
    images = list(root.iter("{http://www.w3.org/2000/svg}image"))
    assert images, "the activations are drawn (an architecture figure has no images)"
