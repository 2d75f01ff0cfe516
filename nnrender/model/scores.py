"""Attention scores in a dump: which layers get them, the checks, and the warnings. Pure numpy.

A reader hands over, per attention layer and run, a ``Scores``: the values, shape (inputs,
heads, queries, keys), and the recorded layers whose outputs are the queries and the keys;
or no values and the reason they were not computed (``BUDGET``, ``TOKENS``, or a problem
to report). The first epoch decides, once per layer, whether its scores are recorded
(``plan_scores``, which fills ``LayerInfo.attention``); every epoch then stores them
(``epoch_scores``). Rules:

- scores of any other shape than (inputs, heads, queries, keys) are a warning naming the
  layer, and none are recorded for it;
- more than ``ATTENTION_BUDGET`` values for one layer (inputs x heads x queries x keys):
  none are recorded for it, with one warning for all such layers saying how to get them;
- queries or keys longer than ``max_tokens`` (their tokens are stored reduced): none are
  recorded, one warning for all such layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnrender.errors import ModelError
from nnrender.model.ir import LayerInfo

ATTENTION_BUDGET = 64 * 2**20  # attention values per layer, all inputs together
BUDGET = "budget"
TOKENS = "tokens"


@dataclass
class Scores:
    """One attention layer's scores for one run (see the module docstring)."""

    values: np.ndarray | None
    query: str | None = None
    key: str | None = None
    skipped: str | None = None  # BUDGET, TOKENS, or a problem (a warning's text)
    size: int = 0  # values it would have had (for BUDGET)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:6])
    return shown + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def plan_scores(infos: list[LayerInfo], raw: dict[int, Scores], count: int,
                budget: int = ATTENTION_BUDGET, max_tokens: int | None = None) -> list[str]:
    """Set ``attention`` on the layers whose scores are recorded; returns the warnings."""
    over: list[str] = []
    long: list[str] = []
    largest = 0
    messages: list[str] = []
    for i in sorted(raw):
        info, sc = infos[i], raw[i]
        values = sc.values
        if sc.skipped == BUDGET or (values is not None and values.size > budget):
            over.append(info.name)
            largest = max(largest, sc.size or (values.size if values is not None else 0))
            continue
        if sc.skipped == TOKENS:
            long.append(info.name)
            continue
        if sc.skipped or values is None:
            messages.append(f"layer {info.name}: attention scores not recorded: "
                            f"{sc.skipped or 'none returned'}")
            continue
        if values.ndim != 4 or values.shape[0] != count:
            messages.append(f"layer {info.name}: attention scores of shape "
                            f"{list(values.shape)} are not (inputs, heads, queries, keys) "
                            f"for {count} inputs; not recorded")
            continue
        _, heads, queries, keys = (int(d) for d in values.shape)
        if info.positions is not None or (max_tokens is not None
                                          and max(queries, keys) > max_tokens):
            long.append(info.name)
            continue
        info.attention = {"heads": heads, "queries": queries, "keys": keys,
                          "query": sc.query, "key": sc.key}
    if over:
        messages.append(
            f"attention scores not recorded for {_names(over)}: up to {largest:,} values a "
            f"layer (inputs x heads x queries x keys) exceed the budget of {budget:,}; dump "
            "fewer inputs or raise --max-attention (max_attention)")
    if long:
        messages.append(
            f"attention scores not recorded for {_names(long)}: their queries or keys are "
            f"longer than --max-tokens {max_tokens} (max_tokens), so the tokens are stored "
            "reduced; raise it to record them")
    return messages


def epoch_scores(infos: list[LayerInfo], raw: dict[int, Scores], count: int, epoch: int,
                 source: str | Path) -> list[np.ndarray | None]:
    """Per entry, the scores to store this epoch (None where not recorded); a layer that
    had scores at the first epoch must have them, of the same shape, at every epoch."""
    out: list[np.ndarray | None] = [None] * len(infos)
    for i, info in enumerate(infos):
        att = info.attention
        if att is None:
            continue
        sc = raw.get(i)
        want = (count, att["heads"], att["queries"], att["keys"])
        values = sc.values if sc is not None else None
        if values is None or tuple(values.shape) != want:
            got = list(values.shape) if values is not None else "none"
            raise ModelError(source, f"epoch {epoch}: layer {info.name}: attention scores "
                                     f"{got}, the first epoch had {list(want)}")
        if not np.all(np.isfinite(values)):
            raise ModelError(source, f"epoch {epoch}: layer {info.name}: NaN or Inf "
                                     "attention scores")
        out[i] = values
    return out
