"""The example networks of ``nnrender demo NAME`` (vit, text, text_lstm), trained for one
epoch: deterministic, cached, dumped with their custom layers' class names as types, the
text models fed integer token ids, and ``model.keras`` loading back with the custom layers.

About 30 s on 2 cores (each example trained twice for one epoch, then dumped).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnrender.errors import NNRenderWarning
from nnrender.model import examples, training
from nnrender.model.ir import Dump

pytestmark = pytest.mark.tf

NAMES = ("vit", "text", "text_lstm")
T, D = 16, 32  # the ViT's tokens and projection


def _vit_layers() -> list[tuple[str, str, list[int]]]:
    out = [("input", "InputLayer", [8, 8, 1]), ("patches", "Patches", [T, 4]),
           ("patch_encoder", "PatchEncoder", [T, D])]
    for b in (1, 2):
        out += [(f"block{b}_norm1", "LayerNormalization", [T, D]),
                (f"block{b}_attention", "MultiHeadAttention", [T, D]),
                (f"block{b}_add1", "Add", [T, D]),
                (f"block{b}_norm2", "LayerNormalization", [T, D]),
                (f"block{b}_mlp1", "Dense", [T, 64]),
                (f"block{b}_mlp2", "Dense", [T, D]),
                (f"block{b}_add2", "Add", [T, D])]
    return out + [("norm", "LayerNormalization", [T, D]),
                  ("pool", "GlobalAveragePooling1D", [D]), ("output", "Dense", [10])]


EXPECTED = {
    "vit": ("vit_digits", _vit_layers()),
    "text": ("text_transformer", [
        ("tokens", "InputLayer", [12]),
        ("embedding", "TokenAndPositionEmbedding", [12, 32]),
        ("transformer", "TransformerBlock", [12, 32]),
        ("pool", "GlobalAveragePooling1D", [32]),
        ("dropout1", "Dropout", [32]),
        ("dense", "Dense", [20]),
        ("dropout2", "Dropout", [20]),
        ("output", "Dense", [2]),
    ]),
    "text_lstm": ("text_lstm", [
        ("tokens", "InputLayer", [12]),
        ("embedding", "Embedding", [12, 32]),
        ("bilstm", "Bidirectional", [12, 32]),
        ("pool", "GlobalAveragePooling1D", [32]),
        ("output", "Dense", [2]),
    ]),
}


def _h5_arrays(path: str) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, np.asarray(obj))
                     if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.fixture(scope="module")
def runs(keras_mod: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each example trained for one epoch twice, into two folders: (result a, result b)."""
    root = tmp_path_factory.mktemp("examples")
    out = {}
    for name in NAMES:
        ex = examples.example(name)
        out[name] = tuple(training.train_example(ex, root / f"{name}_{run}", 1, seed=0)
                          for run in ("a", "b"))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_one_epoch_is_deterministic(runs: dict[str, Any], name: str) -> None:
    a, b = runs[name]
    assert not a["cached"] and not b["cached"]
    assert [Path(p).name for p in a["weights"]] == ["epoch_00.weights.h5", "epoch_01.weights.h5"]
    for wa, wb in zip(a["weights"], b["weights"], strict=True):
        arrays_a, arrays_b = _h5_arrays(wa), _h5_arrays(wb)
        assert arrays_a and arrays_a.keys() == arrays_b.keys()
        for key in arrays_a:
            np.testing.assert_array_equal(arrays_a[key], arrays_b[key], err_msg=key)
    # training changed the weights
    before, after = _h5_arrays(a["weights"][0]), _h5_arrays(a["weights"][1])
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    for key in ("history", "labels"):
        assert Path(a[key]).read_text() == Path(b[key]).read_text()
    np.testing.assert_array_equal(np.load(a["inputs"]), np.load(b["inputs"]))
    assert a["test_accuracy"] == b["test_accuracy"]
    history = json.loads(Path(a["history"]).read_text())["epochs"]
    assert [row["epoch"] for row in history] == [0, 1]


@pytest.mark.parametrize("name", NAMES)
def test_second_call_trains_nothing(runs: dict[str, Any], name: str) -> None:
    a = runs[name][0]
    work = Path(a["work_dir"])
    stamps = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()}

    def no_build(_keras: Any) -> Any:
        raise AssertionError("a cached run built a model")

    ex = dataclasses.replace(examples.example(name), build=no_build)
    again = training.train_example(ex, work, 1, seed=0)
    assert again["cached"] and again["seconds"] == 0.0
    assert again["test_accuracy"] == a["test_accuracy"]
    assert {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()} == stamps
    # other settings, or another example in this folder, are not this run
    assert training.cached_result(ex, work, 2, 0) is None
    assert training.cached_result(ex, work, 1, 1) is None
    other = next(n for n in NAMES if n != name)
    assert training.cached_result(examples.example(other), work, 1, 0) is None
    assert training.cached_result(examples.example("digits"), work, 1, 0) is None


