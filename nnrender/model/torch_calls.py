"""Module calls in an exported program: what ``nn_module_stack`` says, and the entries made
of them (``torch_graph`` walks the graph with these).

- ``module_stack``: an op's module calls, outermost first, as (call key, path, class); a
  key ends in ``@k`` for a later call of the same module (``call_number``: 1, 2, ...).
- ``is_layer_class``: a ``torch.nn`` layer (recorded whole: ``Conv2d``, ``LSTM``,
  ``MultiheadAttention``) rather than a container (``Sequential``).
- ``module_type``: a module call's Keras type and config, from its class and main op.
- ``input_tag``: where a model input keeps its channels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nnrender.model.channels_first import FEATURES_LAST, Tag, spatial
from nnrender.model.ir import LayerInfo
from nnrender.model.layer_kinds import (
    ACTIVATIONS,
    BLOCK_TYPES,
    MODULE_TYPES,
    pool_kind,
    spatial_suffix,
)
from nnrender.model.torch_ops import CONV_OPS, PASS_OPS, op_base

SHARED_MARK = "@"
WEIGHTED = frozenset({"Dense", "Embedding", "BatchNormalization", "LayerNormalization",
                      "LSTM", "GRU", "SimpleRNN", "Bidirectional",
                      "GroupNormalization", "RMSNormalization", "InstanceNormalization"})
_POOL_CLASS = re.compile(r"^(Adaptive)?(Max|Avg|LP)Pool(\d)d$")
_PAD_CLASS = re.compile(r"^(Zero|Constant|Reflection|Replication|Circular)Pad(\d)d$")
_CONV_CLASS = re.compile(r"^(Lazy)?Conv(Transpose)?(\d)d$")


@dataclass
class Entry:
    """One manifest entry and how to read it from a run: the value of fx node ``node``,
    stored by ``tag``; weights from module ``module`` (None: none of its own)."""

    info: LayerInfo
    node: str
    tag: Tag
    module: str | None = None
    input_index: int | None = None
    scores: tuple[str, str] | None = None  # ("sdpa" | "probs", node), attention scores
    sides: tuple[str | None, str | None] = (None, None)  # the query's and key's producers
    score_shape: tuple[int, int, int] | None = None  # (heads, queries, keys) as traced
    generic: bool = False  # a placeholder: zeros of shape (N, 1)
    functional: bool = False  # an op of a container, not a module call


@dataclass
class Call:
    """One module call as the exported graph's ``nn_module_stack`` tells it."""

    key: str
    path: str
    cls: str
    nodes: list[Any] = field(default_factory=list)
    deeper: bool = False

    @property
    def class_name(self) -> str:
        return self.cls.rpartition(".")[2]

    @property
    def torch_nn(self) -> bool:
        return self.cls.startswith("torch.nn.")


@dataclass
class TorchGraph:
    """The walked graph: entries (inputs first), the user inputs' placeholders, and the
    placeholders holding parameters, buffers and constants (node name -> name in the
    state dict or the constants)."""

    entries: list[Entry]
    input_nodes: list[str]
    input_shapes: list[list[int | None]]
    input_dtypes: list[str]
    state_nodes: list[tuple[str, str, str]]  # (node, kind, target) in placeholder order
    batch: int | None  # the traced batch size (None: free)
    warnings: list[str]
    fqns: list[str]


def module_stack(node: Any) -> list[tuple[str, str, str]]:
    stack = node.meta.get("nn_module_stack") or {}
    out = []
    for key, value in stack.items():
        path, cls = value[0], value[1]
        cls = cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"
        if path:
            out.append((str(key), str(path), cls))
    return out


def call_number(key: str) -> int:
    head, sep, tail = key.rpartition(SHARED_MARK)
    return int(tail) + 1 if sep and tail.isdigit() else 1


def is_layer_class(name: str) -> bool:
    """A ``torch.nn`` layer (recorded whole) rather than a container (``Sequential``)."""
    return (name in MODULE_TYPES and name not in BLOCK_TYPES) or name in ACTIVATIONS \
        or bool(_POOL_CLASS.match(name) or _PAD_CLASS.match(name) or _CONV_CLASS.match(name)
                or name.startswith(("Upsample", "Upsampling")))


def module_type(call: Call, out_rank: int, principal: tuple[str, dict] | None
                ) -> tuple[str, dict[str, Any]]:
    """A module call's Keras type and config (class name: an unknown module's)."""
    name = call.class_name
    known = call.torch_nn
    if known and _CONV_CLASS.match(name) and principal is not None:
        return principal
    if known and name in ACTIVATIONS:
        return "Activation", {"activation": ACTIVATIONS[name]}
    pool = _POOL_CLASS.match(name) if known else None
    if pool:
        kind = "max" if pool.group(2) == "Max" else "avg"
        config = dict(principal[1]) if principal else {}
        out = config.get("output_size") if pool.group(1) else None
        return pool_kind(kind, out, out_rank), config
    if known and name.startswith(("Upsample", "Upsampling")):
        return f"UpSampling{spatial_suffix(out_rank)}", {}
    if known and _PAD_CLASS.match(name):
        return f"ZeroPadding{spatial_suffix(out_rank)}", {}
    if known and name in MODULE_TYPES:
        kind = MODULE_TYPES[name]
        config = dict(principal[1]) if principal and principal[0] in (kind, "Bidirectional") \
            else {}
        if principal and principal[0] == "Bidirectional":
            return "Bidirectional", config
        return kind, config
    return name, {}


def input_tag(node: Any, rank: int) -> Tag:
    """An input's layout: maps and volumes channels-first; (N, C, L) when a 1-D
    convolution (or norm, pooling) reads it first; else features last."""
    if rank >= 4:
        return spatial(rank)
    if rank == 3:
        frontier, seen = [node], 0
        while frontier and seen < 50:
            n = frontier.pop(0)
            seen += 1
            for user in n.users:
                base = op_base(user.target) if user.op == "call_function" else ""
                if base in CONV_OPS or "pool" in base or "batch_norm" in base:
                    return spatial(rank)
                if base in PASS_OPS:
                    frontier.append(user)
                elif base:
                    return FEATURES_LAST
    return FEATURES_LAST
