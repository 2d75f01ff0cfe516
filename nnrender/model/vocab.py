"""A vocabulary for token-id inputs (``--vocab FILE``): the token texts by id. Pure Python.

Accepted files: a text file with one token per line (line i, from 0, is token id i; only the
line ends are stripped, so a token may hold spaces, and an empty line is the empty token),
a JSON list of strings (index = id), or a JSON object ``{token: id}`` (ids not listed are
the empty text; a tokenizer's ``{"model": {"vocab": {...}}}`` is read the same way). A file
whose name does not end in ``.json`` is JSON only when all of it parses as a list or an
object (a BERT ``vocab.txt`` starts with ``[PAD]``). The dump keeps the texts as
``inputs["vocab"]``; a vocabulary shorter than the largest token id in the recorded inputs
is an error naming the file and the id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError


@dataclass
class Vocab:
    """Token texts by id, and where they came from (for errors)."""

    tokens: list[str]
    source: str

    def check(self, xs: Sequence[np.ndarray]) -> None:
        """The integer inputs' largest token id must have a text."""
        ints = [x for x in xs if x.dtype.kind in "iu" and x.size]
        if not ints:
            raise ModelError(self.source, "a vocabulary was given, but the model has no "
                                          "integer (token id) input")
        top = max(int(x.max()) for x in ints)
        if top >= len(self.tokens):
            raise ModelError(self.source, f"the vocabulary has {len(self.tokens)} entries "
                                          f"(ids 0-{len(self.tokens) - 1}), but the inputs "
                                          f"use token id {top}")


def _from_mapping(mapping: dict[str, Any], source: str) -> list[str]:
    ids: dict[int, str] = {}
    for token, value in mapping.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ModelError(source, f"token {token!r} has id {value!r}; ids must be whole "
                                     "numbers from 0")
        if value in ids:
            raise ModelError(source, f"tokens {ids[value]!r} and {token!r} share id {value}")
        ids[value] = str(token)
    if not ids:
        raise ModelError(source, "the vocabulary is empty")
    tokens = [""] * (max(ids) + 1)
    for value, token in ids.items():
        tokens[value] = token
    return tokens


def _from_json(data: Any, source: str) -> list[str]:
    if isinstance(data, list):
        bad = next((i for i, t in enumerate(data) if not isinstance(t, str)), None)
        if bad is not None:
            raise ModelError(source, f"entry {bad} is {data[bad]!r}, not a token text")
        return list(data)
    if isinstance(data, dict):
        model = data.get("model")
        if isinstance(model, dict) and isinstance(model.get("vocab"), dict):
            data = model["vocab"]
        return _from_mapping(data, source)
    raise ModelError(source, "a JSON vocabulary must be a list of tokens or an object "
                             "{token: id}")


def load_vocab(path: str | Path) -> Vocab:
    """Read a vocabulary file (see the module docstring)."""
    file = Path(path).expanduser()
    source = str(path)
    if not file.is_file():
        raise ModelError(source, "vocabulary file not found")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(source, f"cannot read the vocabulary: {exc}") from None
    stripped = text.strip()
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(source, f"corrupt JSON: {exc}") from None
        tokens = _from_json(data, source)
    else:
        data = None
        if stripped[:1] in ("[", "{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = None
        if isinstance(data, (list, dict)):
            tokens = _from_json(data, source)
        else:
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()  # the final line end is not one more token
            tokens = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not tokens:
        raise ModelError(source, "the vocabulary is empty")
    return Vocab(tokens, source)


def as_vocab(vocab: Vocab | str | Path | Sequence[str]) -> Vocab:
    """A ``Vocab`` from a file path, a list of token texts, or a ``Vocab``."""
    if isinstance(vocab, Vocab):
        return vocab
    if isinstance(vocab, (str, Path)):
        return load_vocab(vocab)
    tokens = list(vocab)
    bad = next((i for i, t in enumerate(tokens) if not isinstance(t, str)), None)
    if bad is not None:
        raise ModelError("vocab", f"entry {bad} is {tokens[bad]!r}, not a token text")
    if not tokens:
        raise ModelError("vocab", "the vocabulary is empty")
    return Vocab(tokens, "vocab")
