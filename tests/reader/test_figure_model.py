"""Architecture figures straight from a model file: ``nnrender figure model.keras`` with no
inputs and no weights (a shapes-only dump, written by ``nnrender dump --shapes-only`` in a
TensorFlow subprocess), and that dump on its own."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.tf


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnrender", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def branching_model(keras_mod: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small residual model: a stem, one block with a skip connection, a head."""
    keras = keras_mod
    from keras import layers

    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    y = layers.Conv2D(8, 3, padding="same", activation="relu", name="block_conv1")(x)
    y = layers.Conv2D(8, 3, padding="same", name="block_conv2")(y)
    x = layers.Add(name="block_add")([x, y])
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    out = layers.Dense(4, name="logits")(x)
    path = tmp_path_factory.mktemp("model") / "resnetish.keras"
    keras.Model(inp, out).save(path)
    return path


def test_figure_of_a_model_file(branching_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "arch.svg"
    proc = run("figure", branching_model, "-o", out)
    assert proc.returncode == 0, proc.stderr
    texts = {"".join(t.itertext())
             for t in ET.parse(out).getroot().iter("{http://www.w3.org/2000/svg}text")}
    assert {"Conv2D", "Add", "Dense"} <= texts  # the legend of the layer types
    assert "logits" in texts or any(t.startswith("logits") for t in texts)


def test_shapes_only_dump(branching_model: Path, tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    proc = run("dump", branching_model, "--shapes-only", "-o", dump)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((dump / "manifest.json").read_text())
    assert manifest["model"]["shapes_only"] is True
    by_name = {layer["name"]: layer for layer in manifest["layers"]}
    assert by_name["block_add"]["inbound"] == ["stem", "block_conv2"]
    assert by_name["block_conv1"]["output_shape"] == [16, 16, 8]
    assert all(ep["weights"] is None for ep in manifest["epochs"])
    with np.load(dump / manifest["epochs"][0]["activations"]) as npz:
        assert all(not np.any(npz[k]) and npz[k].size <= 8 for k in npz.files)
