"""The Keras reader: a dump must hold exactly what Keras computes, and every user mistake must
end as one line naming the file (and the layer/epoch), with an earlier dump left intact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnrender.errors import ModelError
from nnrender.model.epochs import epoch_number, find_weight_series
from nnrender.model.ir import Dump
from nnrender.model.keras_capture import dump_keras

pytestmark = pytest.mark.tf


def _one_line(exc: pytest.ExceptionInfo[ModelError]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith("nnrender: error: ")
    return text


def _tiny(keras: Any, filters: int = 4) -> Any:
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((6, 6, 1), name="img"),
            layers.Conv2D(filters, 3, activation="relu", name="conv"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Flatten(name="flat"),
            layers.Dense(3, activation="softmax", name="out"),
        ],
        name="tiny",
    )


@pytest.fixture(scope="module")
def tiny_run(keras_mod: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny CNN trained 2 epochs with EpochWeightsSaver: model.keras + epoch_0..2 weights."""
    keras = keras_mod
    from nnrender.model.demo_train import EpochWeightsSaver

    work = tmp_path_factory.mktemp("tiny")
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x_train = rng.random((64, 6, 6, 1), dtype=np.float32)
    y_train = rng.integers(0, 3, 64)
    model = _tiny(keras)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=2, batch_size=16, verbose=0,
              callbacks=[EpochWeightsSaver(work / "weights")])
    model.save(work / "model.keras")
    inputs = rng.random((5, 6, 6), dtype=np.float32)  # no channel axis: the reader adds it
    return {"work": work, "model": work / "model.keras", "weights": work / "weights",
            "inputs": inputs}


def test_dump_matches_keras(keras_mod: Any, tiny_run: dict[str, Any], tmp_path: Path) -> None:
    keras = keras_mod
    series = find_weight_series(tiny_run["weights"])
    assert [n for n, _ in series] == [0, 1, 2]
    metrics = {0: {"loss": 1.5}, 1: {"loss": 1.0}, 2: {"loss": 0.5}}
    out = dump_keras(tiny_run["model"], series, tiny_run["inputs"], tmp_path / "dump",
                     labels=np.array([0, 1, 2, 0, 1]), input_source="rand.npy",
                     metrics_by_epoch=metrics)
    dump = Dump(out)
    man = dump.manifest
    assert [layer.name for layer in man.layers] == ["img", "conv", "pool", "flat", "out"]
    assert [layer.type for layer in man.layers] == [
        "InputLayer", "Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert [layer.output_shape for layer in man.layers] == [
        [6, 6, 1], [4, 4, 4], [2, 2, 4], [16], [3]]
    assert [layer.params for layer in man.layers] == [0, 40, 0, 0, 51]
    assert [layer.inbound for layer in man.layers] == [[], ["img"], ["conv"], ["pool"], ["flat"]]
    assert man.layers[1].config["filters"] == 4
    assert man.layers[1].config["kernel_size"] == [3, 3]
    assert man.layers[1].config["activation"] == "relu"
    assert man.layers[4].config["units"] == 3
    assert [ep.epoch for ep in man.epochs] == [0, 1, 2]
    assert [ep.metrics for ep in man.epochs] == [metrics[0], metrics[1], metrics[2]]
    assert man.inputs["count"] == 5 and man.inputs["shape"] == [6, 6, 1]
    assert man.inputs["labels"] == [0, 1, 2, 0, 1] and man.inputs["source"] == "rand.npy"
    assert man.model["framework"].startswith("keras 3")
    assert man.model["source"] == str(tiny_run["model"])
    with np.load(out / "arrays" / "inputs.npz") as npz:
        assert npz["inputs"].shape == (5, 6, 6, 1)

    x = tiny_run["inputs"][..., None]
    for e, (_, wfile) in enumerate(series):
        assert man.epochs[e].source == str(wfile)
        ref = keras.saving.load_model(tiny_run["model"], compile=False)
        ref.load_weights(wfile)
        np.testing.assert_allclose(dump.activations(e, "img"), x, atol=1e-6)
        assert dump.weights(e, "img") == []
        for layer in ref.layers:
            want = keras.Model(ref.inputs[0], layer.output)(x, training=False)
            got = dump.activations(e, layer.name)
            np.testing.assert_allclose(got, np.asarray(want), atol=1e-5, rtol=0)
            for got_w, want_w in zip(dump.weights(e, layer.name), layer.get_weights(),
                                     strict=True):
                np.testing.assert_array_equal(got_w, want_w)
    assert not np.allclose(dump.activations(0, "out"), dump.activations(2, "out"), atol=1e-4)
    assert not np.allclose(dump.weights(0, "conv")[0], dump.weights(2, "conv")[0])
    dump.close()


