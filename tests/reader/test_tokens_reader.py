"""Token inputs: integer ids stay integers through the dump (``inputs["dtypes"]``), a
vocabulary is kept by id and checked against the ids used, and long sequences keep
``max_tokens`` evenly spaced positions (a million tokens is a cap and a warning)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnrender.errors import ModelError
from nnrender.model.ir import Dump
from nnrender.model.keras_capture import dump_keras
from nnrender.model.vocab import load_vocab

pytestmark = pytest.mark.tf


def _text_model(keras: Any, length: int | None = 6, vocab: int = 40) -> Any:
    from keras import layers as L

    tokens = keras.Input((length,), dtype="int32", name="tokens")
    image = keras.Input((4, 4, 1), name="image")
    e = L.Embedding(vocab, 4, name="emb")(tokens)
    a = L.MultiHeadAttention(num_heads=2, key_dim=2, name="att")(e, e)
    t = L.GlobalAveragePooling1D(name="gap")(a)
    i = L.Flatten(name="flat")(image)
    return keras.Model([tokens, image], L.Concatenate(name="cat")([t, i]), name="text")


def test_integer_inputs_stay_integers(keras_mod: Any, tmp_path: Path) -> None:
    keras = keras_mod
    model = _text_model(keras, vocab=5000)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5000, (3, 6)).astype(np.int64)  # int64 given, the model says int32
    img = rng.random((3, 4, 4, 1)).astype(np.float64)
    dump = Dump(dump_keras(model, None, [ids, img], tmp_path / "dump", dtype="float16"))
    assert dump.manifest.inputs["dtypes"] == ["int32", "float32"]
    assert dump.input_array(0).dtype == np.int32 and dump.input_array(1).dtype == np.float32
    np.testing.assert_array_equal(dump.input_array(0), ids)
    # the ids' activations are exact in a float16 dump (above 2048 float16 is not)
    np.testing.assert_array_equal(dump.activations(0, "tokens"), ids)
    assert dump.activations(0, "emb").dtype == np.float16
    dump.close()
    with pytest.raises(ModelError) as exc:
        dump_keras(model, None, [ids + 0.5, img], tmp_path / "bad")
    assert "integer ids" in str(exc.value) and "tokens" in str(exc.value)


def test_vocab_list_files_and_too_short(keras_mod: Any, tmp_path: Path) -> None:
    keras = keras_mod
    model = _text_model(keras)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 40, (2, 6)).astype(np.int32)
    ids[0, 0] = 39
    img = rng.random((2, 4, 4, 1)).astype(np.float32)
    words = ["[PAD]", " sp ace", ""] + [f"w{i}" for i in range(37)]
    dump = Dump(dump_keras(model, None, [ids, img], tmp_path / "dump", vocab=words))
    assert dump.manifest.inputs["vocab"] == words
    dump.close()
    text = tmp_path / "vocab.txt"
    text.write_text("\n".join(words) + "\n", encoding="utf-8")
    as_list = tmp_path / "vocab.json"
    as_list.write_text(json.dumps(words), encoding="utf-8")
    as_map = tmp_path / "map.json"
    as_map.write_text(json.dumps({w: i for i, w in enumerate(words) if w}), encoding="utf-8")
    for path in (text, as_list, as_map):
        assert load_vocab(path).tokens == words, path
    from_file = Dump(dump_keras(model, None, [ids, img], tmp_path / "d2", vocab=text))
    assert from_file.manifest.inputs["vocab"] == words
    short = tmp_path / "short.txt"
    short.write_text("a\nb\nc\n", encoding="utf-8")
    with pytest.raises(ModelError) as exc:
        dump_keras(model, None, [ids, img], tmp_path / "d3", vocab=short)
    line = exc.value.line()
    assert str(short) in line and "3 entries" in line and "token id 39" in line
    assert not (tmp_path / "d3").exists()
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 0, "b": 0}', encoding="utf-8")
    with pytest.raises(ModelError, match="share id 0"):
        load_vocab(bad)


def test_max_tokens_and_a_million_tokens(keras_mod: Any, tmp_path: Path) -> None:
    keras = keras_mod
    from keras import layers as L

    model = _text_model(keras, length=None)
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 40, (2, 20)).astype(np.int32)
    img = rng.random((2, 4, 4, 1)).astype(np.float32)
    with pytest.warns(UserWarning) as record:
        dump = Dump(dump_keras(model, None, [ids, img], tmp_path / "dump", max_tokens=8,
                               max_side=2))
    messages = [str(w.message) for w in record]
    cut = [m for m in messages if "evenly spaced positions" in m]
    assert len(cut) == 1 and "emb (20)" in cut[0] and "att (20)" in cut[0]
    att = [m for m in messages if "attention scores not recorded" in m]
    assert len(att) == 1 and "att" in att[0] and "--max-tokens" in att[0]
    by = {layer.name: layer for layer in dump.layers}
    positions = [int(round(v)) for v in np.linspace(0, 19, 8)]
    assert by["emb"].positions == positions and by["emb"].stored_shape == [8, 4]
    assert by["att"].attention is None and by["tokens"].positions is None
    full = np.asarray(keras.Model(model.inputs, model.get_layer("emb").output)([ids, img]))
    np.testing.assert_allclose(dump.activations(0, "emb"), full[:, positions], atol=1e-6)
    assert by["image"].stored_shape == [2, 2, 1]  # max_side still averages maps
    dump.close()

    tokens = keras.Input((None,), dtype="int32", name="tokens")
    e = L.Embedding(100, 4, name="emb")(tokens)
    c = L.Conv1D(4, 3, padding="same", name="conv")(e)
    out = L.Dense(2, name="out")(L.GlobalAveragePooling1D(name="gap")(c))
    long_model = keras.Model(tokens, out)
    million = rng.integers(0, 100, (1, 1_000_000)).astype(np.int32)
    with pytest.warns(UserWarning) as record:
        big = Dump(dump_keras(long_model, None, million, tmp_path / "big"))
    assert any("4096 evenly spaced positions" in str(w.message) for w in record)
    by = {layer.name: layer for layer in big.layers}
    assert by["conv"].output_shape == [1_000_000, 4] and by["conv"].stored_shape == [4096, 4]
    size = sum(f.stat().st_size for f in Path(big.path).rglob("*") if f.is_file())
    assert size < 12e6, size  # the ids (and the input entry) whole, every layer cut
    big.close()


def test_vocab_needs_integer_inputs(keras_mod: Any, tmp_path: Path) -> None:
    keras = keras_mod
    from keras import layers as L

    inp = keras.Input((3,), name="x")
    model = keras.Model(inp, L.Dense(2, name="d")(inp))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ModelError, match="no integer"):
            dump_keras(model, None, np.zeros((1, 3), np.float32), tmp_path / "d",
                       vocab=["a", "b"])
