"""The Keras reader as a graph: every listed layer type with the right type, shape and
activations (checked against an intermediate keras.Model), branching, several inputs and
outputs, nested models, shared layers, and generic layers that warn instead of failing."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnrender.model.ir import Dump
from nnrender.model.keras_capture import dump_keras

pytestmark = pytest.mark.tf


def _randomize(model: Any, seed: int = 0) -> None:
    """Non-trivial weights everywhere (BatchNormalization's moving stats included)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            new = [rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in ws]
            if type(layer).__name__ == "BatchNormalization":  # gamma, beta, mean, variance
                new[3] = np.abs(new[3]) + 0.5
            layer.set_weights(new)


def _check_against_keras(keras: Any, model: Any, dump: Dump, xs: list[np.ndarray]) -> None:
    """Every top-level layer's stored activations equal Keras' own intermediate model."""
    feed = list(xs)
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            index = [t._keras_history.operation.name for t in model.inputs].index(layer.name)
            np.testing.assert_allclose(dump.activations(0, layer.name), xs[index], atol=1e-6)
            continue
        out = layer.output
        if isinstance(out, (list, tuple)):
            out = out[0]
        want = np.asarray(keras.Model(model.inputs, out)(feed, training=False))
        got = dump.activations(0, layer.name)
        assert got.shape == want.shape, layer.name
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=layer.name)


def _branching(keras: Any) -> Any:
    """Branches with BatchNormalization, Dropout, DepthwiseConv2D, Add and Concatenate, and
    most 2D layer types on the way."""
    from keras import layers as L

    inp = keras.Input((8, 8, 3), name="img")
    c = L.Conv2D(4, 3, padding="same", name="conv")(inp)
    bn = L.BatchNormalization(name="bn")(c)
    r = L.ReLU(name="relu")(bn)
    d = L.DepthwiseConv2D(3, padding="same", name="dw")(r)
    s = L.SeparableConv2D(4, 3, padding="same", name="sep")(r)
    add = L.Add(name="add")([d, s])
    cat = L.Concatenate(name="cat")([add, r])
    drop = L.Dropout(0.5, name="drop")(cat)
    mul = L.Multiply(name="mul")([drop, cat])
    t = L.Conv2DTranspose(2, 3, strides=2, padding="same", name="deconv")(mul)
    mp = L.MaxPooling2D(2, name="maxpool")(t)
    ap = L.AveragePooling2D(2, name="avgpool")(mp)
    up = L.UpSampling2D(2, name="up")(ap)
    zp = L.ZeroPadding2D(1, name="pad")(up)
    cr = L.Cropping2D(2, name="crop")(zp)
    act = L.Activation("tanh", name="tanh")(cr)
    gap = L.GlobalAveragePooling2D(name="gap")(act)
    gmp = L.GlobalMaxPooling2D(name="gmp")(mul)
    fl = L.Flatten(name="flat")(act)
    cat2 = L.Concatenate(name="cat2")([gap, gmp, fl])
    ln = L.LayerNormalization(name="ln")(cat2)
    dense = L.Dense(6, name="dense")(ln)
    sm = L.Softmax(name="softmax")(dense)
    rs = L.Reshape((2, 3), name="reshape")(sm)
    return keras.Model(inp, rs, name="branching")