def test_functional_inbound_and_own_weights(keras_mod: Any, tmp_path: Path) -> None:
    """A branching model, with a plain op between layers: inbound names look through the op;
    without weight files the model's own weights are epoch 0."""
    keras = keras_mod
    from keras import layers

    inp = keras.Input((6, 6, 1), name="x")
    a = layers.Conv2D(2, 3, padding="same", name="a")(inp)
    b = layers.Conv2D(2, 1, name="b")(inp)
    s = layers.Add(name="sum")([a, b])
    s = keras.ops.relu(s)  # an op, not a layer: absent from the manifest
    out = layers.Dense(2, name="head")(layers.Flatten(name="flat")(s))
    path = tmp_path / "branch.keras"
    keras.Model(inp, out, name="branch").save(path)

    dump = Dump(dump_keras(path, None, np.zeros((2, 6, 6, 1)), tmp_path / "dump"))
    layers_ = dump.manifest.layers
    assert [layer.name for layer in layers_] == ["x", "a", "b", "sum", "flat", "head"]
    assert {layer.name: layer.inbound for layer in layers_} == {
        "x": [], "a": ["x"], "b": ["x"], "sum": ["a", "b"], "flat": ["sum"], "head": ["flat"]}
    assert [ep.epoch for ep in dump.epochs] == [0]
    assert dump.epochs[0].source == str(path)
    dump.close()


def test_bad_input_shape(tiny_run: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ModelError) as exc:
        dump_keras(tiny_run["model"], None, np.zeros((2, 5, 5)), tmp_path / "d",
                   input_source="digits.npy")
    text = _one_line(exc)
    assert "digits.npy" in text and "img" in text and "(N, 6, 6, 1)" in text
    assert not (tmp_path / "d").exists()


def test_find_weight_series_orders_numerically(tmp_path: Path) -> None:
    for n in (10, 2, 1):
        (tmp_path / f"epoch_{n}.weights.h5").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not weights")
    series = find_weight_series(tmp_path)
    assert [(n, p.name) for n, p in series] == [
        (1, "epoch_1.weights.h5"), (2, "epoch_2.weights.h5"), (10, "epoch_10.weights.h5")]
    assert [n for n, _ in find_weight_series(str(tmp_path / "epoch_*.weights.h5"))] == [1, 2, 10]
    assert epoch_number("run3_epoch_08.weights.h5") == 8
    assert epoch_number("final.weights.h5") is None


def test_find_weight_series_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as exc:
        find_weight_series(str(tmp_path / "*.weights.h5"))
    assert str(tmp_path) in _one_line(exc)
    with pytest.raises(ModelError) as exc:
        find_weight_series(tmp_path)  # an empty folder
    assert str(tmp_path) in _one_line(exc)
    (tmp_path / "a_epoch_3.weights.h5").write_bytes(b"")
    (tmp_path / "b_epoch_03.weights.h5").write_bytes(b"")
    with pytest.raises(ModelError) as exc:
        find_weight_series(tmp_path)
    text = _one_line(exc)
    assert "epoch 3" in text and "epoch_3" in text and "epoch_03" in text