@pytest.fixture(scope="module")
def dumps(runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Dump]:
    root = tmp_path_factory.mktemp("example-dumps")
    with warnings.catch_warnings():  # layers the reader only knows by their shape
        warnings.simplefilter("ignore", NNRenderWarning)
        return {name: Dump(training.dump_example(examples.example(name), runs[name][0],
                                                 root / name)) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_dump_has_the_layers_and_types(dumps: dict[str, Dump], name: str) -> None:
    man = dumps[name].manifest
    model_name, expected = EXPECTED[name]
    assert man.model["name"] == model_name
    # layers inside a custom layer may be recorded too, as "outer/inner"
    top = [(layer.name, layer.type, layer.output_shape) for layer in man.layers
           if "/" not in layer.name]
    assert top == expected
    assert [e.epoch for e in man.epochs] == [0, 1]
    assert len(man.inputs["labels"]) == man.inputs["count"] == 4
    for i in range(len(man.epochs)):
        out = dumps[name].activations(i, "output")
        assert out.shape == (4, expected[-1][2][0])
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)  # softmax


def test_vit_records_the_demo_digits(dumps: dict[str, Dump], runs: dict[str, Any]) -> None:
    from nnrender.model.demo_train import DEMO_DIGITS

    dump = dumps["vit"]
    assert dump.manifest.inputs["labels"] == list(DEMO_DIGITS)
    x = np.load(runs["vit"][0]["inputs"])
    assert x.shape == (4, 8, 8, 1)
    # the patches layer: row-major 2x2 patches, each (row, column) within the patch
    patches = dump.activations(0, "patches")
    assert patches.shape == (4, 16, 4)
    np.testing.assert_array_equal(patches[:, 0], x[:, 0:2, 0:2, 0].reshape(4, 4))
    np.testing.assert_array_equal(patches[:, 5], x[:, 2:4, 2:4, 0].reshape(4, 4))
    np.testing.assert_array_equal(patches[:, 15], x[:, 6:8, 6:8, 0].reshape(4, 4))


@pytest.mark.parametrize("name", ("text", "text_lstm"))
def test_text_models_take_integer_token_ids(keras_mod: Any, dumps: dict[str, Dump],
                                            runs: dict[str, Any], name: str) -> None:
    from nnrender.model import example_text as et
    from nnrender.model.keras_capture import dump_keras

    result = runs[name][0]
    model = examples.example(name).build(keras_mod)
    assert str(model.inputs[0].dtype) == "int32"
    ids = np.load(result["inputs"])
    assert ids.dtype == np.int32 and ids.shape == (4, et.MAXLEN)
    np.testing.assert_array_equal(ids, np.stack([et.encode(t) for t, _ in et.SENTENCES]))
    labels = json.loads(Path(result["labels"]).read_text())
    assert labels["texts"] == [t for t, _ in et.SENTENCES]
    assert labels["labels"] == [1, 0, 1, 0]
    vocab_file = Path(result["extra"]["vocab.txt"])
    assert vocab_file.read_text(encoding="utf-8").splitlines() == list(et.VOCAB)

    dump = dumps[name]
    recorded = dump.input_array(0)
    assert recorded is not None
    np.testing.assert_array_equal(recorded, ids)  # the ids, whatever dtype they are kept in
    dtypes = dump.manifest.inputs.get("dtypes")
    if dtypes is not None:  # schema 2 readers keep token ids as integers
        assert np.dtype(dtypes[0]).kind in "iu" and recorded.dtype.kind in "iu"
    if "vocab" in inspect.signature(dump_keras).parameters:
        assert dump.manifest.inputs.get("vocab") == list(et.VOCAB)


@pytest.mark.parametrize("name", NAMES)
def test_saved_model_loads_with_its_custom_layers(keras_mod: Any, runs: dict[str, Any],
                                                  name: str) -> None:
    result = runs[name][0]
    ex = examples.example(name)
    built = ex.build(keras_mod)  # also registers the custom layers
    built.load_weights(result["weights"][-1])
    loaded = keras_mod.saving.load_model(result["model"])
    x = np.load(result["inputs"])
    np.testing.assert_allclose(loaded.predict(x, verbose=0), built.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    custom = {"vit": {"Patches", "PatchEncoder"},
              "text": {"TokenAndPositionEmbedding", "TransformerBlock"}}.get(name, set())
    assert custom <= {type(layer).__name__ for layer in loaded.layers}
