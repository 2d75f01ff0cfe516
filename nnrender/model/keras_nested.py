"""Custom layers as sub-graphs: the Keras layer calls made inside a custom layer's ``call``.

A custom (subclassed, non-Keras) layer with sublayers, say a ``TransformerBlock`` holding a
``MultiHeadAttention``, two ``LayerNormalization`` and a ``Sequential`` feed-forward net, is
recorded as its nested calls followed by the block's own entry:

- Names: a nested call is ``<block>/<sublayer>`` (``NEST_MARK``, as for nested models), a
  second call of one sublayer within the same parent ``<block>/<sublayer>@2``; a nested
  Functional/Sequential model is flattened (``<block>/<model>/<layer>``, no entry of its
  own) and a nested custom layer with sublayers is expanded the same way, its own entry
  after its nested calls. Keras' own layers are never looked into.
- Edges: the block's call is traced once with TensorFlow (symbolic, batch axis free) while
  every ``Layer.__call__`` is observed; a nested call's ``inbound`` are the recorded tensors
  its inputs derive from, found by walking the traced graph back through plain ops
  (``x + attn`` links to both the block's input producers and the attention call), but
  not through ops that read only a shape (``ops.shape(x)``). A nested call whose inputs
  derive from no recorded tensor (a position embedding of ``arange(length)``, a mask) is
  not recorded: it is part of its parent's computation.
- The block's own entry comes last, its ``inbound`` the recorded tensors its output
  derives from (usually its last nested call); the rest of the graph links to the block
  entry, exactly as when the block is not expanded. ``config["nested"]`` counts its nested
  entries (at any depth) and ``config["same_as"]`` names the nested entry whose output it
  returns as is; each nested entry's ``config["parent"]`` names the expanded block it was
  called in (the nearest one: ``enc/first`` for ``enc/first/att``).
- Running: the block is called eagerly with the same observer, which keeps each recorded
  call's first output (and an attention layer's scores) by its call path.

Where the sublayers' calls cannot be observed (the trace fails, or no sublayer is called
through ``__call__``), the block stays one layer and the reader warns, naming it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from nnrender.model.keras_attention import (
    AttentionPolicy,
    attention_capable,
    attention_sides,
    bound_arguments,
    call_with_scores,
)
from nnrender.model.keras_env import keras_module, tensorflow_module
from nnrender.model.keras_types import is_container, is_model
from nnrender.model.scores import Scores

NEST_MARK = "/"
SHARED_MARK = "@"
WALK_LIMIT = 200_000  # ops visited per walk back through the traced graph
# Ops that read only their input's shape: no edge through them (positions from a length).
SHAPE_OPS = frozenset({"Shape", "ShapeN", "Size", "Rank", "ZerosLike", "OnesLike",
                       "VariableShape", "TensorListLength"})

CallKey = tuple[tuple[int, int], ...]  # (id(layer), call number) from the block down


@dataclass
class NestedEntry:
    """One recorded nested call, as traced."""

    key: CallKey
    layer: Any
    name: str
    outputs: Any  # the traced outputs (structure)
    flat: list[Any]
    inbound: list[str]
    container: bool = False
    nested: int = 0
    same_as: str | None = None
    attention: tuple[str | None, str | None] | None = None  # (query, key) producers


@dataclass
class BlockTrace:
    """What tracing a block found: its nested entries in order, and its own inbound."""

    entries: list[NestedEntry]
    inbound: list[str]
    same_as: str | None
    calls_seen: int  # sublayer calls observed (recorded or not)


@dataclass
class _Frame:
    key: CallKey
    layer: Any
    leaf: bool
    entry: bool  # gets an entry of its own (not a Functional model)
    base: str  # its name (the parent's prefix + layer name + @k)
    counts: dict[int, int] = field(default_factory=dict)
    first: int = 0  # entries recorded before its call began


_OBSERVERS: list[Any] = []


@contextmanager
def observing(observer: _Observer) -> Iterator[Any]:
    """Route every ``keras.layers.Layer.__call__`` through ``observer`` while active."""
    layer_cls = keras_module().layers.Layer
    original = layer_cls.__call__

    def observed(layer: Any, *args: Any, **kwargs: Any) -> Any:
        if not _OBSERVERS:
            return original(layer, *args, **kwargs)
        return _OBSERVERS[-1].call(layer, original, args, kwargs)

    layer_cls.__call__ = observed
    _OBSERVERS.append(observer)
    try:
        yield observer
    finally:
        _OBSERVERS.pop()
        layer_cls.__call__ = original


class _Observer:
    """Builds call paths for every sublayer call inside one block call (see the module
    docstring); subclasses decide what to keep."""

    def __init__(self, block_name: str) -> None:
        self.block_name = block_name
        self.stack: list[_Frame] = []
        self.calls_seen = 0

    def call(self, layer: Any, original: Callable, args: tuple, kwargs: dict) -> Any:
        if not self.stack:  # the block itself
            root = _Frame((), layer, leaf=False, entry=True, base=self.block_name)
            self.stack.append(root)
            try:
                return original(layer, *args, **kwargs)
            finally:
                self.stack.pop()
        parent = self.stack[-1]
        if parent.leaf:
            return original(layer, *args, **kwargs)
        self.calls_seen += 1
        k = parent.counts[id(layer)] = parent.counts.get(id(layer), 0) + 1
        base = parent.base + NEST_MARK + str(layer.name) + (f"{SHARED_MARK}{k}" if k > 1 else "")
        container = is_container(layer)
        frame = _Frame(parent.key + ((id(layer), k),), layer, leaf=not container,
                       entry=not is_model(layer), base=base)
        frame.first = self.mark()
        self.stack.append(frame)
        try:
            result = self.invoke(frame, lambda *a, **kw: original(layer, *a, **kw), args, kwargs)
        finally:
            self.stack.pop()
        self.done(frame, args, kwargs, result)
        return result

    def mark(self) -> int:
        return 0

    def invoke(self, frame: _Frame, run: Callable, args: tuple, kwargs: dict) -> Any:
        return run(*args, **kwargs)

    def done(self, frame: _Frame, args: tuple, kwargs: dict, result: Any) -> None:
        """A nested call returned."""


class _Probe(_Observer):
    """Traces the block symbolically: which calls to record, and their edges."""

    def __init__(self, block_name: str, tracked: dict[str, tuple[str, ...]],
                 unique: Callable[[str], str]) -> None:
        super().__init__(block_name)
        self.tf = tensorflow_module()
        self.tracked = dict(tracked)  # graph tensor name -> recorded producers
        self.unique = unique
        self.entries: list[NestedEntry] = []

    def tensors(self, value: Any) -> list[Any]:
        keras = keras_module()
        return [t for t in keras.tree.flatten(value) if isinstance(t, self.tf.Tensor)
                and hasattr(t, "op")]

    def walk(self, value: Any) -> list[str]:
        """The recorded producers ``value``'s tensors derive from, nearest first."""
        found: list[str] = []
        queue = deque(self.tensors(value))
        seen: set[str] = set()
        while queue and len(seen) < WALK_LIMIT:
            t = queue.popleft()
            if t.name in seen:
                continue
            seen.add(t.name)
            hit = self.tracked.get(t.name)
            if hit is not None:
                found.extend(n for n in hit if n not in found)
                continue
            if t.op.type not in SHAPE_OPS:
                queue.extend(t.op.inputs)
        return found

    def mark(self) -> int:
        return len(self.entries)

    def track(self, outputs: Any, name: str) -> None:
        for t in self.tensors(outputs):
            self.tracked[t.name] = (name,)

    def same_as(self, outputs: Any, first: int) -> str | None:
        """The nested entry (recorded since ``first``) whose output ``outputs`` is."""
        flat = self.tensors(outputs)
        if not flat:
            return None
        hit = self.tracked.get(flat[0].name)
        inner = {e.name for e in self.entries[first:]}
        return hit[0] if hit and len(hit) == 1 and hit[0] in inner else None

    def done(self, frame: _Frame, args: tuple, kwargs: dict, result: Any) -> None:
        if not frame.entry:  # a Functional model: its calls are the entries
            return
        keras = keras_module()
        if frame.leaf:  # in the signature's order: query before key, whatever the keywords
            bound = bound_arguments(frame.layer, args, kwargs)
            inbound = self.walk(list(bound.values()) if bound else (args, kwargs))
        else:
            inbound = self.walk(result)
        if not inbound:  # computed from constants only (positions, masks): not recorded
            return
        entry = NestedEntry(frame.key, frame.layer, self.unique(frame.base), result,
                            keras.tree.flatten(result), inbound, container=not frame.leaf)
        if entry.container:
            entry.nested = len(self.entries) - frame.first
            entry.same_as = self.same_as(result, frame.first)
        if frame.leaf and attention_capable(frame.layer):
            query, key = attention_sides(frame.layer, args, kwargs)
            q, k = self.walk(query), self.walk(key)
            entry.attention = (q[0] if q else None, k[0] if k else None)
        self.entries.append(entry)
        self.track(result, entry.name)

    def finish(self, result: Any) -> BlockTrace:
        same = self.same_as(result, 0)
        return BlockTrace(self.entries, self.walk(result), same, self.calls_seen)


