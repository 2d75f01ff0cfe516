"""Custom (subclassed) layers: recorded by their output shape under their class name, with
one summary warning for such types; their nested Keras layer calls recorded as a sub-graph
(``<block>/<sublayer>``) with the edges the tensors took; blocks whose insides cannot be
reached stay one layer with a warning naming them."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnrender.model.ir import Dump
from nnrender.model.keras_capture import dump_keras

pytestmark = pytest.mark.tf


def _classes(keras: Any) -> dict[str, type]:
    from keras import layers as L
    from keras import ops

    class TransformerBlock(L.Layer):
        """keras.io's text-classification block."""

        def __init__(self, dim: int, heads: int, ff: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.att = L.MultiHeadAttention(num_heads=heads, key_dim=dim, name="att")
            self.ffn = keras.Sequential([L.Dense(ff, activation="relu", name="ff1"),
                                         L.Dense(dim, name="ff2")], name="ffn")
            self.ln1 = L.LayerNormalization(epsilon=1e-6, name="ln1")
            self.ln2 = L.LayerNormalization(epsilon=1e-6, name="ln2")
            self.drop1 = L.Dropout(0.1, name="drop1")

        def call(self, inputs: Any, training: bool = False) -> Any:
            attn = self.drop1(self.att(inputs, inputs), training=training)
            out1 = self.ln1(inputs + attn)
            return self.ln2(out1 + self.ffn(out1))

    class TokenAndPosition(L.Layer):
        def __init__(self, maxlen: int, vocab: int, dim: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.tok = L.Embedding(vocab, dim, name="tok")
            self.pos = L.Embedding(maxlen, dim, name="pos")

        def call(self, x: Any) -> Any:
            positions = self.pos(ops.arange(0, ops.shape(x)[-1], 1))
            return self.tok(x) + positions

    class Residual(L.Layer):
        """Output from a plain op: x + mlp(norm(x)); one sublayer called twice."""

        def __init__(self, dim: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.norm = L.LayerNormalization(name="norm")
            self.mlp = L.Dense(dim, name="mlp")

        def call(self, x: Any) -> Any:
            return x + self.mlp(self.norm(self.mlp(x)))

    class Encoder(L.Layer):
        """Custom layers inside a custom layer."""

        def __init__(self, dim: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.first = TransformerBlock(dim, 2, 8, name="first")
            self.second = Residual(dim, name="second")

        def call(self, x: Any) -> Any:
            return self.second(self.first(x))

    return {c.__name__: c for c in (TransformerBlock, TokenAndPosition, Residual, Encoder)}


def _leaves(keras: Any) -> dict[str, type]:
    from keras import layers as L
    from keras import ops

    class LayerScale(L.Layer):
        def build(self, shape: Any) -> None:
            self.gamma = self.add_weight(shape=(shape[-1],), initializer="ones", name="gamma")

        def call(self, x: Any) -> Any:
            return x * self.gamma

    class Opaque(L.Layer):
        """Uses its sublayer's kernel directly: no nested call to observe."""

        def __init__(self, dim: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.proj = L.Dense(dim, use_bias=False, name="proj")

        def build(self, shape: Any) -> None:
            self.proj.build(shape)

        def call(self, x: Any) -> Any:
            return ops.matmul(x, self.proj.kernel)

    class EagerOnly(L.Layer):
        """Works eagerly, cannot be traced (its output spec is declared)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.inner = L.Dense(4, name="inner")

        def build(self, shape: Any) -> None:
            self.inner.build(shape)

        def call(self, x: Any) -> Any:
            return self.inner(x) * float(np.asarray(x).std() > -1)

        def compute_output_spec(self, x: Any) -> Any:
            return keras.KerasTensor((*x.shape[:-1], 4), x.dtype)

    return {c.__name__: c for c in (LayerScale, Opaque, EagerOnly)}


def test_transformer_block_sub_graph(keras_mod: Any, tmp_path: Path) -> None:
    keras = keras_mod
    from keras import layers as L

    keras.utils.set_random_seed(0)
    c = _classes(keras)
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    emb = c["TokenAndPosition"](6, 20, 8, name="embed")(tokens)
    block = c["TransformerBlock"](8, 2, 16, name="block")
    h = block(emb)
    h2 = block(h)  # the block shared: its second call is block@2
    out = L.Dense(2, name="out")(L.GlobalAveragePooling1D(name="gap")(h2))
    model = keras.Model(tokens, out)
    x = np.random.default_rng(0).integers(0, 20, (3, 6)).astype(np.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # expanded blocks are drawn by their insides
        dump = Dump(dump_keras(model, None, x, tmp_path / "dump"))
    by = {layer.name: layer for layer in dump.layers}
    names = [layer.name for layer in dump.layers]
    assert names == [
        "tokens", "embed/tok", "embed",
        "block/att", "block/drop1", "block/ln1", "block/ffn/ff1", "block/ffn/ff2",
        "block/ln2", "block",
        "block@2/att", "block@2/drop1", "block@2/ln1", "block@2/ffn/ff1", "block@2/ffn/ff2",
        "block@2/ln2", "block@2", "gap", "out"]
    inbound = {name: by[name].inbound for name in names}
    assert inbound["embed/tok"] == ["tokens"] and inbound["embed"] == ["embed/tok"]
    assert inbound["block/att"] == ["embed"]
    assert inbound["block/drop1"] == ["block/att"]
    assert inbound["block/ln1"] == ["embed", "block/drop1"]  # ln1(inputs + attn)
    assert inbound["block/ffn/ff1"] == ["block/ln1"]
    assert inbound["block/ln2"] == ["block/ln1", "block/ffn/ff2"]
    assert inbound["block"] == ["block/ln2"]
    assert inbound["block@2/att"] == ["block"] and inbound["gap"] == ["block@2"]
    assert by["block"].type == "TransformerBlock"
    assert by["block"].config["nested"] == 6 and by["block"].config["same_as"] == "block/ln2"
    assert by["block@2/att"].config["shared"] == "block/att"
    assert by["block/att"].attention["query"] == "embed"
    assert by["block@2/att"].attention["query"] == "block"
    # weights stored once: with the nested layers' first calls, none twice
    assert dump.weights(0, "block") == [] and dump.weights(0, "block@2/att") == []
    assert len(dump.weights(0, "block/att")) == 8
    assert [w.shape for w in dump.weights(0, "embed")] == [(6, 8)]  # pos: not recorded
    assert by["block@2"].config["shared"] == "block"
    assert sum(layer.params for layer in dump.layers
               if "shared" not in layer.config) == model.count_params()
    # every nested entry holds what that call computed
    e = dump.activations(0, "embed")
    att = np.asarray(block.att(e, e))
    ln1 = np.asarray(block.ln1(e + att))
    ff1 = np.asarray(block.ffn.layers[0](ln1))
    for name, want in (("embed", np.asarray(model.get_layer("embed")(x))),
                       ("block/att", att), ("block/ln1", ln1), ("block/ffn/ff1", ff1),
                       ("block", np.asarray(block(e))),
                       ("block@2", np.asarray(block(block(e)))),
                       ("out", np.asarray(model(x)))):
        np.testing.assert_allclose(dump.activations(0, name), want, atol=1e-5, err_msg=name)
    dump.close()


def test_nested_custom_layers_and_plain_op_outputs(keras_mod: Any, tmp_path: Path) -> None:
    """A custom layer of custom layers: each expanded, its own entry after its insides; a
    block whose output is ``x + ...`` links to both; a sublayer called twice is name@2."""
    keras = keras_mod
    from keras import layers as L

    keras.utils.set_random_seed(1)
    c = _classes(keras)
    inp = keras.Input((5, 8), name="x")
    enc = c["Encoder"](8, name="enc")
    y = enc(inp)
    model = keras.Model(inp, L.Dense(1, name="out")(y))
    x = np.random.default_rng(1).normal(size=(2, 5, 8)).astype(np.float32)
    dump = Dump(dump_keras(model, None, x, tmp_path / "dump"))
    by = {layer.name: layer for layer in dump.layers}
    assert [n for n in by if n.startswith("enc/second")] == [
        "enc/second/mlp", "enc/second/norm", "enc/second/mlp@2", "enc/second"]
    assert by["enc/first/att"].inbound == ["x"]
    assert by["enc/first"].inbound == ["enc/first/ln2"]
    assert by["enc/second/mlp"].inbound == ["enc/first"]
    assert by["enc/second/mlp@2"].config["shared"] == "enc/second/mlp"
    assert by["enc/second"].inbound == ["enc/first", "enc/second/mlp@2"]  # x + mlp(...)
    assert "same_as" not in by["enc/second"].config
    assert by["enc"].inbound == ["enc/second"] and by["enc"].config["same_as"] == "enc/second"
    assert by["out"].inbound == ["enc"]
    assert by["enc/first/att"].config["parent"] == "enc/first"
    assert by["enc/first/ffn/ff1"].config["parent"] == "enc/first"
    assert by["enc/first"].config["parent"] == "enc" and "parent" not in by["enc"].config
    assert by["enc"].config["nested"] == 11 and by["enc/second"].config["nested"] == 3
    assert by["enc/first"].config["nested"] == 6
    first = np.asarray(enc.first(x))
    np.testing.assert_allclose(dump.activations(0, "enc/first"), first, atol=1e-5)
    np.testing.assert_allclose(dump.activations(0, "enc/second/mlp"),
                               np.asarray(enc.second.mlp(first)), atol=1e-5)
    np.testing.assert_allclose(dump.activations(0, "enc"), np.asarray(enc(x)), atol=1e-5)
    dump.close()


def test_shape_only_summary_and_unreachable_blocks(keras_mod: Any, tmp_path: Path) -> None:
    """Three LayerScale layers: one summary line "LayerScale x3" and no warning each; a
    block that never calls its sublayer, and one that cannot be traced: one block each,
    with a warning naming it."""
    keras = keras_mod
    c = _leaves(keras)
    inp = keras.Input((4, 4), name="x")
    h = inp
    for i in range(3):
        h = c["LayerScale"](name=f"scale{i}")(h)
    o = c["Opaque"](4, name="opaque")(h)
    e = c["EagerOnly"](name="eager")(o)
    model = keras.Model(inp, e)
    x = np.random.default_rng(2).normal(size=(2, 4, 4)).astype(np.float32)
    with pytest.warns(UserWarning) as record:
        dump = Dump(dump_keras(model, None, x, tmp_path / "dump"))
    messages = [str(w.message) for w in record]
    summary = [m for m in messages if m.startswith("layers of types")]
    assert summary == ["layers of types nnrender draws by their shape only: LayerScale x3, "
                       "Opaque x1, EagerOnly x1"]
    assert not any("layer scale" in m for m in messages)
    assert any(m.startswith("layer opaque: Opaque has sublayers but calls none")
               for m in messages), messages
    assert any(m.startswith("layer eager: the layers inside EagerOnly could not be traced")
               for m in messages), messages
    assert [layer.name for layer in dump.layers] == ["x", "scale0", "scale1", "scale2",
                                                     "opaque", "eager"]
    assert len(dump.weights(0, "opaque")) == 1 and dump.layers[4].params == 16
    np.testing.assert_allclose(dump.activations(0, "eager"), np.asarray(model(x)), atol=1e-5)
    dump.close()
