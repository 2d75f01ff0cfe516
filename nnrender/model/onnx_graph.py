"""ONNX graph walking: nodes grouped into the module calls their names record.

``torch.onnx.export`` names each node by the module calls it ran in and its op,
``/layer1/layer1.0/conv1/Conv`` (``/features/1/block/0/Conv`` from a TorchScript module),
so the module path is ``layer1.0.conv1``; a second call of one module is scoped
``relu_1`` beside ``relu`` and becomes ``layer1.0.relu@2``. As in the PyTorch reader
(``torch_graph``):

- the nodes of a scope no other scope lies inside form one entry (a leaf module), named by
  its path; its type comes from the module's class where known (a TorchScript module) or
  from its ops (a ``Conv``, ``Gemm``, ``LSTM``...; a ``Softmax`` between ``MatMul``s is an
  attention); its output is the value the rest of the graph reads;
- a node directly in a container's scope is an entry of its own, ``layer1.0.add``
  (``@k`` for the k-th such op of the container); nodes without scoped names (other
  exporters) are entries named by their node name;
- values that only pass a tensor on (``Identity``, ``Cast``) or depend on a shape only
  (``Shape``, ``ConstantOfShape``) have no entry, nor do values computed from no input;
- ``inbound``: the recorded entries a value derives from, in input order.

Weights come from the initializers in Keras' layout (``onnx_ops``); a BatchNorm folded
into its convolution by the exporter simply has no entry.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrender.errors import ModelError
from nnrender.model.channels_first import FEATURES_LAST, Tag, drawn_shape, spatial, traced_batch
from nnrender.model.ir import LayerInfo
from nnrender.model.layer_kinds import (
    ACTIVATIONS,
    MODULE_TYPES,
    OWN_TYPES,
    GraphWalk,
    placeholder_warning,
    shape_only_summary,
    undrawable,
)
from nnrender.model.onnx_ops import (
    PASS,
    RECURRENT,
    SHAPE,
    Constants,
    node_tag,
    node_type,
    node_weights,
)

_REPEAT = re.compile(r"^(.+)_(\d+)$")
_PRINCIPAL = ("Conv", "ConvTranspose", "LSTM", "GRU", "RNN", "Gemm", "MatMul",
              "BatchNormalization", "LayerNormalization", "InstanceNormalization",
              "GroupNormalization", "MaxPool", "AveragePool", "GlobalAveragePool",
              "GlobalMaxPool", "Gather", "Softmax", "Resize", "Flatten")


@dataclass
class OnnxEntry:
    """One manifest entry: the value ``value``, stored by ``tag``, weights from ``main``
    (the entry's principal node) and its ``nodes``."""

    info: LayerInfo
    value: str
    tag: Tag
    main: Any = None
    nodes: list[Any] = field(default_factory=list)
    input_index: int | None = None
    probs: str | None = None  # the value holding attention probabilities
    sides: tuple[str | None, str | None] = (None, None)
    generic: bool = False
    functional: bool = False  # one node of a container, not a module call


@dataclass
class OnnxGraph:
    entries: list[OnnxEntry]
    inputs: list[str]
    warnings: list[str]


def scope(name: str) -> list[str]:
    """A node name's module scopes as cumulative paths (``/a/a.0/conv/Conv`` -> ``a``,
    ``a.0``, ``a.0.conv``); empty for a name without scopes."""
    parts = name.split("/")
    if len(parts) < 3 or parts[0] != "":
        return []
    paths: list[str] = []
    path, last = "", ""
    for c in parts[1:-1]:
        if last and c.startswith(last + "."):
            path = path + c[len(last):]
        else:
            path = f"{path}.{c}" if path else c
        last = c
        paths.append(path)
    return paths


def _call_names(all_paths: set[str]) -> dict[str, str]:
    """Each scope path's entry name: ``a.relu_1`` is ``a.relu@2`` when ``a.relu`` exists."""
    out = {}
    for p in all_paths:
        head, _, leaf = p.rpartition(".")
        m = _REPEAT.match(leaf)
        base = f"{head}.{m.group(1)}" if m and head else (m.group(1) if m else None)
        out[p] = f"{base}@{int(m.group(2)) + 1}" if m and base in all_paths else p
    return out


def _class_type(cls: str, nodes: list[Any], consts: Constants, tags: dict[str, Tag],
                shapes: dict[str, list[int]]) -> tuple[str, dict[str, Any]] | None:
    if cls in ACTIVATIONS:
        return "Activation", {"activation": ACTIVATIONS[cls]}
    if cls in MODULE_TYPES and not cls.startswith(("Conv", "LSTM", "GRU", "RNN")):
        return MODULE_TYPES[cls], {}
    return None


class _Walk(GraphWalk):
    def __init__(self, graph: Any, shapes: dict[str, list[int]], batch: int | None,
                 classes: dict[str, str]) -> None:
        super().__init__(batch)
        self.graph = graph
        self.shapes = shapes
        self.classes = classes
        self.consts = Constants(graph)
        self.entries: list[OnnxEntry] = []
        self.counts: Counter = Counter()

    def groups(self) -> tuple[dict[int, str], dict[str, list[int]], dict[str, str]]:
        nodes = list(self.graph.node)
        scopes = [scope(n.name) for n in nodes]
        paths = {p for s in scopes for p in s}
        names = _call_names(paths)
        inner = {p for p in paths if any(q.startswith(p + ".") for q in paths)}
        unit: dict[int, str] = {}
        members: dict[str, list[int]] = {}
        for i, s in enumerate(scopes):
            leaf = next((p for p in s if p not in inner), None)
            if leaf is not None:
                unit[i] = leaf
                members.setdefault(leaf, []).append(i)
        return unit, members, names

    def record(self, value: str, name: str, kind: str, config: dict[str, Any],
               inbound: list[str], functional: bool, **extra: Any) -> OnnxEntry | None:
        shape = self.shapes.get(value)
        tag = self.tags.get(value, FEATURES_LAST)
        drawn = None
        if shape:
            batch = traced_batch(tag, shape, self.batch) if self.batch else tag.batch
            if batch is not None:
                tag = tag if batch == tag.batch else Tag(batch, None)
                drawn = drawn_shape(shape, tag)
            else:
                tag = Tag(None, tag.channel)
        reason = undrawable(drawn, shape is not None)
        if reason is not None and functional:
            return None
        name = self.unique(name)
        generic = False
        if reason is not None:
            config["generic"] = True
            generic = True
            self.warn(placeholder_warning(name, kind, "no batch axis" if shape else reason,
                                          drawn or []))
        elif kind not in OWN_TYPES:
            self.shape_only[kind] += 1
        info = LayerInfo(name=name, type=kind, output_shape=drawn or [1], inbound=inbound,
                         config=config)
        entry = OnnxEntry(info, value, tag, generic=generic, **extra)
        self.entries.append(entry)
        return entry

    def _tag(self, node: Any) -> None:
        ins = [(i, self.tags.get(i, FEATURES_LAST), self.shapes.get(i, []))
               for i in node.input if i and i in self.derived]
        for k, out in enumerate(node.output):
            if out:
                self.tags[out] = node_tag(node, ins, self.shapes.get(out, []), self.consts, k)

    def walk(self, inputs: list[str], input_tags: dict[str, Tag]) -> None:
        nodes = list(self.graph.node)
        unit, members, call_names = self.groups()
        self.readers: dict[str, list[int]] = {}
        for j, n in enumerate(nodes):
            for x in n.input:
                self.readers.setdefault(x, []).append(j)
        for i, name in enumerate(inputs):
            self.tags[name] = input_tags[name]
            self.derived.add(name)
            entry = self.record(name, name, "InputLayer", {}, [], False, input_index=i)
            assert entry is not None
            self.src[name] = [entry.info.name]
        outputs = {o.name for o in self.graph.output}
        for i, node in enumerate(nodes):
            if node.op_type not in SHAPE and any(x in self.derived for x in node.input if x):
                self.derived.update(o for o in node.output if o)
            self._tag(node)
            src: list[str] = []
            for x in node.input:
                src.extend(s for s in self.src.get(x, []) if s not in src)
            for o in node.output:
                self.src[o] = src if o in self.derived else []
            path = unit.get(i)
            if path is not None:
                group = members[path]
                if i == group[-1]:
                    self._group_entry(path, call_names[path], group, nodes, outputs)
            elif node.output and node.output[0] in self.derived and node.op_type not in PASS:
                self._node_entry(node)

    def _group_entry(self, path: str, name: str, group: list[int], all_nodes: list[Any],
                     outputs: set[str]) -> None:
        nodes = [all_nodes[j] for j in group]
        made = {o for n in nodes for o in n.output}
        mine = set(group)
        out = [o for n in nodes for o in n.output if o in self.derived
               and (o in outputs or any(j not in mine for j in self.readers.get(o, ())))]
        if not out:
            return
        value = self._choose(nodes, out)
        ops = [n.op_type for n in nodes]
        main = next((n for op in _PRINCIPAL for n in nodes if n.op_type == op), nodes[-1])
        first_in = next((x for x in main.input if x in self.tags), None)
        kind, config = node_type(main, self.consts, self.tags.get(first_in, FEATURES_LAST),
                                 self.shapes.get(first_in, []), self.shapes.get(value, []))
        probs = None
        if "Softmax" in ops and ops.count("MatMul") >= 2:
            kind, config = "MultiHeadAttention", {}
            soft = next(n for n in nodes if n.op_type == "Softmax")
            probs = soft.output[0]
            shape = self.shapes.get(probs, [])
            if len(shape) == 3 and self.batch and shape[0] % self.batch == 0:
                config["num_heads"] = shape[0] // self.batch
            elif len(shape) == 4:
                config["num_heads"] = shape[1]
        elif "Erf" in ops:
            kind, config = "Activation", {"activation": "gelu"}
        cls = self.classes.get(path.rsplit("@", 1)[0])
        if cls:
            known = _class_type(cls, nodes, self.consts, self.tags, self.shapes)
            if known is not None and kind not in ("MultiHeadAttention",):
                config = {**config, **known[1]} if known[0] == kind else dict(known[1])
                kind = known[0]
            if cls != kind:
                config["class"] = cls
        externals = [x for n in nodes for x in n.input if x and x not in made and self.src.get(x)]
        sides = list(dict.fromkeys(self.src[x][0] for x in externals))
        entry = self.record(value, name, kind, config, list(self.src.get(value, [])), False,
                            main=main, nodes=nodes, probs=probs,
                            sides=(sides[0], sides[1] if len(sides) > 1 else sides[0])
                            if sides else (None, None))
        if entry is not None:
            for o in out:
                self.src[o] = [entry.info.name]

    def _choose(self, nodes: list[Any], out: list[str]) -> str:
        soft = {n.output[0] for n in nodes if n.op_type == "Softmax"}
        plain = [o for o in out if o not in soft] or out
        for n in nodes:  # the first output of a multi-output node (an LSTM's Y)
            if n.op_type in RECURRENT and all(o in n.output for o in plain):
                return min(plain, key=list(n.output).index)
        return plain[-1]

    def _node_entry(self, node: Any) -> None:
        s = scope(node.name)
        prefix = s[-1] if s else ""
        op = node.op_type
        if s or node.name.startswith("/") or not node.name:
            self.counts[(prefix, op)] += 1
            k = self.counts[(prefix, op)]
            base = f"{prefix}.{op.lower()}" if prefix else op.lower()
            name = base + (f"@{k}" if k > 1 else "")
        else:
            name = node.name
        value = node.output[0]
        first_in = next((x for x in node.input if x in self.derived), None)
        kind, config = node_type(node, self.consts, self.tags.get(first_in, FEATURES_LAST),
                                 self.shapes.get(first_in, []), self.shapes.get(value, []))
        entry = self.record(value, name, kind, config, list(self.src.get(value, [])), True,
                            main=node, nodes=[node])
        if entry is not None:
            entry.functional = True
        if entry is not None:
            self.src[value] = [entry.info.name]

    def weights(self, entry: OnnxEntry) -> list[Any]:
        if entry.main is None:
            return []
        return node_weights(entry.main, self.consts, entry.info.type, entry.info.config,
                            entry.nodes)


def input_tag(graph: Any, name: str, rank: int) -> Tag:
    """Maps and volumes channels-first; (N, C, L) when a convolution reads it first."""
    if rank >= 4:
        return spatial(rank)
    if rank == 3:
        frontier = [name]
        for node in graph.node:
            if any(x in frontier for x in node.input):
                if node.op_type in ("Conv", "BatchNormalization", "MaxPool", "AveragePool",
                                    "InstanceNormalization"):
                    return spatial(rank)
                if node.op_type in PASS:
                    frontier.extend(node.output)
                    continue
                return FEATURES_LAST
    return FEATURES_LAST


def build_onnx_graph(model: Any, inputs: list[str], shapes: dict[str, list[int]],
                     batch: int | None, source: str | Path,
                     classes: dict[str, str] | None = None) -> tuple[OnnxGraph, Any]:
    """Walk the model's graph (see the module docstring); ``shapes``: every value's shape
    from a first run. Returns the graph and the walk (for the weights)."""
    walk = _Walk(model.graph, shapes, batch, classes or {})
    tags = {name: input_tag(model.graph, name, len(shapes.get(name, []))) for name in inputs}
    walk.walk(inputs, tags)
    if len(walk.entries) == len(inputs):
        raise ModelError(source, "the model has no layers besides its input")
    summary = shape_only_summary(walk.shape_only)
    if summary:
        walk.warn(summary)
    return OnnxGraph(walk.entries, inputs, walk.warnings), walk
