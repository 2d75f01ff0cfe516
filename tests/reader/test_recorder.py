"""The training Recorder: the dump grows during ``fit``, holds what the model computes at
each epoch, keeps the history, and continues when training resumes into the same folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnrender.errors import DumpError
from nnrender.model.ir import Dump

pytestmark = pytest.mark.tf


def _model(keras: Any, units: int = 3) -> Any:
    from keras import layers

    return keras.Sequential([keras.Input((6, 6, 1), name="img"),
                             layers.Conv2D(2, 3, activation="relu", name="conv"),
                             layers.Flatten(name="flat"),
                             layers.Dense(units, activation="softmax", name="out")], name="rec")


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.random((48, 6, 6, 1), dtype=np.float32), rng.integers(0, 3, 48)


def test_records_each_epoch_with_history(keras_mod: Any, tmp_path: Path) -> None:
    keras = keras_mod
    from nnrender.keras import Recorder

    keras.utils.set_random_seed(0)
    x, y = _data()
    model = _model(keras)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    before = keras.Model(model.inputs, model.get_layer("conv").output)([x[:4]]).numpy()
    out = tmp_path / "dump"
    model.fit(x, y, epochs=3, batch_size=16, verbose=0,
              callbacks=[Recorder(out, inputs=x[:4], labels=y[:4])])
    d = Dump(out)
    assert [ep.epoch for ep in d.epochs] == [0, 1, 2, 3]
    assert d.epochs[0].metrics == {}
    assert {"loss", "accuracy"} <= set(d.epochs[3].metrics)
    np.testing.assert_allclose(d.activations(0, "conv"), before, atol=1e-5)
    after = keras.Model(model.inputs, model.get_layer("out").output)([x[:4]]).numpy()
    np.testing.assert_allclose(d.activations(3, "out"), after, atol=1e-5)
    assert not np.allclose(d.activations(0, "out"), d.activations(3, "out"))
    assert d.manifest.inputs["labels"] == y[:4].tolist()
    np.testing.assert_allclose(d.weights(3, "out")[0], model.get_layer("out").get_weights()[0])

    # resumed into the same folder: appended, nothing recorded twice
    model.fit(x, y, initial_epoch=3, epochs=5, batch_size=16, verbose=0,
              callbacks=[Recorder(out, inputs=x[:4], labels=y[:4], every=2)])
    d = Dump(out)
    assert [ep.epoch for ep in d.epochs] == [0, 1, 2, 3, 4, 5]  # 4 by `every`, 5 as the last


def test_every_and_refusing_another_architecture(keras_mod: Any, tmp_path: Path) -> None:
    keras = keras_mod
    from nnrender.keras import Recorder

    x, y = _data()
    model = _model(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    out = tmp_path / "dump"
    model.fit(x, y, epochs=5, batch_size=16, verbose=0,
              callbacks=[Recorder(out, inputs=x[:2], every=2, dtype="float16")])
    d = Dump(out)
    assert [ep.epoch for ep in d.epochs] == [0, 2, 4, 5]
    assert d.activations(2, "conv").dtype == np.float16
    other = _model(keras, units=4)
    other.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(DumpError, match="different architecture"):
        other.fit(x, y, epochs=1, verbose=0, callbacks=[Recorder(out, inputs=x[:2])])
    assert [ep.epoch for ep in Dump(out).epochs] == [0, 2, 4, 5]
    with pytest.raises(ValueError):
        Recorder(out, inputs=x[:2], every=0)
