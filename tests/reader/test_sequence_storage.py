"""The pure halves of reading sequences (no TensorFlow): what the storage options do to
tokens, maps and volumes, vocabulary files, and which attention scores are kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnrender.errors import ModelError
from nnrender.model.ir import LayerInfo, epoch_arrays
from nnrender.model.scores import BUDGET, Scores, epoch_scores, plan_scores
from nnrender.model.storage import Storage, positions_warning
from nnrender.model.vocab import as_vocab, load_vocab


def _info(shape: list[int], name: str = "x") -> LayerInfo:
    return LayerInfo(name=name, type="T", output_shape=list(shape))


def test_storage_by_rank() -> None:
    st = Storage(max_maps=3, max_side=4, max_tokens=5)
    tokens, maps, volume, vector = (_info(s) for s in ([20, 8], [12, 8, 6], [9, 8, 8, 6],
                                                        [50]))
    for info in (tokens, maps, volume, vector):
        st.plan(info)
    assert tokens.stored_shape == [5, 3] and tokens.positions == [0, 5, 10, 14, 19]
    assert maps.stored_shape == [4, 3, 3] and maps.positions is None  # H, W by 3; no tokens
    assert volume.stored_shape == [5, 4, 4, 3] and volume.positions == [0, 2, 4, 6, 8]
    assert vector.stored_shape is None
    rng = np.random.default_rng(0)
    act = rng.random((2, 9, 8, 8, 6)).astype(np.float32)
    got = st.apply(act, volume)
    want = act[:, [0, 2, 4, 6, 8]][..., volume.channels].reshape(2, 5, 4, 2, 4, 2, 3).mean(
        axis=(3, 5))
    np.testing.assert_allclose(got, want, atol=1e-6)
    seq = rng.random((2, 20, 8)).astype(np.float32)
    np.testing.assert_allclose(st.apply(seq, tokens), seq[:, tokens.positions][..., [0, 4, 7]])
    message = positions_warning([tokens, maps, volume], 5)
    assert message is not None and "x (20)" in message and "x (9)" in message
    assert Storage(max_side=2).options() == {"max_side": 2, "max_tokens": 4096}
    with pytest.raises(ModelError, match="max_tokens"):
        Storage(max_tokens=0)


def test_integer_activations_stay_exact_in_float16() -> None:
    ids = np.array([[1, 3001, 70000]], np.int32)
    files = epoch_arrays(0, [ids, np.ones((1, 2))], None, np.dtype("float16"))
    arrays = files[0][1]
    assert arrays["L000"].dtype == np.float32 and arrays["L001"].dtype == np.float16
    np.testing.assert_array_equal(arrays["L000"], ids)


def test_vocab_files(tmp_path: Path) -> None:
    bert = tmp_path / "vocab.txt"
    bert.write_text("[PAD]\n[UNK]\nthe\r\n\nend\n", encoding="utf-8")
    assert load_vocab(bert).tokens == ["[PAD]", "[UNK]", "the", "", "end"]
    tok = tmp_path / "tokenizer.json"
    tok.write_text('{"model": {"vocab": {"a": 0, "c": 2}}}', encoding="utf-8")
    assert load_vocab(tok).tokens == ["a", "", "c"]
    for text, needle in (('[1, 2]', "not a token text"), ('{"a": -1}', "whole numbers"),
                         ("{broken", "corrupt JSON"), ('"a"', "list of tokens")):
        bad = tmp_path / "bad.json"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ModelError, match=needle) as exc:
            load_vocab(bad)
        assert str(bad) in exc.value.line()
    with pytest.raises(ModelError, match="not found"):
        load_vocab(tmp_path / "none.txt")
    vocab = as_vocab(["a", "b"])
    vocab.check([np.array([[0, 1]])])
    with pytest.raises(ModelError, match="token id 2"):
        vocab.check([np.array([[0, 2]])])


def test_plan_scores_rules() -> None:
    infos = [_info([4, 8], n) for n in ("ok", "odd", "big", "long", "missing")]
    infos[3].positions = [0, 1, 2, 3]
    infos[3].output_shape = [9, 8]
    good = np.full((2, 2, 4, 4), 0.25, np.float32)
    raw = {0: Scores(good, "q", "k"), 1: Scores(np.zeros((2, 4, 4), np.float32)),
           2: Scores(None, skipped=BUDGET, size=10**9), 3: Scores(good),
           4: Scores(None, skipped="the layer cannot return them (flash)")}
    messages = plan_scores(infos, raw, count=2, max_tokens=4)
    assert infos[0].attention == {"heads": 2, "queries": 4, "keys": 4, "query": "q",
                                  "key": "k"}
    assert all(info.attention is None for info in infos[1:])
    assert any("layer odd" in m and "not (inputs, heads, queries, keys)" in m
               for m in messages)
    assert any("big" in m and "1,000,000,000" in m for m in messages)
    assert any("long" in m and "--max-tokens 4" in m for m in messages)
    assert any("layer missing" in m and "flash" in m for m in messages)
    stored = epoch_scores(infos, raw, 2, 0, "src")
    assert stored[0] is good and stored[1:] == [None] * 4
    with pytest.raises(ModelError, match="attention scores"):
        epoch_scores(infos, {0: Scores(good[:, :1])}, 2, 3, "src")
