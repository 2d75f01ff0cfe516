"""Keras graph walking: a Functional or Sequential model flattened into calls and entries.

Functional and Sequential models nested inside the model are flattened (their layers are
named ``<model>/<layer>``, and edges connect through the nesting); a layer called more than
once (a shared layer) is recorded once per call, the first call under its own name and call k
under ``<name>@k`` (with ``config["shared"]`` naming the first; its weights are stored with the
first call only). Plain ops between layers (``keras.ops.relu`` ...) get no entry: edges look
through them. ``keras_capture`` runs the resulting steps. This reads Keras' private graph
attributes (``_nodes_by_depth``, ``_operations``, ``_inbound_nodes``); if they change, the
reader says so in one line ("cannot read the model's graph") instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrender.errors import ModelError, one_line
from nnrender.model.capture import json_safe
from nnrender.model.ir import LayerInfo
from nnrender.model.keras_env import functional_class, keras_module

# Layer config fields worth showing in a picture or a figure caption.
CONFIG_KEYS = (
    "filters",
    "kernel_size",
    "strides",
    "dilation_rate",
    "depth_multiplier",
    "pool_size",
    "padding",
    "units",
    "activation",
    "rate",
    "data_format",
)


def small_config(layer: Any) -> dict[str, Any]:
    """The layer's config fields worth showing (``CONFIG_KEYS``), as JSON values."""
    try:
        config = layer.get_config()
    except Exception:  # custom layers without get_config: the picture does without
        return {}
    return {k: json_safe(config[k]) for k in CONFIG_KEYS if k in config}


def _shape(shape: Iterable[Any]) -> list[int | None]:
    return [None if d is None else int(d) for d in shape]


KNOWN_TYPES = frozenset(
    """
    InputLayer Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose
    DepthwiseConv1D DepthwiseConv2D SeparableConv1D SeparableConv2D
    MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D AveragePooling2D AveragePooling3D
    GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D
    GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D
    Dense EinsumDense Flatten Reshape Permute RepeatVector
    BatchNormalization LayerNormalization GroupNormalization UnitNormalization
    Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianNoise GaussianDropout
    AlphaDropout Activation ReLU LeakyReLU PReLU ELU Softmax
    Add Subtract Multiply Average Maximum Minimum Concatenate Dot
    UpSampling1D UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D
    Cropping1D Cropping2D Cropping3D Embedding LSTM GRU SimpleRNN Bidirectional
    MultiHeadAttention Attention AdditiveAttention Rescaling Normalization Identity
    """.split()
)
SHARED_MARK = "@"  # call k >= 2 of a shared layer is recorded as "<name>@k"
NEST_MARK = "/"  # a layer of a nested model is recorded as "<model>/<layer>"


@dataclass
class Step:
    """One operation call of the flattened graph: call ``op`` with ``arguments`` whose
    symbolic tensors (by id) are replaced by the values in ``in_slots``."""

    op: Any
    arguments: Any
    in_slots: dict[int, int]
    out_slots: list[int]
    record: int | None = None
    frees: list[int] = field(default_factory=list)


@dataclass
class Record:
    """One manifest entry: the value in ``slot``; ``layer`` gives the weights (None: none,
    e.g. an input or a later call of a shared layer)."""

    info: LayerInfo
    slot: int
    layer: Any | None = None
    input_index: int | None = None


@dataclass
class Graph:
    """The model flattened into calls: nested models expanded, shared layers once per call."""

    inputs: list[Any]
    input_names: list[str]
    steps: list[Step]
    records: list[Record]
    warnings: list[str]


def functional_of(op: Any) -> Any | None:
    """The functional graph behind a Functional or built Sequential model, else None (an
    ordinary layer, or a subclassed model whose ``call`` we cannot look into)."""
    keras = keras_module()
    functional = functional_class()
    if functional is None:  # private module moved: nested models are then drawn as one block
        return None
    if isinstance(op, keras.Sequential):
        fn = getattr(op, "_functional", None)
        return fn if isinstance(fn, functional) else None
    if isinstance(op, functional) and type(op).call is functional.call:
        return op
    return None


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
        self.n_slots = 0

    def slot(self) -> int:
        self.n_slots += 1
        return self.n_slots - 1

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def unique(self, base: str) -> str:
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}{SHARED_MARK}{k}"
        self.names.add(name)
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
            for s in in_slots.values():
                parents.extend(p for p in self.sources.get(s, []) if p not in parents)
            if isinstance(op, keras.layers.Layer) and outputs:
                step.record = self._record(op, prefix, k, outputs, out_slots[0], parents)
                produced = [self.records[step.record].info.name]
            else:  # a plain op (keras.ops.relu ...): no entry, edges look through it
                produced = parents
            for s in out_slots:
                self.sources[s] = produced
            self.steps.append(step)
        return [tensor_slot[id(t)] for t in fn.outputs]

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

    def _record(self, layer: Any, prefix: str, k: int, outputs: list[Any], slot: int,
                parents: list[str]) -> int:
        name = self.unique(self.call_name(prefix, layer, k))
        kind = type(layer).__name__
        config = small_config(layer)
        # The weights go with one entry per layer: its first call (the one without "@k").
        first = self.first_call.get(id(layer))
        owner = first is None and k == 1
        if owner:
            self.first_call[id(layer)] = name
        else:
            config["shared"] = first if first is not None else self.call_name(prefix, layer, 1)
        shape = _shape(outputs[0].shape[1:])
        if kind not in KNOWN_TYPES:
            config["generic"] = True
            self.warn(f"layer {name}: {kind} is not a known layer type; recorded as a "
                      f"generic layer with output shape {shape}")
        if len(outputs) > 1:
            self.warn(f"layer {name}: {kind} has {len(outputs)} outputs; only the first "
                      "is recorded")
        try:
            params = int(layer.count_params())
        except Exception:  # unbuilt or odd custom layers: the picture does without
            params = 0
        info = LayerInfo(name=name, type=kind, output_shape=shape,  # type: ignore[arg-type]
                         params=params, inbound=parents, config=config)
        self.records.append(Record(info, slot, layer if owner else None))
        return len(self.records) - 1


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