def test_branching_model_types_shapes_activations(keras_mod: Any, tmp_path: Path) -> None:
    keras = keras_mod
    model = _branching(keras)
    _randomize(model)
    path = tmp_path / "branching.keras"
    model.save(path)
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every layer here is known: no warning at all
        out = dump_keras(path, None, x, tmp_path / "dump")
    dump = Dump(out)
    man = dump.manifest
    got = {layer.name: (layer.type, layer.output_shape) for layer in man.layers}
    assert got == {
        "img": ("InputLayer", [8, 8, 3]), "conv": ("Conv2D", [8, 8, 4]),
        "bn": ("BatchNormalization", [8, 8, 4]), "relu": ("ReLU", [8, 8, 4]),
        "dw": ("DepthwiseConv2D", [8, 8, 4]), "sep": ("SeparableConv2D", [8, 8, 4]),
        "add": ("Add", [8, 8, 4]), "cat": ("Concatenate", [8, 8, 8]),
        "drop": ("Dropout", [8, 8, 8]), "mul": ("Multiply", [8, 8, 8]),
        "deconv": ("Conv2DTranspose", [16, 16, 2]), "maxpool": ("MaxPooling2D", [8, 8, 2]),
        "avgpool": ("AveragePooling2D", [4, 4, 2]), "up": ("UpSampling2D", [8, 8, 2]),
        "pad": ("ZeroPadding2D", [10, 10, 2]), "crop": ("Cropping2D", [6, 6, 2]),
        "tanh": ("Activation", [6, 6, 2]), "gap": ("GlobalAveragePooling2D", [2]),
        "gmp": ("GlobalMaxPooling2D", [8]), "flat": ("Flatten", [72]),
        "cat2": ("Concatenate", [82]), "ln": ("LayerNormalization", [82]),
        "dense": ("Dense", [6]), "softmax": ("Softmax", [6]), "reshape": ("Reshape", [2, 3]),
    }
    inbound = {layer.name: layer.inbound for layer in man.layers}
    assert inbound["dw"] == ["relu"] and inbound["sep"] == ["relu"]
    assert inbound["add"] == ["dw", "sep"] and inbound["cat"] == ["add", "relu"]
    assert inbound["mul"] == ["drop", "cat"] and inbound["cat2"] == ["gap", "gmp", "flat"]
    assert man.model["warnings"] == []
    assert man.layers[man.layer_index("bn")].params == 16
    _check_against_keras(keras, model, dump, [x])
    # Dropout is identity at inference; BatchNormalization used its moving statistics
    np.testing.assert_array_equal(dump.activations(0, "drop"), dump.activations(0, "cat"))
    dump.close()


def test_sequence_layers(keras_mod: Any, tmp_path: Path) -> None:
    """Embedding, Conv1D, LSTM/GRU both ways, MultiHeadAttention (self-attention)."""
    keras = keras_mod
    from keras import layers as L

    tokens = keras.Input((5,), dtype="int32", name="tokens")
    emb = L.Embedding(20, 4, name="emb")(tokens)
    conv = L.Conv1D(4, 3, padding="same", name="conv1d")(emb)
    att = L.MultiHeadAttention(num_heads=2, key_dim=2, name="mha")(conv, conv)
    seq = L.LSTM(3, return_sequences=True, name="lstm_seq")(att)
    last = L.GRU(2, name="gru_last")(seq)
    gseq = L.GRU(3, return_sequences=True, name="gru_seq")(emb)
    llast = L.LSTM(2, name="lstm_last")(gseq)
    out = L.Concatenate(name="both")([last, llast])
    model = keras.Model(tokens, out, name="seq")
    _randomize(model, 2)
    x = np.random.default_rng(3).integers(0, 20, (4, 5)).astype(np.int32)
    dump = Dump(dump_keras(model, None, x, tmp_path / "dump"))
    got = {layer.name: (layer.type, layer.output_shape) for layer in dump.layers}
    assert got == {
        "tokens": ("InputLayer", [5]), "emb": ("Embedding", [5, 4]),
        "conv1d": ("Conv1D", [5, 4]), "mha": ("MultiHeadAttention", [5, 4]),
        "lstm_seq": ("LSTM", [5, 3]), "gru_last": ("GRU", [2]), "gru_seq": ("GRU", [5, 3]),
        "lstm_last": ("LSTM", [2]), "both": ("Concatenate", [4]),
    }
    assert dump.layers[dump.manifest.layer_index("mha")].inbound == ["conv1d"]
    assert dump.manifest.model["source"] == "seq"  # a model object: its name
    _check_against_keras(keras, model, dump, [x])
    dump.close()


