"""``nnrender dump`` end to end: a model and its epochs in, a dump out; bad input gives one
line on stderr, exit 2, and leaves an earlier dump alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.tf


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnrender", "dump", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def digits_run(keras_mod: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model for 8x8 digits with epoch_00..02 weight files."""
    keras = keras_mod
    from keras import layers

    work = tmp_path_factory.mktemp("digits")
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((8, 8, 1), name="img"),
                              layers.Conv2D(3, 3, padding="same", activation="relu", name="c"),
                              layers.Flatten(name="f"), layers.Dense(10, name="out")])
    model.save(work / "model.keras")
    rng = np.random.default_rng(0)
    for e in range(3):  # stand-ins for three epochs of training
        model.set_weights([w + 0.1 * e * rng.standard_normal(w.shape).astype(w.dtype)
                           for w in model.get_weights()])
        model.save_weights(work / f"epoch_{e:02d}.weights.h5")
    return work


def test_dump_with_series_images_and_storage(digits_run: Path, tmp_path: Path) -> None:
    img = tmp_path / "digit.png"
    Image.fromarray((np.kron(np.eye(8), np.ones((4, 4))) * 255).astype(np.uint8)).save(img)
    out = tmp_path / "dump"
    proc = run(digits_run / "model.keras", "--weights", digits_run, "--input", "digits:2",
               "--input", img, "--float16", "--max-maps", "2", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [ep["epoch"] for ep in manifest["epochs"]] == [0, 1, 2]
    assert manifest["inputs"]["count"] == 3
    conv = next(layer for layer in manifest["layers"] if layer["name"] == "c")
    assert conv["output_shape"] == [8, 8, 3] and conv["stored_shape"] == [8, 8, 2]
    from nnrender.model.ir import Dump

    d = Dump(out)
    assert d.activations(2, "c").dtype == np.float16
    x = d.activations(0, 0)
    assert x.shape == (3, 8, 8, 1) and 0 <= x.min() and x.max() <= 1
    shown = x[2, ..., 0].astype(float)  # the image, resized from 32 px: its diagonal
    eye = np.eye(8, dtype=bool)
    assert shown[eye].mean() > 0.5 and shown[~eye].mean() < 0.15


def test_bad_inputs_are_one_line(digits_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "dump"
    ok = run(digits_run / "model.keras", "--input", "digits:1", "-o", out)
    assert ok.returncode == 0, ok.stderr
    before = (out / "manifest.json").read_text()
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a zip at all")
    cases = [
        ((bad, "--input", "digits:1"), "broken.keras"),
        ((digits_run / "model.keras", "--input", tmp_path / "none.png"), "none.png"),
        ((digits_run / "model.keras", "--weights", tmp_path / "nothing*.weights.h5",
          "--input", "digits:1"), "nothing*"),
        ((digits_run / "model.keras", "--input", "digits:1", "--max-maps", "0"), "--max-maps"),
    ]
    for args, needle in cases:
        proc = run(*args, "-o", out)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, proc.stderr
        assert len(lines) == 1 and lines[0].startswith("nnrender: error: "), proc.stderr
        assert needle in lines[0]
    assert (out / "manifest.json").read_text() == before
