"""The ``text`` and ``text_lstm`` examples: sentiment of short synthetic sentences.

The task is offline and deterministic: sentences of 8-12 tokens from a fixed vocabulary of
40 (``VOCAB``: ``<pad>`` = 0, ``<unk>`` = 1, neutral filler, positive and negative words),
padded at the end to ``MAXLEN`` = 12. Each sentence holds 1-4 sentiment words, mixed; the
label is 1 (positive) when it has more positive than negative words, 0 (negative) when
fewer; sentences with as many of each are never drawn. About 3% of the filler is ``<unk>``
(words outside the vocabulary).

``text`` is the Keras example "Text classification with Transformer": a custom
``TokenAndPositionEmbedding`` layer (token + learned position embeddings) and a subclassed
``TransformerBlock`` (MultiHeadAttention, a Sequential FFN, two LayerNormalization and two
Dropout layers as attributes), then GlobalAveragePooling1D, Dropout, Dense, Dropout and a
softmax Dense. ``text_lstm``: Embedding, a bidirectional LSTM over the tokens, pooling and
a softmax Dense. Both take integer token ids. The 4 recorded sentences are ``SENTENCES``.

The custom layers subclass Keras classes, so they are made on first use (``text_layers``)
and importing this module needs no TensorFlow; they are registered for serialization as
``nnrender>TokenAndPositionEmbedding`` and ``nnrender>TransformerBlock``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnrender.model.training import Example

PAD, UNK = "<pad>", "<unk>"
NEUTRAL = ("the", "a", "i", "this", "it", "movie", "film", "plot", "story", "actors",
           "ending", "music", "was", "is", "were", "and", "but", "very", "really", "so")
POSITIVE = ("good", "great", "excellent", "wonderful", "fun", "love", "loved", "best",
            "beautiful")
NEGATIVE = ("bad", "awful", "terrible", "boring", "dull", "hate", "hated", "worst", "ugly")
VOCAB = (PAD, UNK, *NEUTRAL, *POSITIVE, *NEGATIVE)  # token id = index
MAXLEN = 12
MIN_LEN = 8
CLASS_NAMES = ("negative", "positive")
TRAIN_SIZE, TEST_SIZE = 2000, 500
DATA_SEED = 2024  # the corpus is fixed; the training seed only changes the model
MAX_SENTIMENT = 4  # sentiment words per sentence: 1 to this many
UNKNOWN = 0.03  # share of filler tokens that are <unk>
VOCAB_FILE = "vocab.txt"
# The recorded inputs: two positive, two negative; the third and fourth are mixed.
SENTENCES = (
    ("the movie was great and the actors were wonderful", 1),
    ("the plot was boring and the ending was awful", 0),
    ("the music was bad but the story was really beautiful and fun", 1),
    ("i loved the actors but the film was dull and boring", 0),
)

EMBED_DIM = 32
HEADS = 2
FF_DIM = 32
LSTM_UNITS = 16
EPOCHS = 6
LEARNING_RATE = 2e-4
PACKAGE = "nnrender"

_IDS = {token: i for i, token in enumerate(VOCAB)}
_CLASSES: dict[str, type] = {}


def encode(text: str) -> np.ndarray:
    """Token ids of a space-separated sentence, padded with 0 to ``MAXLEN`` (words outside
    the vocabulary are ``<unk>``)."""
    ids = [_IDS.get(word, _IDS[UNK]) for word in text.lower().split()]
    if len(ids) > MAXLEN:
        raise ValueError(f"{text!r}: {len(ids)} tokens, at most {MAXLEN}")
    return np.array(ids + [_IDS[PAD]] * (MAXLEN - len(ids)), dtype=np.int32)


def decode(ids: np.ndarray) -> str:
    """The sentence of a row of token ids, padding left out."""
    return " ".join(VOCAB[int(i)] for i in ids if int(i) != _IDS[PAD])


def _sentence(rng: np.random.Generator) -> tuple[list[int], int]:
    length = int(rng.integers(MIN_LEN, MAXLEN + 1))
    while True:
        positive = [bool(rng.random() < 0.5) for _ in range(int(rng.integers(1, MAX_SENTIMENT
                                                                            + 1)))]
        if 2 * sum(positive) != len(positive):
            break
    tokens = [_IDS[str(rng.choice(POSITIVE if p else NEGATIVE))] for p in positive]
    for _ in range(length - len(tokens)):
        unknown = bool(rng.random() < UNKNOWN)
        tokens.append(_IDS[UNK] if unknown else _IDS[str(rng.choice(NEUTRAL))])
    ids = [tokens[int(i)] for i in rng.permutation(len(tokens))]
    return ids + [_IDS[PAD]] * (MAXLEN - len(ids)), int(2 * sum(positive) > len(positive))


def corpus(count: int, seed: int = DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """``count`` sentences as int32 (count, MAXLEN) token ids and int64 labels."""
    rng = np.random.default_rng(seed)
    rows, labels = zip(*(_sentence(rng) for _ in range(count)), strict=True)
    return np.array(rows, dtype=np.int32), np.array(labels, dtype=np.int64)


def load_text_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed train/test split (``TRAIN_SIZE`` and ``TEST_SIZE`` sentences)."""
    x, y = corpus(TRAIN_SIZE + TEST_SIZE)
    return x[:TRAIN_SIZE], y[:TRAIN_SIZE], x[TRAIN_SIZE:], y[TRAIN_SIZE:]


