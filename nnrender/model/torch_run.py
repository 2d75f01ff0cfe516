"""Running a walked exported program (``torch_graph``): every entry's activations, and the
attention entries' scores, for a batch of inputs.

The graph module of the ``ExportedProgram`` runs op by op under a ``torch.fx.Interpreter``
with the current parameters and buffers passed in (so one trace serves every epoch of a
series and a model training in a loop), without gradients, in batches of the traced size
(a program traced for a fixed batch gets its last batch padded by repeating a sample, and
the padding is dropped). Each recorded value is copied as it is computed: later in-place
ops (``out += identity``, ``ReLU(inplace=True)``) cannot change it. Attention scores are
those of ``scaled_dot_product_attention`` (softmax of the scaled query-key products, with
its mask and causality) or the softmax probabilities an attention computes itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError, one_line
from nnrender.model.channels_first import Tag, drawn, finite, note_masked
from nnrender.model.scores import BUDGET, TOKENS, Scores
from nnrender.model.torch_env import torch_module
from nnrender.model.torch_graph import TorchGraph
from nnrender.model.torch_ops import op_base

PREDICT_BATCH = 64  # samples per forward pass when the program takes any batch size

torch = torch_module()


def to_numpy(value: Any) -> np.ndarray | None:
    """A tensor's values as a new numpy array (None: not a tensor)."""
    if not isinstance(value, torch.Tensor):
        return None
    t = value.detach()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    if t.is_complex():
        t = t.abs()
    return t.cpu().clone().numpy()


def sdpa_probs(base: str, args: tuple, kwargs: dict) -> Any:
    """The attention probabilities of a ``scaled_dot_product_attention`` call."""
    q, k = args[0], args[1]
    if base == "scaled_dot_product_attention":
        mask = kwargs.get("attn_mask", args[3] if len(args) > 3 else None)
        causal = kwargs.get("is_causal", args[5] if len(args) > 5 else False)
    else:  # the fused CPU / efficient kernels: (q, k, v, dropout_p, is_causal, ...)
        mask = kwargs.get("attn_mask")
        causal = kwargs.get("is_causal", args[4] if len(args) > 4 else False)
    scale = kwargs.get("scale") or 1.0 / math.sqrt(q.shape[-1])
    q, k = q.float(), k.float()
    if q.dim() >= 3 and k.dim() == q.dim() and k.shape[-3] != q.shape[-3] \
            and q.shape[-3] % k.shape[-3] == 0:
        k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
    logits = q @ k.transpose(-2, -1) * scale
    t, s = logits.shape[-2], logits.shape[-1]
    if causal:
        logits = logits.masked_fill(~torch.ones(t, s, dtype=torch.bool).tril(), float("-inf"))
    if isinstance(mask, torch.Tensor):
        logits = logits.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool \
            else logits + mask.float()
    return torch.softmax(logits, dim=-1)


class _Recording(torch.fx.Interpreter):
    """Runs the graph module, keeping the wanted nodes' values (copied at once)."""

    def __init__(self, module: Any, wanted: set[str], scores: dict[str, str]) -> None:
        super().__init__(module)
        self.wanted = wanted
        self.score_nodes = scores
        self.values: dict[str, Any] = {}
        self.probs: dict[str, Any] = {}

    def run_node(self, n: Any) -> Any:
        if n.name in self.score_nodes and self.score_nodes[n.name] == "sdpa":
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            self.probs[n.name] = sdpa_probs(op_base(n.target), args, kwargs)
        result = super().run_node(n)
        if n.name in self.wanted:
            self.values[n.name] = to_numpy(result) if not isinstance(result, tuple) \
                else to_numpy(result[0])
        if self.score_nodes.get(n.name) == "probs":
            self.probs[n.name] = result.detach().float().clone()
        return result


def _padded(x: np.ndarray, size: int) -> np.ndarray:
    if x.shape[0] == size:
        return x
    extra = np.repeat(x[-1:], size - x.shape[0], axis=0)
    return np.concatenate([x, extra])


def _value(arr: np.ndarray | None, tag: Tag, rows: int, generic: bool,
           name: str, warnings: list[str], masked: list[str]) -> np.ndarray:
    if arr is None or generic:
        return np.zeros((rows, 1), np.float32)
    if masked is not None:  # an op's output: a mask's -inf is not a diverged model
        arr, found = finite(arr)
        if found:
            masked.append(name)
    if tag.batch is None:
        message = (f"layer {name}: its output {list(arr.shape)} has no batch axis; "
                   "recorded as the same value for every input")
        if message not in warnings:
            warnings.append(message)
        return np.broadcast_to(arr[np.newaxis], (rows, *arr.shape)).copy()
    return drawn(arr, tag, rows)


