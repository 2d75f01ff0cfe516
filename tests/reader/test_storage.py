"""Storage options: reduced maps (max_maps, max_side) recorded as stored_shape/channels in the
manifest and checked on load; float16; the weights-series form with loaders; a model object.
The first tests are pure (the dump format); the rest build tiny Keras models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnrender.errors import DumpError, ModelError
from nnrender.model.ir import MANIFEST, Dump, DumpWriter, LayerInfo

# --------------------------------------------------------------------------- pure


def _write(tmp_path: Path, stored: list[int] | None, channels: list[int] | None,
           array_shape: tuple[int, ...]) -> Path:
    writer = DumpWriter(tmp_path / "d")
    layers = [
        LayerInfo("in", "InputLayer", [4, 4, 1]),
        LayerInfo("conv", "Conv2D", [4, 4, 6], inbound=["in"], stored_shape=stored,
                  channels=channels),
    ]
    writer.add_epoch(0, [np.zeros((2, 4, 4, 1)), np.ones((2, *array_shape))])
    return writer.finish({"name": "m"}, layers, {"count": 2, "shape": [4, 4, 1]})


def test_stored_shape_round_trip_and_checked(tmp_path: Path) -> None:
    out = _write(tmp_path, [2, 2, 3], [0, 2, 5], (2, 2, 3))
    dump = Dump(out)
    conv = dump.layers[1]
    assert conv.stored_shape == [2, 2, 3] and conv.channels == [0, 2, 5]
    assert conv.array_shape == [2, 2, 3] and conv.output_shape == [4, 4, 6]
    assert conv.role == "maps"
    assert dump.activations(0, "conv").shape == (2, 2, 2, 3)
    assert dump.layers[0].stored_shape is None and dump.layers[0].array_shape == [4, 4, 1]
    dump.close()
    # arrays that do not match stored_shape: one line naming the file and layer
    data = json.loads((out / MANIFEST).read_text())
    data["layers"][1]["stored_shape"] = [1, 1, 3]
    (out / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(DumpError) as exc:
        Dump(out).activations(0, "conv")
    assert "layer conv" in str(exc.value) and "epoch_0000" in str(exc.value)


def test_old_manifest_without_storage_fields_loads(tmp_path: Path) -> None:
    out = _write(tmp_path, None, None, (4, 4, 6))
    data = json.loads((out / MANIFEST).read_text())
    for layer in data["layers"]:
        del layer["stored_shape"], layer["channels"]
    (out / MANIFEST).write_text(json.dumps(data))
    dump = Dump(out)
    assert dump.layers[1].stored_shape is None and dump.layers[1].channels is None
    assert dump.activations(0, 1).shape == (2, 4, 4, 6)


@pytest.mark.parametrize(
    ("stored", "channels"),
    [([4, 4], None), ([5, 4, 6], None), ([4, 4, 0], None), (None, [0, 1]),
     ([4, 4, 2], [1, 0]), ([4, 4, 2], [0, 6]), ([4, 4, 2], [1, 1])],
)
def test_bad_storage_fields_rejected(tmp_path: Path, stored: Any, channels: Any) -> None:
    with pytest.raises(DumpError) as exc:
        _write(tmp_path, stored, channels, (4, 4, 6))
    assert "layer conv" in str(exc.value)
    assert not (tmp_path / "d").exists()


# --------------------------------------------------------------------------- Keras


def _model(keras: Any) -> Any:
    from keras import layers as L

    inp = keras.Input((12, 10, 1), name="img")
    c = L.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    seq = L.Reshape((120, 8), name="seq")(c)
    pool = L.GlobalAveragePooling1D(name="gap")(seq)
    out = L.Dense(12, name="out")(pool)
    model = keras.Model(inp, out, name="small")
    rng = np.random.default_rng(0)
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                           for w in layer.get_weights()])
    return model


@pytest.mark.tf
def test_max_maps_and_max_side(keras_mod: Any, tmp_path: Path) -> None:
    model = _model(keras_mod)
    x = np.random.default_rng(1).random((3, 12, 10, 1), dtype=np.float32)
    full = Dump(dump_keras_(model, x, tmp_path / "full"))
    small = Dump(dump_keras_(model, x, tmp_path / "small", max_maps=3, max_side=5,
                             dtype="float16"))
    by = {layer.name: layer for layer in small.layers}
    # 12x10 -> factor ceil(12/5) = 3 -> 4x4; channels 0, 4 (rounded 3.5), 7 of 8
    assert by["conv"].output_shape == [12, 10, 8]
    assert by["conv"].stored_shape == [4, 4, 3] and by["conv"].channels == [0, 4, 7]
    assert by["img"].stored_shape == [4, 4, 1] and by["img"].channels is None
    assert by["seq"].stored_shape == [120, 3]  # (120, 8) tokens: max_side never averages T
    assert by["gap"].stored_shape is None and by["out"].stored_shape is None  # vectors
    conv = full.activations(0, "conv")
    got = small.activations(0, "conv")
    assert got.shape == (3, 4, 4, 3) and got.dtype == np.float16
    want = conv[..., [0, 4, 7]]
    np.testing.assert_allclose(got[:, 0, 0], want[:, :3, :3].mean(axis=(1, 2)), atol=2e-3)
    np.testing.assert_allclose(got[:, 3, 3], want[:, 9:, 9:].mean(axis=(1, 2)), atol=2e-3)
    np.testing.assert_allclose(small.activations(0, "out"), full.activations(0, "out"),
                               atol=2e-2)
    assert small.weights(0, "conv")[0].dtype == np.float16
    assert small.manifest.model["storage"] == {"dtype": "float16", "max_maps": 3,
                                               "max_side": 5, "maps_select": "even",
                                               "max_tokens": 4096}
    first = Dump(dump_keras_(model, x, tmp_path / "first", max_maps=2, maps_select="first",
                             store_weights=False, compress=True))
    conv_first = first.layers[1]
    assert conv_first.channels == [0, 1] and conv_first.stored_shape == [12, 10, 2]
    np.testing.assert_allclose(first.activations(0, "conv"), conv[..., :2], atol=1e-6)
    assert first.epochs[0].weights is None and first.weights(0, "conv") == []
    for bad in ({"max_maps": 0}, {"max_side": -1}, {"maps_select": "random"},
                {"dtype": "int8"}):
        with pytest.raises(ModelError):
            dump_keras_(model, x, tmp_path / "bad", **bad)
    assert not (tmp_path / "bad").exists()


@pytest.mark.tf
def test_weights_series_with_loaders(keras_mod: Any, tmp_path: Path) -> None:
    """(epoch, source, load) triples: load(model) sets the weights, in epoch order."""
    from nnrender.model.keras_capture import dump_keras

    model = _model(keras_mod)
    base = [w.copy() for w in model.get_layer("out").get_weights()]
    calls: list[int] = []

    def loader(scale: float, epoch: int) -> Any:
        def load(m: Any) -> None:
            calls.append(epoch)
            m.get_layer("out").set_weights([w * scale for w in base])
        return load

    series = [(2, "ckpt-2", loader(2.0, 2)), (0, "ckpt-0", loader(0.0, 0))]
    x = np.random.default_rng(2).random((2, 12, 10, 1), dtype=np.float32)
    dump = Dump(dump_keras(model, series, x, tmp_path / "d", dtype="float32"))
    assert calls == [0, 2]
    assert [ep.epoch for ep in dump.epochs] == [0, 2]
    assert [ep.source for ep in dump.epochs] == ["ckpt-0", "ckpt-2"]
    assert dump.manifest.model["source"] == "small"
    np.testing.assert_array_equal(dump.activations(0, "out"), 0.0)
    assert np.abs(dump.activations(1, "out")).max() > 0

    def broken(m: Any) -> None:
        raise ValueError("checkpoint\nhas no variable out/kernel")

    with pytest.raises(ModelError) as exc:
        dump_keras(model, [(5, "ckpt-5", broken)], x, tmp_path / "d2")
    text = str(exc.value)
    assert "\n" not in text and "ckpt-5" in text and "epoch 5" in text
    with pytest.raises(ModelError) as exc:
        dump_keras(42, None, x, tmp_path / "d3")
    assert "int" in str(exc.value)


def dump_keras_(model: Any, x: np.ndarray, out: Path, **kw: Any) -> Path:
    from nnrender.model.keras_capture import dump_keras

    return dump_keras(model, None, x, out, **kw)