def test_corrupt_and_missing_model(keras_mod: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.keras"
    bad.write_bytes(np.random.default_rng(0).bytes(512))
    missing = tmp_path / "missing.keras"
    for path in (bad, missing):
        with pytest.raises(ModelError) as exc:
            dump_keras(path, None, np.zeros((1, 6, 6, 1)), tmp_path / "dump")
        assert str(path) in _one_line(exc)
    # A zip that is not a Keras model: Keras itself fails; still one line naming the file.
    import zipfile

    fake = tmp_path / "fake.keras"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ModelError) as exc:
        dump_keras(fake, None, np.zeros((1, 6, 6, 1)), tmp_path / "dump")
    assert str(fake) in _one_line(exc)
    assert not (tmp_path / "dump").exists()


def test_weights_from_other_model(keras_mod: Any, tiny_run: dict[str, Any],
                                  tmp_path: Path) -> None:
    other = tmp_path / "other_epoch_1.weights.h5"
    _tiny(keras_mod, filters=5).save_weights(other)
    with pytest.raises(ModelError) as exc:
        dump_keras(tiny_run["model"], [other], tiny_run["inputs"], tmp_path / "dump")
    text = _one_line(exc)
    assert str(other) in text and "conv" in text and "epoch 1" in text
    missing = tmp_path / "nope_epoch_2.weights.h5"
    with pytest.raises(ModelError) as exc:
        dump_keras(tiny_run["model"], [missing], tiny_run["inputs"], tmp_path / "dump")
    assert str(missing) in _one_line(exc)


def _nan_weights(keras: Any, tiny_run: dict[str, Any], folder: Path, layer: str = "out") -> Path:
    model = keras.saving.load_model(tiny_run["model"], compile=False)
    target = model.get_layer(layer)
    target.set_weights([np.full_like(w, np.nan) for w in target.get_weights()])
    path = folder / f"nan_{layer}_epoch_3.weights.h5"
    model.save_weights(path)
    return path


def test_nan_activations_rejected(keras_mod: Any, tiny_run: dict[str, Any],
                                  tmp_path: Path) -> None:
    nan = _nan_weights(keras_mod, tiny_run, tmp_path)
    with pytest.raises(ModelError) as exc:
        dump_keras(tiny_run["model"], [nan], tiny_run["inputs"], tmp_path / "dump")
    text = _one_line(exc)
    assert str(nan) in text and "layer out: NaN or Inf activations" in text and "epoch 3" in text
    # NaN conv weights: TensorFlow's relu turns NaN into 0, so only the weights check sees them.
    nan = _nan_weights(keras_mod, tiny_run, tmp_path, layer="conv")
    with pytest.raises(ModelError) as exc:
        dump_keras(tiny_run["model"], [nan], tiny_run["inputs"], tmp_path / "dump")
    text = _one_line(exc)
    assert str(nan) in text and "layer conv" in text and "epoch 3" in text


def test_failed_dump_keeps_previous(keras_mod: Any, tiny_run: dict[str, Any],
                                    tmp_path: Path) -> None:
    out = tmp_path / "dump"
    dump_keras(tiny_run["model"], None, tiny_run["inputs"], out)
    before = (out / "manifest.json").read_text()
    files_before = sorted(p.name for p in (out / "arrays").iterdir())
    good = sorted(tiny_run["weights"].glob("*.weights.h5"))[0]
    nan = _nan_weights(keras_mod, tiny_run, tmp_path)
    with pytest.raises(ModelError):
        dump_keras(tiny_run["model"], [good, nan], tiny_run["inputs"], out)
    assert (out / "manifest.json").read_text() == before
    assert sorted(p.name for p in (out / "arrays").iterdir()) == files_before
    assert json.loads(before)["epochs"][0]["epoch"] == 0
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".dump")]
    assert leftovers == []
