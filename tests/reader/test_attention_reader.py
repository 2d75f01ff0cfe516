"""Attention scores in the dump: every MultiHeadAttention / Attention / AdditiveAttention
call records its scores (inputs, heads, queries, keys), equal to Keras' own
``return_attention_scores``, with the layers whose tokens are the queries and the keys;
inside subclassed blocks too; odd shapes and over-budget layers warn instead of failing."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_custom_layers import _classes

from nnrender.model.ir import Dump
from nnrender.model.keras_capture import dump_keras

pytestmark = pytest.mark.tf


def _scores(layer: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    _, scores = layer(*args, return_attention_scores=True, **kwargs)
    return np.asarray(scores)


def test_self_and_cross_attention_scores(keras_mod: Any, tmp_path: Path) -> None:
    """Self-attention (with a causal mask), cross-attention with 5 queries and 7 keys, and
    a call that asks for the scores itself: each layer's recorded scores equal Keras'."""
    keras = keras_mod
    from keras import layers as L

    keras.utils.set_random_seed(1)
    q_in = keras.Input((5, 6), name="q_in")
    kv_in = keras.Input((7, 6), name="kv_in")
    q = L.Dense(8, name="q_proj")(q_in)
    kv = L.Dense(8, name="kv_proj")(kv_in)
    self_att = L.MultiHeadAttention(num_heads=2, key_dim=4, name="self_att")
    s = self_att(q, q, use_causal_mask=True)
    cross = L.MultiHeadAttention(num_heads=3, key_dim=4, name="cross")
    c = cross(s, kv)
    asked = L.MultiHeadAttention(num_heads=2, key_dim=2, name="asked")
    a, a_scores = asked(c, kv, return_attention_scores=True)
    out = L.Dense(2, name="out")(L.GlobalAveragePooling1D(name="gap")(a))
    model = keras.Model([q_in, kv_in], [out, a_scores], name="att")
    rng = np.random.default_rng(0)
    xq = rng.normal(size=(3, 5, 6)).astype(np.float32)
    xk = rng.normal(size=(3, 7, 6)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing here is worth a warning
        dump = Dump(dump_keras(model, None, [xq, xk], tmp_path / "dump"))
    by = {layer.name: layer for layer in dump.layers}
    assert by["self_att"].attention == {"heads": 2, "queries": 5, "keys": 5,
                                        "query": "q_proj", "key": "q_proj"}
    assert by["cross"].attention == {"heads": 3, "queries": 5, "keys": 7,
                                     "query": "self_att", "key": "kv_proj"}
    assert by["asked"].attention == {"heads": 2, "queries": 5, "keys": 7,
                                     "query": "cross", "key": "kv_proj"}
    assert by["self_att"].config["num_heads"] == 2 and by["self_att"].config["key_dim"] == 4
    qa, ka = dump.activations(0, "q_proj"), dump.activations(0, "kv_proj")
    want = _scores(self_att, qa, qa, use_causal_mask=True)
    got = dump.attention(0, "self_att")
    assert got.shape == (3, 2, 5, 5)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.all(got[:, :, 0, 1:] == 0)  # causal: the first query sees only itself
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(dump.attention(0, "cross"),
                               _scores(cross, dump.activations(0, "self_att"), ka), atol=1e-5)
    np.testing.assert_allclose(dump.attention(0, "asked"),
                               _scores(asked, dump.activations(0, "cross"), ka), atol=1e-5)
    # the graph went on with the attention outputs as Keras computes them
    want_out, want_scores = model([xq, xk], training=False)
    np.testing.assert_allclose(dump.activations(0, "out"), np.asarray(want_out), atol=1e-5)
    np.testing.assert_allclose(dump.attention(0, "asked"), np.asarray(want_scores), atol=1e-5)
    assert dump.attention(0, "q_proj") is None
    dump.close()


def test_attention_inside_a_subclassed_block(keras_mod: Any, tmp_path: Path) -> None:
    keras = keras_mod
    from keras import layers as L

    keras.utils.set_random_seed(2)
    block_cls = _classes(keras)["TransformerBlock"]  # keras.io's block
    inp = keras.Input((6, 4), name="x")
    h = L.Dense(8, name="embed")(inp)
    block = block_cls(8, 2, 16, name="block")
    y = block(h)
    model = keras.Model(inp, L.Dense(1, name="out")(y))
    x = np.random.default_rng(3).normal(size=(2, 6, 4)).astype(np.float32)
    dump = Dump(dump_keras(model, None, x, tmp_path / "dump"))
    info = dump.layers[dump.manifest.layer_index("block/att")]
    assert info.type == "MultiHeadAttention"
    assert info.attention == {"heads": 2, "queries": 6, "keys": 6, "query": "embed",
                              "key": "embed"}
    emb = dump.activations(0, "embed")
    np.testing.assert_allclose(dump.attention(0, "block/att"), _scores(block.att, emb, emb),
                               atol=1e-5)
    np.testing.assert_allclose(dump.activations(0, "block"), np.asarray(block(emb)),
                               atol=1e-5)
    dump.close()


def test_single_head_attention_layers(keras_mod: Any, tmp_path: Path) -> None:
    """keras.layers.Attention and AdditiveAttention return (inputs, queries, keys): one head."""
    keras = keras_mod
    from keras import layers as L

    q_in = keras.Input((4, 3), name="q")
    v_in = keras.Input((6, 3), name="v")
    dot = L.Attention(name="dot")
    add = L.AdditiveAttention(name="additive")
    d = dot([q_in, v_in])
    a = add([d, v_in])
    model = keras.Model([q_in, v_in], a)
    rng = np.random.default_rng(4)
    xq, xv = (rng.normal(size=(2, n, 3)).astype(np.float32) for n in (4, 6))
    dump = Dump(dump_keras(model, None, [xq, xv], tmp_path / "dump"))
    by = {layer.name: layer for layer in dump.layers}
    assert by["dot"].attention == {"heads": 1, "queries": 4, "keys": 6, "query": "q",
                                   "key": "v"}
    assert by["additive"].attention["query"] == "dot"
    np.testing.assert_allclose(dump.attention(0, "dot")[:, 0], _scores(dot, [xq, xv]),
                               atol=1e-5)
    np.testing.assert_allclose(dump.attention(0, "additive")[:, 0],
                               _scores(add, [dump.activations(0, "dot"), xv]), atol=1e-5)
    dump.close()


def test_odd_shapes_and_the_budget_warn(keras_mod: Any, tmp_path: Path) -> None:
    """Attention over two axes gives scores (inputs, heads, 4, 4, 4, 4): a warning naming
    the layer and no scores; a budget below a layer's values: one warning, no scores."""
    keras = keras_mod
    from keras import layers as L

    inp = keras.Input((4, 4, 8), name="grid")
    g = L.MultiHeadAttention(num_heads=2, key_dim=4, attention_axes=(1, 2), name="grid_att")
    y = g(inp, inp)
    t = L.Reshape((16, 8), name="tokens")(y)
    t2 = L.MultiHeadAttention(num_heads=2, key_dim=4, name="tok_att")(t, t)
    model = keras.Model(inp, t2)
    x = np.random.default_rng(5).normal(size=(2, 4, 4, 8)).astype(np.float32)
    with pytest.warns(UserWarning) as record:
        dump = Dump(dump_keras(model, None, x, tmp_path / "dump"))
    messages = [str(w.message) for w in record]
    assert any("layer grid_att" in m and "not (inputs, heads, queries, keys)" in m
               for m in messages), messages
    by = {layer.name: layer for layer in dump.layers}
    assert by["grid_att"].attention is None and by["tok_att"].attention is not None
    assert dump.attention(0, "grid_att") is None
    np.testing.assert_allclose(dump.activations(0, "grid_att"), np.asarray(g(x, x)), atol=1e-5)
    with pytest.warns(UserWarning) as record:
        small = Dump(dump_keras(model, None, x, tmp_path / "small", max_attention=100))
    over = [str(w.message) for w in record if "budget" in str(w.message)]
    assert len(over) == 1 and "tok_att" in over[0] and "--max-attention" in over[0]
    assert "fewer inputs" in over[0]
    assert all(layer.attention is None for layer in small.layers)
    dump.close()
    small.close()


