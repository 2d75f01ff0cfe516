"""``nnrender dump`` with a saved model that uses a registered custom layer: without
``--import`` one line naming the missing class and the fix, with it a dump; ``--vocab``
and ``--max-tokens``; integer ``.npy`` token ids; no TensorFlow retracing chatter."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.tf

LAYERS_PY = '''
import keras
from keras import ops


@keras.saving.register_keras_serializable()
class Patches(keras.layers.Layer):
    """Groups neighbouring tokens: (T, D) -> (T / size, D * size)."""

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

    def call(self, x):
        return ops.reshape(x, (-1, x.shape[1] // self.patch_size,
                               x.shape[2] * self.patch_size))

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size}
'''


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnrender", "dump", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def text_run(keras_mod: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.keras (Embedding, six grouped Conv1D, the custom Patches, attention), the
    module defining Patches, token ids as .npy (int64) and a vocabulary."""
    keras = keras_mod
    from keras import layers as L

    work = tmp_path_factory.mktemp("text")
    (work / "mylayers.py").write_text(LAYERS_PY, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("mylayers_for_test", work / "mylayers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    keras.utils.set_random_seed(3)
    tokens = keras.Input((12,), dtype="int32", name="tokens")
    h = L.Embedding(30, 8, name="emb")(tokens)
    for i in range(6):  # grouped: Keras compiles each call with XLA (and TF says retracing)
        h = L.Conv1D(8, 3, padding="same", groups=2, name=f"gconv{i}")(h)
    p = module.Patches(2, name="patches")(h)
    a = L.MultiHeadAttention(num_heads=2, key_dim=4, name="att")(p, p)
    out = L.Dense(2, name="out")(L.GlobalAveragePooling1D(name="gap")(a))
    keras.Model(tokens, out, name="custom_text").save(work / "model.keras")
    ids = np.random.default_rng(0).integers(0, 30, (2, 12)).astype(np.int64)
    ids[1, 3] = 29
    np.save(work / "tokens.npy", ids)
    (work / "vocab.txt").write_text("".join(f"tok{i}\n" for i in range(30)), encoding="utf-8")
    (work / "short.txt").write_text("a\nb\n", encoding="utf-8")
    (work / "elsewhere").mkdir()
    return work


def test_missing_custom_class_then_import(text_run: Path) -> None:
    w = text_run
    where = w / "elsewhere"  # Keras cannot find mylayers by itself here
    proc = run(w / "model.keras", "--input", w / "tokens.npy", "-o", w / "dump", cwd=where)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"nnrender: error: {w / 'model.keras'}: ")
    assert "custom class 'Patches'" in lines[0] and "--import" in lines[0]
    assert not (w / "dump").exists()

    proc = run(w / "model.keras", "--import", w / "mylayers.py", "--input", w / "tokens.npy",
               "--vocab", w / "vocab.txt", "--max-tokens", "6", "-o", w / "dump", cwd=where)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(w / "dump")
    assert "retracing" not in proc.stderr and "Traceback" not in proc.stderr
    warned = [line for line in proc.stderr.splitlines() if line.startswith("nnrender: warning")]
    assert any("shape only: Patches x1" in line for line in warned), proc.stderr
    assert any("6 evenly spaced positions" in line for line in warned), proc.stderr
    manifest = json.loads((w / "dump" / "manifest.json").read_text())
    assert manifest["inputs"]["dtypes"] == ["int32"]
    assert manifest["inputs"]["vocab"] == [f"tok{i}" for i in range(30)]
    by = {layer["name"]: layer for layer in manifest["layers"]}
    assert by["patches"]["type"] == "Patches" and by["patches"]["output_shape"] == [6, 16]
    assert by["patches"]["config"]["patch_size"] == 2
    assert by["gconv0"]["config"]["groups"] == 2
    assert by["emb"]["positions"] == [0, 2, 4, 7, 9, 11] and by["emb"]["stored_shape"] == [6, 8]
    assert by["att"]["attention"] == {"heads": 2, "queries": 6, "keys": 6,
                                      "query": "patches", "key": "patches"}
    with np.load(w / "dump" / "arrays" / "inputs.npz") as npz:
        assert npz["inputs"].dtype == np.int32


def test_vocab_too_short_is_one_line(text_run: Path) -> None:
    w = text_run
    proc = run(w / "model.keras", "--import", "mylayers", "--input", w / "tokens.npy",
               "--vocab", w / "short.txt", "-o", w / "dump2", cwd=w)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert str(w / "short.txt") in lines[0] and "token id 29" in lines[0]
    missing = run(w / "model.keras", "--import", "no_such_module_xyz", "--input",
                  w / "tokens.npy", "-o", w / "dump3", cwd=w)
    assert missing.returncode == 2 and "no_such_module_xyz" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1, missing.stderr
