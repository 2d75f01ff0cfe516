"""Keras graph walking: a Functional or Sequential model flattened into calls and entries.

Functional and Sequential models nested inside the model are flattened (their layers are
named ``<model>/<layer>``, and edges connect through the nesting); a layer called more than
once (a shared layer) is recorded once per call, the first call under its own name and call k
under ``<name>@k`` (with ``config["shared"]`` naming the first; its weights are stored with the
first call only). Plain ops between layers (``keras.ops.relu`` ...) get no entry: edges look
through them. Custom layers with sublayers are recorded as a sub-graph of their nested calls
followed by their own entry (``keras_nested``). Attention layers are marked so that the run
records their scores (``keras_attention``). ``keras_run`` runs the resulting steps. This
reads Keras' private graph attributes (``_nodes_by_depth``, ``_operations``,
``_inbound_nodes``); if they change, the reader says so in one line ("cannot read the
model's graph") instead of a traceback.

Layer kinds (``keras_types``): known Keras types are recorded silently; other types whose
output has a drawable rank (1-4) are recorded by their shape, listed in one summary warning
with counts; outputs with no drawable shape become placeholders (``config["generic"]``)
with a warning naming the layer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrender.errors import ModelError, one_line
from nnrender.model.ir import LayerInfo
from nnrender.model.keras_attention import (
    AttentionPolicy,
    attention_capable,
    attention_sides,
    bound_arguments,
)
from nnrender.model.keras_env import keras_module
from nnrender.model.keras_nested import (
    NEST_MARK,
    SHARED_MARK,
    CallKey,
    NestedEntry,
    trace_block,
)
from nnrender.model.keras_types import (
    KNOWN_TYPES,
    functional_of,
    is_builtin,
    is_container,
    placeholder_warning,
    shape_only_summary,
    small_config,
    undrawable,
)

__all__ = ["NEST_MARK", "SHARED_MARK", "Graph", "Record", "Step", "build_graph",
           "functional_of", "ordered_nodes"]


def _shape(shape: Iterable[Any]) -> list[int | None]:
    return [None if d is None else int(d) for d in shape]


@dataclass
class Step:
    """One operation call of the flattened graph: call ``op`` with ``arguments`` whose
    symbolic tensors (by id) are replaced by the values in ``in_slots``. ``attention``:
    record the call's scores, (query, key) producers; ``nested``: the recorded calls
    inside a custom layer, by call path, with their record indices."""

    op: Any
    arguments: Any
    in_slots: dict[int, int]
    out_slots: list[int]
    record: int | None = None
    frees: list[int] = field(default_factory=list)
    attention: tuple[str | None, str | None] | None = None
    nested: dict[CallKey, tuple[int, NestedEntry]] | None = None


@dataclass
class Record:
    """One manifest entry; an input's value is in ``slot`` (a layer's entry is filled by
    its step). ``layer`` gives the weights (None: none, e.g. an input or a later call of a
    shared layer), less the variables in ``exclude`` (those of an expanded block's recorded
    sublayers)."""

    info: LayerInfo
    slot: int
    layer: Any | None = None
    input_index: int | None = None
    exclude: frozenset[int] = frozenset()


@dataclass
class Graph:
    """The model flattened into calls: nested models expanded, shared layers once per call."""

    inputs: list[Any]
    input_names: list[str]
    steps: list[Step]
    records: list[Record]
    warnings: list[str]
    policy: AttentionPolicy | None = None  # set by the capture before running


def ordered_nodes(fn: Any) -> list[Any]:
    """The graph's nodes in execution order: deepest first, as Keras runs them, and within
    one depth in the order of ``model.layers`` (so single-call models keep that order)."""
    index = {id(op): i for i, op in enumerate(fn._operations)}
    nodes: list[Any] = []
    for depth in sorted(fn._nodes_by_depth, reverse=True):
        group = list(fn._nodes_by_depth[depth])
        group.sort(key=lambda node: index.get(id(node.operation), len(index)))
        nodes.extend(group)
    return nodes


def _params(layer: Any, exclude: frozenset[int]) -> int:
    try:
        if exclude:
            return int(sum(math.prod(int(d) for d in v.shape) for v in layer.weights
                           if id(v) not in exclude))
        return int(layer.count_params())
    except Exception:  # unbuilt or odd custom layers: the picture does without
        return 0


class _GraphBuilder:
    """Walks a functional graph, appending steps and entries (see ``build_graph``)."""

    def __init__(self, source: str | Path) -> None:
        self.source = source
        self.steps: list[Step] = []
        self.records: list[Record] = []
        self.warnings: list[str] = []
        self.sources: dict[int, list[str]] = {}  # slot -> nearest recorded producers
        self.first_call: dict[int, str] = {}  # id(layer) -> name of its first recorded call
        self.names: set[str] = set()
        self.shape_only: Counter = Counter()
        self.n_slots = 0

    def slot(self) -> int:
        self.n_slots += 1
        return self.n_slots - 1

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def unique(self, base: str, names: set[str] | None = None) -> str:
        names = self.names if names is None else names
        name, k = base, 1
        while name in names:
            k += 1
            name = f"{base}{SHARED_MARK}{k}"
        names.add(name)
        return name

    @staticmethod
    def call_numbers(nodes: list[Any]) -> dict[int, int]:
        """Per node, which call of its operation it is (1, 2 ...) in the order the user's
        code made the calls (Keras' node order), not the order they run in."""
        per_op: dict[int, list[Any]] = {}
        for node in nodes:
            per_op.setdefault(id(node.operation), []).append(node)
        numbers: dict[int, int] = {}
        for group in per_op.values():
            made = {id(n): i for i, n in enumerate(group[0].operation._inbound_nodes)}
            group = sorted(group, key=lambda n: made.get(id(n), len(made)))
            numbers.update((id(n), k) for k, n in enumerate(group, start=1))
        return numbers

    @staticmethod
    def call_name(prefix: str, op: Any, k: int) -> str:
        return prefix + str(op.name) + (f"{SHARED_MARK}{k}" if k > 1 else "")

    def add_input(self, tensor: Any, index: int) -> int:
        op = tensor._keras_history.operation
        slot = self.slot()
        name = self.unique(str(op.name))
        info = LayerInfo(name=name, type="InputLayer",
                         output_shape=_shape(tensor.shape[1:]),  # type: ignore[arg-type]
                         params=0, inbound=[], config={})
        self.records.append(Record(info, slot, None, input_index=index))
        self.sources[slot] = [name]
        return slot

    def expand(self, fn: Any, prefix: str, input_slots: list[int]) -> list[int]:
        """Append ``fn``'s calls; returns the slots of its (flattened) outputs."""
        keras = keras_module()
        tensor_slot = {id(t): s for t, s in zip(fn.inputs, input_slots, strict=True)}
        nodes = [n for n in ordered_nodes(fn) if n.operation and not n.is_input]
        numbers = self.call_numbers(nodes)
        for node in nodes:
            if any(id(x) not in tensor_slot for x in node.input_tensors):
                continue  # not computable from these inputs (Keras skips it too)
            op = node.operation
            k = numbers[id(node)]
            outputs = keras.tree.flatten(node.outputs)
            inner = functional_of(op)
            if inner is not None:
                inner_inputs = self._nested_inputs(node, inner)
                if inner_inputs is not None:
                    name = self.call_name(prefix, op, k)
                    out_slots = self.expand(
                        inner, name + NEST_MARK, [tensor_slot[id(t)] for t in inner_inputs]
                    )
                    for x, s in zip(outputs, out_slots, strict=False):
                        tensor_slot[id(x)] = s
                    continue
            in_slots = {id(x): tensor_slot[id(x)] for x in node.input_tensors}
            out_slots = [self.slot() for _ in outputs]
            for x, s in zip(outputs, out_slots, strict=True):
                tensor_slot[id(x)] = s
            step = Step(op, node.arguments, in_slots, out_slots)
            parents: list[str] = []
            for s in self._ordered_slots(op, node, in_slots):
                parents.extend(p for p in self.sources.get(s, []) if p not in parents)
            if isinstance(op, keras.layers.Layer) and outputs:
                name = self.unique(self.call_name(prefix, op, k))
                if is_container(op) and not is_builtin(op):
                    self._block(step, op, name, node, in_slots, parents)
                if step.record is None:
                    step.record = self._record(op, name, k, node.outputs, parents,
                                               self.call_name(prefix, op, 1))
                if attention_capable(op):
                    step.attention = self._sides(op, node, tensor_slot)
                produced = [self.records[step.record].info.name]
            else:  # a plain op (keras.ops.relu ...): no entry, edges look through it
                produced = parents
            for s in out_slots:
                self.sources[s] = produced
            self.steps.append(step)
        return [tensor_slot[id(t)] for t in fn.outputs]

    @staticmethod
    def _ordered_slots(op: Any, node: Any, in_slots: dict[int, int]) -> list[int]:
        """The input slots in the order of the call's signature (a query before its key,
        however the keywords were written)."""
        keras = keras_module()
        bound = bound_arguments(op, node.arguments.args, node.arguments.kwargs) \
            if isinstance(op, keras.layers.Layer) and node.arguments.kwargs else {}
        order = [in_slots[id(t)] for t in keras.tree.flatten(list(bound.values()))
                 if id(t) in in_slots]
        return list(dict.fromkeys(order + list(in_slots.values())))

    def _sides(self, op: Any, node: Any, tensor_slot: dict[int, int]
               ) -> tuple[str | None, str | None]:
        """The recorded producers of an attention call's query and key."""
        query, key = attention_sides(op, node.arguments.args, node.arguments.kwargs)

        def producer(t: Any) -> str | None:
            found = self.sources.get(tensor_slot.get(id(t), -1), [])
            return found[0] if found else None

        return producer(query), producer(key)

    def _nested_inputs(self, node: Any, inner: Any) -> list[Any] | None:
        """The outer tensors feeding a nested model's inputs, in ``inner.inputs`` order;
        None when the call does not map plainly (then the model is one generic block)."""
        keras = keras_module()
        args = node.arguments.args
        value = args[0] if args else node.arguments.kwargs.get("inputs")
        if isinstance(value, dict) and not isinstance(inner._inputs_struct, dict):
            try:
                value = [value[t.name] for t in inner.inputs]
            except KeyError:
                return None
        flat = keras.tree.flatten(value)
        if len(flat) != len(inner.inputs) or not all(
            isinstance(t, keras.KerasTensor) for t in flat
        ):
            return None
        return flat

    def _record(self, layer: Any, name: str, k: int, outputs: Any, parents: list[str],
                first_name: str, *, expanded: bool = False,
                exclude: frozenset[int] = frozenset()) -> int:
        """Append the entry of one layer call (``outputs``: its output structure)."""
        keras = keras_module()
        flat = keras.tree.flatten(outputs)
        kind = type(layer).__name__
        config = small_config(layer)
        # The weights go with one entry per layer: its first call (the one without "@k").
        first = self.first_call.get(id(layer))
        owner = first is None and k == 1
        if owner:
            self.first_call[id(layer)] = name
        else:
            config["shared"] = first if first is not None else first_name
        head = flat[0] if flat else None
        shape = _shape(head.shape[1:]) if getattr(head, "shape", None) is not None else []
        reason = undrawable(outputs, head)
        if reason is not None:
            config["generic"] = True
            self.warn(placeholder_warning(name, kind, reason, shape))
        elif not expanded and (kind not in KNOWN_TYPES or not is_builtin(layer)) \
                and "base" not in config:
            self.shape_only[kind] += 1
        if len(flat) > 1 and reason is None and not config.get("return_state") \
                and not attention_capable(layer):
            self.warn(f"layer {name}: {kind} has {len(flat)} outputs; only the first "
                      "is recorded")
        info = LayerInfo(name=name, type=kind, output_shape=shape,  # type: ignore[arg-type]
                         params=_params(layer, exclude), inbound=parents, config=config)
        self.records.append(Record(info, -1, layer if owner else None, exclude=exclude))
        return len(self.records) - 1

    def _block(self, step: Step, op: Any, name: str, node: Any, in_slots: dict[int, int],
               parents: list[str]) -> None:
        """Record a custom layer's nested calls, then its own entry (``keras_nested``);
        leaves ``step.record`` None when they cannot be reached (one block, warned)."""
        kind = type(op).__name__
        sources = {tid: self.sources.get(s, []) for tid, s in in_slots.items()}
        names = set(self.names)
        try:
            trace = trace_block(op, node.arguments, sources, name,
                                lambda base: self.unique(base, names))
        except Exception as exc:  # the call cannot be traced: one block
            self.warn(f"layer {name}: the layers inside {kind} could not be traced "
                      f"({one_line(exc, 160)}); recorded as one block")
            return
        if not trace.entries:
            if not trace.calls_seen:
                self.warn(f"layer {name}: {kind} has sublayers but calls none of them "
                          "through Keras; recorded as one block")
            return
        self.names = names
        nested: dict[CallKey, tuple[int, NestedEntry]] = {}
        owned: set[int] = set()
        containers = {e.key: e.name for e in trace.entries if e.container}
        for entry in trace.entries:
            layer = entry.layer
            parent = next((containers[entry.key[:n]] for n in range(len(entry.key) - 1, 0, -1)
                           if entry.key[:n] in containers), name)
            if entry.container:
                mine = frozenset(id(v) for e in trace.entries if e.key[:len(entry.key)] ==
                                 entry.key and e is not entry for v in e.layer.weights)
            else:
                mine = frozenset()
            # k=1: a nested layer's first recorded call owns its weights
            index = self._record(layer, entry.name, 1, entry.outputs, entry.inbound,
                                 entry.name, expanded=entry.container, exclude=mine)
            info = self.records[index].info
            info.config["parent"] = parent  # the expanded block it was called in
            if entry.container:
                info.config.update(nested=entry.nested,
                                   **({"same_as": entry.same_as} if entry.same_as else {}))
            nested[entry.key] = (index, entry)
            owned.update(id(v) for v in layer.weights)
        step.record = self._record(op, name, 1, node.outputs, trace.inbound or parents, name,
                                   expanded=True, exclude=frozenset(owned))
        info = self.records[step.record].info
        info.config["nested"] = len(trace.entries)
        if trace.same_as:
            info.config["same_as"] = trace.same_as
        step.nested = nested


def build_graph(model: Any, source: str | Path) -> Graph:
    """Flatten the model into calls and manifest entries. Shapes with unknown dimensions
    stay None here; the first activations fill them in."""
    fn = functional_of(model)
    try:
        inputs = list(fn.inputs) if fn is not None else []
    except Exception:
        inputs = []
    if fn is None or not inputs:
        raise ModelError(
            source,
            "the model has no defined input (a subclassed or unbuilt model); "
            "save a Functional or Sequential model built with keras.Input",
        )
    builder = _GraphBuilder(source)
    slots = [builder.add_input(t, i) for i, t in enumerate(inputs)]
    try:
        builder.expand(fn, "", slots)
    except ModelError:
        raise
    except Exception as exc:  # private graph attributes changed shape: say so in one line
        raise ModelError(source, f"cannot read the model's graph: {one_line(exc)}") from None
    if len(builder.records) == len(inputs):
        raise ModelError(source, "the model has no layers besides its input")
    summary = shape_only_summary(builder.shape_only)
    if summary:
        builder.warn(summary)
    last_use: dict[int, int] = {}
    for i, step in enumerate(builder.steps):
        for s in step.in_slots.values():
            last_use[s] = i
    for s, i in last_use.items():
        builder.steps[i].frees.append(s)
    for step in builder.steps:  # outputs nobody reads are dropped as soon as they are made
        step.frees.extend(s for s in step.out_slots if s not in last_use)
    return Graph(
        inputs=inputs,
        input_names=[r.info.name for r in builder.records[: len(inputs)]],
        steps=builder.steps,
        records=builder.records,
        warnings=builder.warnings,
    )