def text_inputs(*_split: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """The 4 ``SENTENCES`` as token ids and their ``labels.json`` document."""
    ids = np.stack([encode(text) for text, _ in SENTENCES])
    return ids, {
        "labels": [label for _, label in SENTENCES],
        "class_names": list(CLASS_NAMES),
        "texts": [text for text, _ in SENTENCES],
        "vocab": VOCAB_FILE,
        "source": "nnrender.model.example_text.SENTENCES (fixed sentences, not from the "
                  "corpus)",
    }


def write_vocab(work: Path) -> None:
    """``vocab.txt``: one token per line, the line number (from 0) is its id."""
    tmp = work / (VOCAB_FILE + ".tmp")
    tmp.write_text("".join(f"{t}\n" for t in VOCAB), encoding="utf-8")
    tmp.replace(work / VOCAB_FILE)


def _define(keras: Any) -> dict[str, type]:
    ops, layers = keras.ops, keras.layers
    register = keras.saving.register_keras_serializable(package=PACKAGE)

    @register
    class TokenAndPositionEmbedding(layers.Layer):
        """Token embedding plus a learned embedding of each position."""

        def __init__(self, maxlen: int, vocab_size: int, embed_dim: int, **kwargs: Any):
            super().__init__(**kwargs)
            self.maxlen, self.vocab_size, self.embed_dim = int(maxlen), int(vocab_size), \
                int(embed_dim)
            self.token_emb = layers.Embedding(self.vocab_size, self.embed_dim,
                                              name="token_emb")
            self.pos_emb = layers.Embedding(self.maxlen, self.embed_dim, name="pos_emb")

        def build(self, input_shape: Any) -> None:
            # the sublayers' state made here, so a loaded model.keras gets its weights
            self.token_emb.build(input_shape)
            self.pos_emb.build((self.maxlen,))
            super().build(input_shape)

        def call(self, x: Any) -> Any:
            positions = self.pos_emb(ops.arange(0, ops.shape(x)[-1], 1))
            return self.token_emb(x) + positions

        def compute_output_shape(self, input_shape: Any) -> tuple:
            return (*input_shape, self.embed_dim)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "maxlen": self.maxlen,
                    "vocab_size": self.vocab_size, "embed_dim": self.embed_dim}

    @register
    class TransformerBlock(layers.Layer):
        """Self-attention and a feed-forward network, each with dropout, a residual and a
        LayerNormalization (post-norm, as in the Keras example)."""

        def __init__(self, embed_dim: int, num_heads: int, ff_dim: int, rate: float = 0.1,
                     **kwargs: Any):
            super().__init__(**kwargs)
            self.embed_dim, self.num_heads, self.ff_dim, self.rate = \
                int(embed_dim), int(num_heads), int(ff_dim), float(rate)
            self.att = layers.MultiHeadAttention(num_heads=self.num_heads,
                                                 key_dim=self.embed_dim, name="att")
            self.ffn = keras.Sequential(
                [layers.Dense(self.ff_dim, activation="relu", name="ffn_dense1"),
                 layers.Dense(self.embed_dim, name="ffn_dense2")], name="ffn")
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6, name="layernorm1")
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6, name="layernorm2")
            self.dropout1 = layers.Dropout(self.rate, name="dropout1")
            self.dropout2 = layers.Dropout(self.rate, name="dropout2")

        def build(self, input_shape: Any) -> None:
            # the sublayers' state made here, so a loaded model.keras gets its weights
            self.att.build(input_shape, input_shape)
            self.ffn.build(input_shape)
            self.layernorm1.build(input_shape)
            self.layernorm2.build(input_shape)
            super().build(input_shape)

        def call(self, inputs: Any) -> Any:
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output)
            return self.layernorm2(out1 + ffn_output)

        def compute_output_shape(self, input_shape: Any) -> tuple:
            return tuple(input_shape)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "embed_dim": self.embed_dim,
                    "num_heads": self.num_heads, "ff_dim": self.ff_dim, "rate": self.rate}

    classes = {"TokenAndPositionEmbedding": TokenAndPositionEmbedding,
               "TransformerBlock": TransformerBlock}
    for cls in classes.values():
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return classes