def trace_block(layer: Any, arguments: Any, sources: dict[int, list[str]], name: str,
                unique: Callable[[str], str]) -> BlockTrace:
    """Trace one call of a custom layer (``arguments``: the node's symbolic arguments;
    ``sources``: per KerasTensor id, the recorded producers feeding it)."""
    tf = tensorflow_module()
    keras = keras_module()
    kts = list(arguments.keras_tensors)
    specs = [tf.TensorSpec(kt.shape, keras.backend.standardize_dtype(kt.dtype)) for kt in kts]
    found: dict[str, BlockTrace] = {}

    def probe(*tensors: Any) -> None:
        args, kwargs = arguments.fill_in({id(kt): t for kt, t in zip(kts, tensors, strict=True)})
        if "training" in getattr(layer, "_call_context_args", ()):
            kwargs["training"] = False
        tracked = {t.name: tuple(sources.get(id(kt), ())) for kt, t in
                   zip(kts, tensors, strict=True)}
        observer = _Probe(name, tracked, unique)
        with observing(observer):
            result = layer(*args, **kwargs)
        found["trace"] = observer.finish(result)

    tf.function(probe, autograph=False).get_concrete_function(*specs)
    return found["trace"]


class Collector(_Observer):
    """Runs the block eagerly, keeping the recorded calls' outputs and attention scores."""

    def __init__(self, block_name: str, wanted: dict[CallKey, NestedEntry],
                 policy: AttentionPolicy | None) -> None:
        super().__init__(block_name)
        self.wanted = wanted
        self.policy = policy
        self.outputs: dict[CallKey, Any] = {}
        self.scores: dict[CallKey, Scores] = {}

    def invoke(self, frame: _Frame, run: Callable, args: tuple, kwargs: dict) -> Any:
        entry = self.wanted.get(frame.key)
        if entry is None or entry.attention is None or self.policy is None:
            return run(*args, **kwargs)
        result, scores = call_with_scores(run, frame.layer, args, kwargs, self.policy)
        scores.query, scores.key = entry.attention
        self.scores[frame.key] = scores
        return result

    def done(self, frame: _Frame, args: tuple, kwargs: dict, result: Any) -> None:
        if frame.key in self.wanted:
            flat = keras_module().tree.flatten(result)
            self.outputs[frame.key] = flat[0] if flat else None