def _probs(value: Any, batch: int, rows: int) -> np.ndarray:
    arr = value.cpu().numpy()
    if arr.ndim == 3 and arr.shape[0] % batch == 0:
        arr = arr.reshape(batch, arr.shape[0] // batch, *arr.shape[1:])
    elif arr.ndim == 3:
        arr = arr[:, np.newaxis]
    return np.ascontiguousarray(arr[:rows])


class ScorePolicy:
    """Which attention entries get their scores computed: those within ``budget`` values
    (inputs x heads x queries x keys) and ``max_tokens`` (see ``scores``)."""

    def __init__(self, count: int, max_tokens: int | None, budget: int) -> None:
        self.count, self.max_tokens, self.budget = count, max_tokens, budget

    def skip(self, heads: int, queries: int, keys: int) -> Scores | None:
        if self.max_tokens is not None and max(queries, keys) > self.max_tokens:
            return Scores(None, skipped=TOKENS)
        size = self.count * heads * queries * keys
        if size > self.budget:
            return Scores(None, skipped=BUDGET, size=size)
        return None


def _score_nodes(graph: TorchGraph, policy: ScorePolicy | None
                 ) -> tuple[dict[str, str], dict[int, Scores]]:
    """The nodes whose scores to compute, and the entries skipped by the policy."""
    nodes: dict[str, str] = {}
    skipped: dict[int, Scores] = {}
    for i, e in enumerate(graph.entries):
        if e.scores is None:
            continue
        found = policy.skip(*e.score_shape) if policy is not None and e.score_shape else None
        if found is not None:
            found.query, found.key = e.sides
            skipped[i] = found
        else:
            nodes[e.scores[1]] = e.scores[0]
    return nodes, skipped


def run_program(graph: TorchGraph, module: Any, state: Callable[[str, str], Any],
                xs: list[np.ndarray], epoch: int, source: str | Path,
                policy: ScorePolicy | None = None
                ) -> tuple[list[np.ndarray], dict[int, Scores]]:
    """Every entry's activations for inputs ``xs``, and the attention entries' scores;
    ``state(kind, target)`` gives each parameter, buffer or constant placeholder's tensor."""
    count = int(xs[0].shape[0])
    size = graph.batch or min(count, PREDICT_BATCH)
    wanted = {e.node for e in graph.entries}
    score_nodes, skipped = _score_nodes(graph, policy)
    args_state = [state(kind, target) for _, kind, target in graph.state_nodes]
    chunks: list[list[np.ndarray]] = []
    prob_chunks: list[dict[str, np.ndarray]] = []
    masked: list[str] = []
    with torch.no_grad():
        for start in range(0, count, size):
            rows = min(size, count - start)
            batch = [x[start:start + rows] for x in xs]
            padded = [_padded(b, size) for b in batch] if graph.batch is not None else batch
            tensors = [torch.from_numpy(np.ascontiguousarray(b)) for b in padded]
            rec = _Recording(module, wanted, score_nodes)
            try:
                rec.run(*args_state, *tensors)
            except ModelError:
                raise
            except Exception as exc:
                raise ModelError(source, f"epoch {epoch}: cannot compute activations: "
                                         f"{type(exc).__name__}: {one_line(exc)}") from None
            out = []
            for e in graph.entries:
                if e.input_index is not None:
                    out.append(drawn(np.asarray(batch[e.input_index]), e.tag, rows))
                else:
                    out.append(_value(rec.values.get(e.node), e.tag, rows, e.generic,
                                      e.info.name, graph.warnings,
                                      masked if e.functional else None))
            chunks.append(out)
            prob_chunks.append({k: _probs(v, len(padded[0]), rows)
                                for k, v in rec.probs.items()})
            del rec
    note_masked(graph.warnings, masked)
    activations = chunks[0] if len(chunks) == 1 else [
        np.concatenate([c[i] for c in chunks]) for i in range(len(graph.entries))]
    scores: dict[int, Scores] = dict(skipped)
    for i, e in enumerate(graph.entries):
        if e.scores is None or i in skipped:
            continue
        parts = [p.get(e.scores[1]) for p in prob_chunks]
        if any(p is None for p in parts):
            scores[i] = Scores(None, *e.sides, skipped="not computed for every batch")
            continue
        values = np.concatenate(parts) if len(parts) > 1 else parts[0]
        scores[i] = Scores(values, *e.sides)
    return activations, scores
