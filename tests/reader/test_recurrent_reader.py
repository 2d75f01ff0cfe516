"""Recurrent and sequence layers come out with the shapes the renderer draws: (T, D) tokens
with return_sequences, (D,) without, (T, H, W, C) volumes for ConvLSTM/TimeDistributed/
Conv3D sequences; the storage options treat the time axis as time, not as space."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnrender.model.ir import Dump
from nnrender.model.keras_capture import dump_keras

pytestmark = pytest.mark.tf


def _recurrent(keras: Any) -> Any:
    from keras import layers as L

    seq = keras.Input((5, 3), name="seq")
    a = L.LSTM(4, return_sequences=True, name="lstm_seq")(seq)
    b = L.LSTM(4, name="lstm_last")(a)
    c = L.GRU(3, return_sequences=True, name="gru_seq")(seq)
    d = L.GRU(3, name="gru_last")(c)
    e = L.Bidirectional(L.LSTM(2, return_sequences=True), name="bi_seq")(seq)
    f = L.Bidirectional(L.LSTM(2), name="bi_last")(e)
    g = L.SimpleRNN(2, return_sequences=True, name="rnn_seq")(seq)
    vid = keras.Input((4, 6, 6, 2), name="video")
    h = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, name="clstm_seq")(vid)
    i = L.ConvLSTM2D(3, 3, padding="same", name="clstm_last")(h)
    td = L.TimeDistributed(L.Conv2D(2, 3, padding="same"), name="td")(vid)
    c3 = L.Conv3D(2, 3, padding="same", name="conv3d")(td)
    mp = L.MaxPooling3D((1, 2, 2), name="pool3d")(c3)
    c1 = L.ConvLSTM1D(2, 3, padding="same", return_sequences=True, name="clstm1d")(
        L.Reshape((4, 36, 2), name="rows")(vid))
    flat = [L.Flatten(name=f"flat_{n}")(t) for n, t in (("i", i), ("mp", mp), ("c1", c1),
                                                         ("g", g))]
    out = L.Concatenate(name="cat")([b, d, f, *flat])
    return keras.Model([seq, vid], out, name="recurrent")


def test_recurrent_shapes_roles_and_values(keras_mod: Any, tmp_path: Path) -> None:
    keras = keras_mod
    keras.utils.set_random_seed(0)
    model = _recurrent(keras)
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(2, 5, 3)).astype(np.float32),
          rng.normal(size=(2, 4, 6, 6, 2)).astype(np.float32)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all known types: no warning
        dump = Dump(dump_keras(model, None, xs, tmp_path / "dump"))
    by = {layer.name: layer for layer in dump.layers}
    expect = {
        "lstm_seq": ([5, 4], "tokens"), "lstm_last": ([4], "vector"),
        "gru_seq": ([5, 3], "tokens"), "gru_last": ([3], "vector"),
        "bi_seq": ([5, 4], "tokens"), "bi_last": ([4], "vector"),
        "rnn_seq": ([5, 2], "tokens"), "video": ([4, 6, 6, 2], "volume"),
        "clstm_seq": ([4, 6, 6, 3], "volume"), "clstm_last": ([6, 6, 3], "maps"),
        "td": ([4, 6, 6, 2], "volume"), "conv3d": ([4, 6, 6, 2], "volume"),
        "pool3d": ([4, 3, 3, 2], "volume"), "clstm1d": ([4, 36, 2], "maps"),
    }
    for name, (shape, role) in expect.items():
        assert (by[name].output_shape, by[name].role) == (shape, role), name
    assert by["lstm_seq"].config["return_sequences"] is True
    assert by["lstm_last"].config["return_sequences"] is False
    assert by["lstm_last"].config["units"] == 4
    assert by["bi_seq"].config["layer"] == "LSTM" and by["bi_seq"].config["units"] == 2
    assert by["bi_seq"].config["return_sequences"] is True
    assert by["bi_seq"].config["merge_mode"] == "concat"
    assert by["td"].config["layer"] == "Conv2D" and by["td"].config["filters"] == 2
    assert by["clstm_seq"].config["return_sequences"] is True
    assert by["clstm_seq"].inbound == ["video"] and by["clstm_last"].inbound == ["clstm_seq"]
    for name in ("lstm_seq", "lstm_last", "bi_seq", "bi_last", "gru_last", "clstm_seq",
                 "clstm_last", "td", "pool3d", "clstm1d"):
        ref = keras.Model(model.inputs, model.get_layer(name).output)
        np.testing.assert_allclose(dump.activations(0, name), np.asarray(ref(xs)),
                                   atol=1e-5, err_msg=name)
    dump.close()


def test_volume_storage_and_rank5_placeholder(keras_mod: Any, tmp_path: Path) -> None:
    """max_side averages H and W of a (T, H, W, C) volume but never T; max_tokens cuts T;
    a rank-5 output (ConvLSTM3D sequences) is a placeholder with a warning naming it."""
    keras = keras_mod
    from keras import layers as L

    vid = keras.Input((6, 8, 8, 1), name="video")
    c = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, name="clstm")(vid)
    deep = L.ConvLSTM3D(1, 2, padding="same", return_sequences=True, name="clstm3d")(
        L.Reshape((6, 2, 4, 8, 1), name="split")(vid))
    model = keras.Model(vid, [c, deep])
    x = np.random.default_rng(1).normal(size=(1, 6, 8, 8, 1)).astype(np.float32)
    with pytest.warns(UserWarning) as record:
        dump = Dump(dump_keras(model, None, x, tmp_path / "d", max_side=4, max_tokens=3))
    messages = [str(w.message) for w in record]
    assert any("layer clstm3d" in m and "placeholder" in m for m in messages), messages
    assert any("max-tokens" in m and "clstm (6)" in m for m in messages), messages
    by = {layer.name: layer for layer in dump.layers}
    assert by["clstm3d"].config["generic"] is True
    assert by["clstm"].output_shape == [6, 8, 8, 2]
    assert by["clstm"].stored_shape == [3, 4, 4, 2] and by["clstm"].positions == [0, 2, 5]
    full = np.asarray(keras.Model(vid, model.get_layer("clstm").output)(x))
    got = dump.activations(0, "clstm")
    np.testing.assert_allclose(got[:, 1], full[:, 2].reshape(1, 4, 2, 4, 2, 2).mean(
        axis=(2, 4)), atol=1e-5)
    dump.close()