def test_several_inputs_and_outputs(keras_mod: Any, tmp_path: Path) -> None:
    """Two inputs (one InputLayer entry and one activation array each, given as a list or a
    dict), two outputs, Conv3D, and a layer shared between the two inputs."""
    keras = keras_mod
    from keras import layers as L

    vol = keras.Input((4, 4, 4, 1), name="vol")
    vec = keras.Input((6,), name="vec")
    c3 = L.Conv3D(2, 2, name="conv3d")(vol)
    fv = L.Flatten(name="flat")(c3)
    proj = L.Dense(6, name="proj")(fv)
    shared = L.Dense(3, name="shared")
    a = shared(proj)
    b = shared(vec)
    s = L.Add(name="sum")([a, b])
    out1 = L.Dense(2, name="out1")(s)
    out2 = L.Dense(1, name="out2")(b)
    model = keras.Model([vol, vec], [out1, out2], name="two")
    _randomize(model, 4)
    rng = np.random.default_rng(5)
    xv = rng.normal(size=(3, 4, 4, 4, 1)).astype(np.float32)
    xs = rng.normal(size=(3, 6)).astype(np.float32)
    dump = Dump(dump_keras(model, None, [xv, xs], tmp_path / "dump"))
    man = dump.manifest
    assert [layer.name for layer in man.layers][:2] == ["vol", "vec"]
    assert {layer.name for layer in man.layers} == {
        "vol", "vec", "conv3d", "flat", "proj", "shared", "shared@2", "sum", "out1", "out2"}
    by = {layer.name: layer for layer in man.layers}
    assert by["conv3d"].type == "Conv3D" and by["conv3d"].output_shape == [3, 3, 3, 2]
    assert by["shared"].inbound == ["proj"] and by["shared@2"].inbound == ["vec"]
    assert by["sum"].inbound == ["shared", "shared@2"] and by["out2"].inbound == ["shared@2"]
    assert by["shared@2"].config["shared"] == "shared" and "shared" not in by["shared"].config
    assert len(dump.weights(0, "shared")) == 2 and dump.weights(0, "shared@2") == []
    assert man.inputs["names"] == ["vol", "vec"]
    assert man.inputs["shapes"] == [[4, 4, 4, 1], [6]]
    np.testing.assert_allclose(dump.activations(0, "vec"), xs)
    with np.load(out_inputs := Path(dump.path) / "arrays" / "inputs.npz") as npz:
        assert sorted(npz.files) == ["input_1", "inputs"], out_inputs
    w = model.get_layer("shared").get_weights()
    np.testing.assert_allclose(dump.activations(0, "shared@2"), xs @ w[0] + w[1], atol=1e-5)
    want1, want2 = model([xv, xs], training=False)
    np.testing.assert_allclose(dump.activations(0, "out1"), np.asarray(want1), atol=1e-5)
    np.testing.assert_allclose(dump.activations(0, "out2"), np.asarray(want2), atol=1e-5)
    ref = keras.Model(model.inputs, model.get_layer("conv3d").output)([xv, xs])
    np.testing.assert_allclose(dump.activations(0, "conv3d"), np.asarray(ref), atol=1e-5)
    dump.close()
    # the same inputs by name
    again = Dump(dump_keras(model, None, {"vec": xs, "vol": xv}, tmp_path / "dump2"))
    np.testing.assert_array_equal(again.activations(0, "out1"), Dump(dump.path).activations(
        0, "out1"))
    again.close()


def test_nested_models_flattened(keras_mod: Any, tmp_path: Path) -> None:
    """A Functional block called twice and a Sequential inside a model: their layers appear
    as "block/layer" (the second call "block@2/layer") with edges through the nesting."""
    keras = keras_mod
    from keras import layers as L

    bin_ = keras.Input((6, 6, 2), name="block_in")
    bc = L.Conv2D(2, 3, padding="same", name="conv")(bin_)
    br = L.ReLU(name="relu")(bc)
    block = keras.Model(bin_, br, name="block1")
    seq = keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(2, 1, name="pw")], name="seq")

    x = keras.Input((6, 6, 1), name="x")
    stem = L.Conv2D(2, 1, name="stem")(x)
    h1 = block(stem)
    h2 = block(h1)
    h3 = seq(h2)
    s = L.Add(name="sum")([h3, stem])
    head = L.Dense(3, name="head")(L.Flatten(name="flat")(s))
    model = keras.Model(x, head, name="outer")
    _randomize(model, 6)
    for sub in (block, seq):
        _randomize(sub, 7)
    path = tmp_path / "nested.keras"
    model.save(path)
    model = keras.saving.load_model(path, compile=False)  # what the reader sees
    xin = np.random.default_rng(8).normal(size=(2, 6, 6, 1)).astype(np.float32)
    dump = Dump(dump_keras(path, None, xin, tmp_path / "dump"))
    man = dump.manifest
    assert [layer.name for layer in man.layers] == [
        "x", "stem", "block1/conv", "block1/relu", "block1@2/conv", "block1@2/relu",
        "seq/pw", "sum", "flat", "head"]
    by = {layer.name: layer for layer in man.layers}
    assert by["block1/conv"].inbound == ["stem"]
    assert by["block1@2/conv"].inbound == ["block1/relu"]
    assert by["seq/pw"].inbound == ["block1@2/relu"]
    assert by["sum"].inbound == ["seq/pw", "stem"]
    assert by["block1@2/conv"].config["shared"] == "block1/conv"
    assert [type_ for type_ in (by["block1/conv"].type, by["seq/pw"].type)] == ["Conv2D"] * 2
    assert man.model["warnings"] == []

    blk = model.get_layer("block1")
    stem_out = np.asarray(keras.Model(model.inputs, model.get_layer("stem").output)([xin]))
    conv1 = np.asarray(keras.Model(blk.inputs, blk.get_layer("conv").output)([stem_out]))
    h1 = np.asarray(blk(stem_out))
    conv2 = np.asarray(keras.Model(blk.inputs, blk.get_layer("conv").output)([h1]))
    h2 = np.asarray(blk(h1))
    h3 = np.asarray(model.get_layer("seq")(h2))
    for name, want in (("stem", stem_out), ("block1/conv", conv1), ("block1/relu", h1),
                       ("block1@2/conv", conv2), ("block1@2/relu", h2), ("seq/pw", h3),
                       ("head", np.asarray(model(xin)))):
        np.testing.assert_allclose(dump.activations(0, name), want, atol=1e-5, err_msg=name)
    dump.close()


