"""Attention scores from Keras' attention layers, for the recorded inputs.

``MultiHeadAttention`` (and ``GroupQueryAttention``, and subclasses such as keras_hub's
cached attention) return (inputs, heads, queries, keys) scores, ``Attention`` and
``AdditiveAttention`` (inputs, queries, keys), taken as one head. The layer is called with
``return_attention_scores=True`` and the graph goes on with its first output as before; a
call the user made with ``return_attention_scores=True`` already returns both. Before the
call, ``AttentionPolicy`` leaves out layers whose scores would exceed the value budget or
whose tokens are longer than ``max_tokens`` (they would not be recorded anyway, and asking
for them would make the layer materialise them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnrender.errors import one_line
from nnrender.model.keras_env import keras_module
from nnrender.model.scores import ATTENTION_BUDGET, BUDGET, TOKENS, Scores

ARG = "return_attention_scores"


def attention_capable(layer: Any) -> bool:
    """Whether the layer is one of Keras' attention layers (or derives from one)."""
    layers = keras_module().layers
    classes = tuple(c for c in (getattr(layers, n, None) for n in (
        "MultiHeadAttention", "GroupQueryAttention", "Attention")) if isinstance(c, type))
    return isinstance(layer, classes)


def bound_arguments(layer: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """A call's arguments by parameter name, in the order of ``layer.call``'s signature
    (empty when they do not bind)."""
    try:
        return dict(inspect.signature(layer.call).bind_partial(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return {}


def attention_sides(layer: Any, args: tuple, kwargs: dict) -> tuple[Any, Any]:
    """The query and the key (or value) of one call."""
    bound = bound_arguments(layer, args, kwargs)
    if bound.get("query") is not None:
        key = bound.get("key")
        return bound["query"], key if key is not None else bound.get("value")
    inputs = bound.get("inputs", args[0] if args else None)
    if isinstance(inputs, (list, tuple)) and len(inputs) >= 2:
        return inputs[0], inputs[2] if len(inputs) > 2 else inputs[1]
    return inputs, inputs


def _heads(layer: Any) -> int:
    for attr in ("num_heads", "_num_heads", "num_query_heads", "_num_query_heads"):
        value = getattr(layer, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1


def _tokens(x: Any) -> int | None:
    """Tokens of a (batch, ..., features) tensor: the axes between batch and features."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) < 3 or any(d is None for d in shape[1:-1]):
        return None
    return int(np.prod([int(d) for d in shape[1:-1]]))


@dataclass
class AttentionPolicy:
    """Which attention calls get their scores computed (see the module docstring)."""

    count: int
    max_tokens: int | None = None
    budget: int = ATTENTION_BUDGET

    def skip(self, layer: Any, query: Any, key: Any) -> Scores | None:
        """A ``Scores`` saying why none are computed, or None to compute them."""
        t, s = _tokens(query), _tokens(key)
        if t is None or s is None:
            return None
        if self.max_tokens is not None and max(t, s) > self.max_tokens:
            return Scores(None, skipped=TOKENS)
        size = self.count * _heads(layer) * t * s
        if size > self.budget:
            return Scores(None, skipped=BUDGET, size=size)
        return None


def scores_array(value: Any) -> np.ndarray:
    """Scores as numpy, (inputs, heads, queries, keys); (inputs, queries, keys) is 1 head."""
    keras = keras_module()
    arr = np.asarray(keras.ops.convert_to_numpy(value))
    return arr[:, np.newaxis] if arr.ndim == 3 else arr


def call_with_scores(run: Callable, layer: Any, args: tuple, kwargs: dict,
                     policy: AttentionPolicy) -> tuple[Any, Scores]:
    """Call an attention layer (``run(*args, **kwargs)`` calls it) asking for its scores:
    (what the caller gets, as without asking, and the scores)."""
    bound = bound_arguments(layer, args, kwargs)
    if bound.get(ARG):  # the model asked for them itself
        result = run(*args, **kwargs)
        if isinstance(result, (list, tuple)) and len(result) >= 2:
            return result, Scores(scores_array(result[1]))
        return result, Scores(None, skipped="the layer returned no scores")
    query, key = attention_sides(layer, args, kwargs)
    skipped = policy.skip(layer, query, key)
    if skipped is not None:
        return run(*args, **kwargs), skipped
    try:
        result = run(*args, **{**kwargs, ARG: True})
    except Exception as exc:  # flash attention on, an odd subclass: do without the scores
        return run(*args, **kwargs), Scores(None, skipped=f"the layer cannot return them "
                                                          f"({one_line(exc, 120)})")
    if not (isinstance(result, (list, tuple)) and len(result) == 2):
        return run(*args, **kwargs), Scores(None, skipped="the layer returned no scores")
    try:
        values = scores_array(result[1])
    except Exception as exc:
        return result[0], Scores(None, skipped=f"unreadable scores ({one_line(exc, 120)})")
    return result[0], Scores(values)