def text_layers() -> dict[str, type]:
    """The custom layers by class name, defined and registered on first call."""
    if not _CLASSES:
        from nnrender.model.keras_env import keras_module

        _CLASSES.update(_define(keras_module()))
    return _CLASSES


def __getattr__(name: str) -> Any:
    if name in ("TokenAndPositionEmbedding", "TransformerBlock"):
        return text_layers()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_text_transformer(keras: Any) -> Any:
    """The Keras example's model, every layer named."""
    classes = text_layers()
    layers = keras.layers
    inp = keras.Input((MAXLEN,), dtype="int32", name="tokens")
    x = classes["TokenAndPositionEmbedding"](MAXLEN, len(VOCAB), EMBED_DIM,
                                             name="embedding")(inp)
    x = classes["TransformerBlock"](EMBED_DIM, HEADS, FF_DIM, name="transformer")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dropout(0.1, name="dropout1")(x)
    x = layers.Dense(20, activation="relu", name="dense")(x)
    x = layers.Dropout(0.1, name="dropout2")(x)
    out = layers.Dense(len(CLASS_NAMES), activation="softmax", name="output")(x)
    return keras.Model(inp, out, name="text_transformer")


def build_text_lstm(keras: Any) -> Any:
    """Embedding, a bidirectional LSTM returning every step, pooling, softmax."""
    layers = keras.layers
    inp = keras.Input((MAXLEN,), dtype="int32", name="tokens")
    x = layers.Embedding(len(VOCAB), EMBED_DIM, name="embedding")(inp)
    x = layers.Bidirectional(layers.LSTM(LSTM_UNITS, return_sequences=True, name="lstm"),
                             name="bilstm")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    out = layers.Dense(len(CLASS_NAMES), activation="softmax", name="output")(x)
    return keras.Model(inp, out, name="text_lstm")


def vocab() -> list[str]:
    return list(VOCAB)


_COMMON: dict[str, Any] = {
    "data": load_text_split, "pick": text_inputs, "epochs": EPOCHS, "files": (VOCAB_FILE,),
    "write_files": write_vocab, "vocab": vocab,
    # slow enough that the epochs show the learning (1e-3 is at 100% after one epoch)
    "optimizer": lambda keras: keras.optimizers.Adam(LEARNING_RATE),
}
TEXT = Example(name="text", title="the text transformer", build=build_text_transformer,
               **_COMMON)
TEXT_LSTM = Example(name="text_lstm", title="the text BiLSTM", build=build_text_lstm,
                    **_COMMON)