def test_scores_per_epoch_float16_and_recorder(keras_mod: Any, tmp_path: Path) -> None:
    """Each epoch's weights give that epoch's scores (float16 dump); the training Recorder
    writes them too."""
    keras = keras_mod
    from keras import layers as L

    from nnrender.keras import Recorder

    keras.utils.set_random_seed(6)
    inp = keras.Input((5, 4), name="x")
    att = L.MultiHeadAttention(num_heads=2, key_dim=3, name="att")
    y = att(inp, inp)
    model = keras.Model(inp, L.Dense(1, name="out")(L.Flatten(name="flat")(y)))
    x = np.random.default_rng(7).normal(size=(3, 5, 4)).astype(np.float32)
    base = model.get_weights()

    def load(scale: float) -> Any:
        return lambda m: m.set_weights([w * scale for w in base])

    series = [(0, "e0", load(1.0)), (1, "e1", load(2.0))]
    dump = Dump(dump_keras(model, series, x, tmp_path / "dump", dtype="float16"))
    first, second = dump.attention(0, "att"), dump.attention(1, "att")
    assert first.dtype == np.float16 and not np.allclose(first, second)
    np.testing.assert_allclose(second, _scores(att, x, x), atol=2e-3)  # weights of epoch 1
    dump.close()
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((3, 1)), epochs=1, verbose=0,
              callbacks=[Recorder(tmp_path / "rec", inputs=x)])
    rec = Dump(tmp_path / "rec")
    assert [ep.epoch for ep in rec.epochs] == [0, 1]
    assert rec.layers[rec.manifest.layer_index("att")].attention["heads"] == 2
    np.testing.assert_allclose(rec.attention(1, "att"), _scores(att, x, x), atol=1e-5)
    rec.close()
