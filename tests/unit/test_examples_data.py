"""The example networks' pure parts (no TensorFlow): the synthetic text corpus, the
vocabulary, the recorded sentences, the names `nnrender demo` takes and their scenes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nnrender.cli import build_parser
from nnrender.config.bundled import resolve
from nnrender.config.load import load_config
from nnrender.model import example_text as et
from nnrender.model import examples


def test_vocabulary_has_pad_unk_and_40_distinct_tokens() -> None:
    assert len(et.VOCAB) == 40 and len(set(et.VOCAB)) == 40
    assert et.VOCAB[:2] == ("<pad>", "<unk>")
    assert not set(et.POSITIVE) & set(et.NEGATIVE)


def test_corpus_is_fixed_padded_and_labelled_by_the_counts() -> None:
    x, y, xt, yt = et.load_text_split()
    x2, y2, _, _ = et.load_text_split()
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert x.shape == (et.TRAIN_SIZE, 12) and xt.shape == (et.TEST_SIZE, 12)
    assert x.dtype == np.int32 and y.dtype == np.int64
    pos = [et.VOCAB.index(w) for w in et.POSITIVE]
    neg = [et.VOCAB.index(w) for w in et.NEGATIVE]
    for rows, labels in ((x, y), (xt, yt)):
        lengths = (rows != 0).sum(axis=1)
        assert lengths.min() >= 8 and lengths.max() <= 12
        # padding only at the end
        assert all((row[n:] == 0).all() and (row[:n] != 0).all()
                   for row, n in zip(rows, lengths, strict=True))
        p, n = np.isin(rows, pos).sum(axis=1), np.isin(rows, neg).sum(axis=1)
        assert (p != n).all() and (p + n >= 1).all()
        np.testing.assert_array_equal(labels, (p > n).astype(np.int64))
        assert 0.4 < labels.mean() < 0.6  # balanced
    assert (x == 1).any()  # some <unk>


def test_recorded_sentences_encode_and_follow_the_rule() -> None:
    ids, doc = et.text_inputs()
    assert ids.shape == (4, 12) and ids.dtype == np.int32
    assert doc["labels"] == [1, 0, 1, 0] and doc["class_names"] == ["negative", "positive"]
    for row, (text, label) in zip(ids, et.SENTENCES, strict=True):
        assert et.decode(row) == text
        words = text.split()
        assert 8 <= len(words) <= 12 and all(w in et.VOCAB for w in words)
        p = sum(w in et.POSITIVE for w in words)
        n = sum(w in et.NEGATIVE for w in words)
        assert label == int(p > n) and p != n
    assert et.encode("a zebra")[1] == 1  # outside the vocabulary: <unk>
    with pytest.raises(ValueError):
        et.encode(" ".join(["the"] * 13))


def test_vocab_file_is_one_token_per_line(tmp_path) -> None:
    et.write_vocab(tmp_path)
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines() == list(et.VOCAB)


def test_demo_names_and_their_scenes(tmp_path) -> None:
    parser = build_parser()
    assert parser.parse_args(["demo"]).name == "digits"
    assert parser.parse_args(["demo"]).epochs is None
    for name in examples.NAMES:
        args = parser.parse_args(["demo", name, "-q", "draft", "--epochs", "2"])
        assert (args.name, args.epochs) == (name, 2)
        assert examples.example(name).name == name
        config, _ = load_config(resolve("scene", examples.SCENES[name]), {"dump": str(tmp_path)})
        assert config.output.name == {"digits": "digits_cnn", "vit": "vit_digits",
                                      "text": "text_transformer",
                                      "text_lstm": "text_lstm"}[name]
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "nope"])


def test_examples_and_their_cache_check_import_no_tensorflow(tmp_path) -> None:
    code = (
        "import sys, json\n"
        "from nnrender.model import examples, training\n"
        f"for n in examples.NAMES:\n"
        f"    assert training.cached_result(examples.example(n), {str(tmp_path)!r}, 1, 0) is None\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert json.loads(proc.stdout) == []