def test_generic_and_multi_output_layers_warn(keras_mod: Any, tmp_path: Path) -> None:
    """A custom layer with a drawable output is recorded by its shape (one summary line,
    no per-layer warning); an output of rank 5 is a placeholder with a warning naming the
    layer; a layer with several outputs is recorded by its first (a warning, except for an
    RNN's return_state); a plain op has no entry."""
    keras = keras_mod
    from keras import layers as L

    class Doubler(L.Layer):
        def call(self, x: Any) -> Any:
            return x * 2.0

    class Pair(L.Layer):
        def call(self, x: Any) -> Any:
            return x + 1.0, x - 1.0

    class Deep(L.Layer):
        def call(self, x: Any) -> Any:
            return keras.ops.reshape(x, (-1, 2, 2, 1, 1, 3))

    inp = keras.Input((4, 3), name="seq_in")
    dbl = Doubler(name="double")(inp)
    plus, _ = Pair(name="pair")(dbl)
    deep = Deep(name="deep")(plus)
    seq, h, c = L.LSTM(2, return_sequences=True, return_state=True, name="lstm")(plus)
    both = L.Concatenate(name="cat")([h, c])
    out = L.Dense(1, name="out")(keras.ops.relu(both))
    model = keras.Model(inp, [out, seq, deep], name="odd")
    x = np.random.default_rng(9).normal(size=(2, 4, 3)).astype(np.float32)
    with pytest.warns(UserWarning) as record:
        dump = Dump(dump_keras(model, None, x, tmp_path / "dump"))
    messages = [str(w.message) for w in record]
    assert not any("layer double" in m for m in messages)
    assert any(m.startswith("layers of types nnrender draws by their shape only: ")
               and "Doubler x1" in m and "Pair x1" in m for m in messages)
    assert any("layer deep" in m and "Deep" in m and "placeholder" in m for m in messages)
    assert any("layer pair" in m and "2 outputs" in m for m in messages)
    assert not any("layer lstm" in m for m in messages)
    assert dump.manifest.model["warnings"] == messages
    by = {layer.name: layer for layer in dump.layers}
    assert set(by) == {"seq_in", "double", "pair", "deep", "lstm", "cat", "out"}
    assert by["double"].type == "Doubler" and "generic" not in by["double"].config
    assert by["deep"].config["generic"] is True and by["deep"].output_shape == [2, 2, 1, 1, 3]
    assert by["double"].output_shape == [4, 3]
    assert by["lstm"].output_shape == [4, 2] and by["lstm"].inbound == ["pair"]
    assert by["lstm"].config["return_state"] is True
    assert by["cat"].inbound == ["lstm"] and by["out"].inbound == ["cat"]
    np.testing.assert_allclose(dump.activations(0, "double"), 2 * x, atol=1e-6)
    np.testing.assert_allclose(dump.activations(0, "pair"), 2 * x + 1, atol=1e-6)
    want_seq = keras.Model(model.inputs, model.get_layer("lstm").output[0])([x])
    np.testing.assert_allclose(dump.activations(0, "lstm"), np.asarray(want_seq), atol=1e-5)
    dump.close()
