"""PyTorch graph walking: an exported program (``torch.export``) as manifest entries.

Every op of the exported graph carries ``nn_module_stack``, the module calls it ran in
(path, class, and a key per call). From that:

- a module call is one entry when it is a leaf (it calls no other module, or it is a
  ``torch.nn`` layer such as ``MultiheadAttention``, whose insides are not modules): named
  by its path (``layer1.0.conv1``), a second call of the same module ``layer1.0.relu@2``.
  Its output is the value of its ops that the rest of the graph reads (the first output of
  a tuple; never the attention probabilities an attention also returns).
- containers (``Sequential``, a ResNet block, the model itself) have no entry of their own:
  their own ops are entries named by the container's path and the op, ``layer1.0.add``,
  ``@k`` for the k-th such op in the same container. Ops that only pass a value on (views
  of a tuple, ``contiguous``, dtype casts) or only read a shape get none, nor do ops whose
  inputs derive from no model input (a position table, a mask).
- ``torch.nn``'s transformer layers (``TransformerEncoderLayer``/``DecoderLayer``) are
  blocks: their sub-modules' entries (``enc.self_attn``, ``enc.norm1``, with
  ``config["parent"]``), then the block's own entry (``config["nested"]``, ``same_as``).
- ``inbound``: the recorded entries a value derives from, looking through the values
  without entries, in argument order.

Types use the Keras vocabulary (``layer_kinds``, ``torch_ops``); each value gets a
``channels_first.Tag`` so the run stores it channels-last, batch first.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from nnrender.errors import ModelError
from nnrender.model.channels_first import FEATURES_LAST, Tag, drawn_shape, traced_batch
from nnrender.model.ir import LayerInfo
from nnrender.model.layer_kinds import (
    BLOCK_TYPES,
    MODULE_TYPES,
    OWN_TYPES,
    GraphWalk,
    placeholder_warning,
    shape_only_summary,
    undrawable,
)
from nnrender.model.torch_calls import (
    SHARED_MARK,
    WEIGHTED,
    Call,
    Entry,
    TorchGraph,
    call_number,
    input_tag,
    is_layer_class,
    module_stack,
    module_type,
)
from nnrender.model.torch_ops import (
    ATTENTION_OPS,
    CONV_OPS,
    PASS_OPS,
    SHAPE_OPS,
    feeds_into,
    is_tensor_value,
    meta_dtype,
    meta_shape,
    meta_value,
    node_inputs,
    node_tag,
    op_base,
    op_config,
    op_type,
    softmax_derived,
)

__all__ = ["Entry", "TorchGraph", "build_graph", "input_tag"]


class _Walk(GraphWalk):
    """Walks the nodes once, appending entries (see the module docstring)."""

    def __init__(self, nodes: list[Any], batch: int | None) -> None:
        super().__init__(batch)
        self.nodes = nodes
        self.entries: list[Entry] = []
        self.op_counts: Counter = Counter()
        self.calls: dict[str, Call] = {}
        self.unit: dict[str, str] = {}  # node -> leaf call key
        self.blocks: dict[str, list[str]] = {}  # node -> block call keys, outermost first
        self.outputs: dict[str, str] = {}  # leaf or block call key -> output node
        self.block_start: dict[str, int] = {}

    # ------------------------------------------------------------------ module calls

    def find_calls(self) -> None:
        for node in self.nodes:
            if node.op != "call_function":
                continue
            frames = module_stack(node)
            for depth, (key, path, cls) in enumerate(frames):
                call = self.calls.setdefault(key, Call(key, path, cls))
                call.nodes.append(node)
                if depth < len(frames) - 1:
                    call.deeper = True
        for node in self.nodes:
            if node.op != "call_function":
                continue
            for key, _, _ in module_stack(node):
                call = self.calls[key]
                if call.torch_nn and call.class_name in BLOCK_TYPES and call.deeper:
                    self.blocks.setdefault(node.name, []).append(key)
                    continue
                if not call.deeper or (call.torch_nn and is_layer_class(call.class_name)):
                    self.unit[node.name] = key
                    break
        for key, call in self.calls.items():
            names = {n.name for n in call.nodes}
            is_leaf = any(self.unit.get(n.name) == key for n in call.nodes)
            is_block = any(key in self.blocks.get(n.name, []) for n in call.nodes)
            if is_leaf or is_block:
                self.outputs[key] = self._output(call.nodes, names)

    @staticmethod
    def _output(nodes: list[Any], names: set[str]) -> str:
        """The node whose value a call returns: read outside the call; the first item of a
        tuple; not attention probabilities; else the last computed."""
        out = [n for n in nodes if feeds_into(n, names) and is_tensor_value(meta_value(n))]
        if not out:
            tensors = [n for n in nodes if is_tensor_value(meta_value(n))]
            return (tensors or nodes)[-1].name
        plain = [n for n in out if not softmax_derived(n, names)] or out
        items = [n for n in plain if op_base(n.target) == "getitem"]
        if items and len({n.args[0].name for n in items}) == 1 and len(items) == len(plain):
            return min(items, key=lambda n: n.args[1]).name
        return plain[-1].name

    # ------------------------------------------------------------------ entries

    def add_input(self, node: Any, index: int, rank_hint: Tag) -> None:
        name = self.unique(node.name)
        shape = meta_shape(node) or []
        self.tags[node.name] = rank_hint
        self.src[node.name] = [name]
        self.derived.add(node.name)
        info = LayerInfo(name=name, type="InputLayer",
                         output_shape=drawn_shape(shape, rank_hint), params=0,
                         inbound=[], config={})
        self.entries.append(Entry(info, node.name, rank_hint, input_index=index))

    def _drawn(self, node: Any, tag: Tag) -> tuple[Tag, list[int] | None]:
        shape = meta_shape(node)
        if shape is None or not shape:
            return tag, None
        batch = traced_batch(tag, shape, self.batch) if self.batch is not None else tag.batch
        if batch is None:
            return Tag(None, tag.channel), None
        if batch != tag.batch:
            tag = Tag(batch, None)
        return tag, drawn_shape(shape, tag)

    def record(self, node: Any, name: str, kind: str, config: dict[str, Any],
               inbound: list[str], module: str | None = None, functional: bool = False
               ) -> Entry | None:
        tag, shape = self._drawn(node, self.tags.get(node.name, FEATURES_LAST))
        reason = undrawable(shape, is_tensor_value(meta_value(node)))
        if reason is not None and functional:
            return None
        name = self.unique(name)
        generic = False
        if reason is not None:
            config["generic"] = True
            value = meta_value(node)
            generic = not is_tensor_value(value) or tag.batch is None
            if tag.batch is None and is_tensor_value(value):
                reason = "no batch axis"
            self.warn(placeholder_warning(name, kind, reason, shape or []))
            shape = shape or [1]
        elif kind not in OWN_TYPES:
            self.shape_only[kind] += 1
        parents = self._parents()
        if parents:
            config.setdefault("parent", parents[-1])
        info = LayerInfo(name=name, type=kind, output_shape=shape or [1], params=0,
                         inbound=inbound, config=config)
        entry = Entry(info, node.name, tag, module=module, generic=generic)
        self.entries.append(entry)
        return entry

    def _parents(self) -> list[str]:
        return [self.block_name[k] for k in self.open_blocks]

    def walk(self, inputs: dict[str, int], input_tags: dict[str, Tag],
             params: dict[str, str]) -> None:
        self.params = params
        self.owners: set[str] = set()
        self.find_calls()
        self.open_blocks: list[str] = []
        self.block_name: dict[str, str] = {}
        owners = self.owners
        for node in self.nodes:
            if node.op == "placeholder":
                if node.name in inputs:
                    self.add_input(node, inputs[node.name], input_tags[node.name])
                else:
                    self.src[node.name] = []
                continue
            if node.op != "call_function":
                self.src.setdefault(node.name, [])
                continue
            self._open_blocks(node)
            ins = node_inputs(node)
            base = op_base(node.target)
            if base not in SHAPE_OPS and any(n.name in self.derived for n in ins):
                self.derived.add(node.name)
            self.tags[node.name] = node_tag(node, self.tags)
            src: list[str] = []
            for n in ins:
                src.extend(s for s in self.src.get(n.name, []) if s not in src)
            self.src[node.name] = src if node.name in self.derived else []
            key = self.unit.get(node.name)
            if key is not None:
                if self.outputs.get(key) == node.name:
                    self._module_entry(self.calls[key], node, owners)
            elif node.name in self.derived and (base not in PASS_OPS or self._rnn_item(node)):
                self._functional_entry(node, base)
            self._close_blocks(node)

    def _module_entry(self, call: Call, node: Any, owners: set[str]) -> None:
        if node.name not in self.derived:
            return  # computed from no model input: part of its container's computation
        principal, config = self._call_config(call)
        rank = len(meta_shape(node) or [])
        kind, own = module_type(call, rank, principal)
        if kind != "Dense":
            config.pop("units", None)
        if kind not in ("Embedding",):
            config.pop("input_dim", None), config.pop("output_dim", None)
        config = {**config, **own}
        if call.class_name != kind:
            config["class"] = call.class_name
        owner = call.path not in owners
        if owner:
            owners.add(call.path)
        else:
            config["shared"] = call.path
        name = call.path + (f"{SHARED_MARK}{call_number(call.key)}"
                            if call_number(call.key) > 1 else "")
        entry = self.record(node, name, kind, config, list(self.src[node.name]),
                            module=call.path if owner else None)
        if entry is None:
            return
        if kind == "MultiHeadAttention" or any(op_base(n.target) in ATTENTION_OPS
                                               for n in call.nodes):
            entry.scores = self._scores(call.nodes)
            names = {n.name for n in call.nodes}
            outside = [x for n in call.nodes for x in node_inputs(n)
                       if x.name not in names and self.src.get(x.name)]
            sides = list(dict.fromkeys(self.src[x.name][0] for x in outside))
            entry.sides = (sides[0], sides[1] if len(sides) > 1 else sides[0]) if sides \
                else (None, None)
            self.score_shape(entry)
            if entry.scores and entry.scores[0] == "probs" and self.batch:
                probs = meta_shape(self.nodes_by_name[entry.scores[1]]) or [0]
                if len(probs) == 3 and probs[0] % self.batch == 0:
                    entry.info.config.setdefault("num_heads", probs[0] // self.batch)
        names = {n.name for n in call.nodes}
        for n in call.nodes:
            if n.name in self.derived and feeds_into(n, names):
                self.src[n.name] = [entry.info.name]

    def _call_config(self, call: Call) -> tuple[tuple[str, dict] | None, dict[str, Any]]:
        """The type of a call's main op (a convolution, pooling, RNN) and the config its
        ops give."""
        principal = None
        config: dict[str, Any] = {}
        for n in call.nodes:
            base = op_base(n.target)
            if principal is None and (base in CONV_OPS or base in ("lstm", "gru", "rnn_tanh",
                                                                    "rnn_relu")
                                      or "pool" in base):
                principal = op_type(n, self._input_tag(n))
            for k, v in op_config(n).items():
                config.setdefault(k, v)
            if base in ATTENTION_OPS and len(meta_shape(n.args[0]) or []) == 4:
                config.setdefault("num_heads", meta_shape(n.args[0])[1])
        return principal, config

    def _scores(self, nodes: list[Any]) -> tuple[str, str] | None:
        for n in nodes:
            if op_base(n.target) in ATTENTION_OPS:
                return "sdpa", n.name
        for n in nodes:
            if op_base(n.target) in ("softmax", "_softmax") and len(meta_shape(n) or []) in (3,
                                                                                          4):
                return "probs", n.name
        return None

    def score_shape(self, entry: Entry) -> None:
        """(heads, queries, keys) of an entry's scores, from the traced shapes."""
        if entry.scores is None:
            return
        node = self.nodes_by_name[entry.scores[1]]
        if entry.scores[0] == "sdpa":
            q, k = (meta_shape(a) for a in node.args[:2])
            if q and k and len(q) >= 3:
                entry.score_shape = (q[-3] if len(q) == 4 else 1, q[-2], k[-2])
            return
        probs = meta_shape(node) or []
        if len(probs) == 4:
            entry.score_shape = (probs[1], probs[2], probs[3])
        elif len(probs) == 3 and self.batch:
            entry.score_shape = (max(1, probs[0] // self.batch), probs[1], probs[2])

    @staticmethod
    def _rnn_item(node: Any) -> bool:
        """The first output of a functional ``aten.lstm``/``gru`` (a tuple)."""
        src = node.args[0] if node.args else None
        return (op_base(node.target) == "getitem" and hasattr(src, "target")
                and op_base(src.target) in ("lstm", "gru", "rnn_tanh", "rnn_relu")
                and node.args[1] == 0)

    def _functional_entry(self, node: Any, base: str) -> None:
        frames = module_stack(node)
        prefix = frames[-1][1] if frames else ""
        if self._rnn_item(node):
            base = op_base(node.args[0].target)
            kind, config = op_type(node.args[0], self._input_tag(node.args[0]))
            weighted = node.args[0]
        else:
            kind, config = op_type(node, self._input_tag(node))
            weighted = node
        config.update({k: v for k, v in op_config(node).items() if k not in config})
        if not is_tensor_value(meta_value(node)):
            return
        owner = self._weight_owner(weighted, kind)
        if owner is not None:  # F.conv2d(x, self.weight) or a graph without module calls
            name, module = owner or base, (owner if owner not in self.owners else None)
            if module is None:
                config["shared"] = owner
        else:
            self.op_counts[(prefix, base)] += 1
            k = self.op_counts[(prefix, base)]
            name = (f"{prefix}.{base}" if prefix else base) + (f"{SHARED_MARK}{k}" if k > 1
                                                                else "")
            module = None
        entry = self.record(node, name, kind, config, list(self.src[node.name]),
                            module=module, functional=True)
        if entry is None:
            return
        entry.functional = True
        if module is not None:
            self.owners.add(module)
        if base in ATTENTION_OPS:
            entry.scores = ("sdpa", node.name)
            q, k_ = node.args[0], node.args[1]
            entry.sides = ((self.src.get(q.name) or [None])[0],
                           (self.src.get(k_.name) or [None])[0])
            self.score_shape(entry)
        self.src[node.name] = [entry.info.name]

    def _weight_owner(self, node: Any, kind: str) -> str | None:
        """The module path of the parameter a weighted op reads as its weight."""
        if kind not in WEIGHTED and not kind.startswith(("Conv", "DepthwiseConv")):
            return None
        for n in node_inputs(node):
            fqn = self.params.get(n.name, "")
            if fqn.endswith(("weight", "weight_ih_l0")) and fqn.rpartition(".")[2] in (
                    "weight", "weight_ih_l0"):
                return fqn.rpartition(".")[0]  # "": the model itself is the layer
        return None

    def _input_tag(self, node: Any) -> Tag:
        ins = [n for n in node_inputs(node) if meta_shape(n) is not None]
        return self.tags.get(ins[0].name, FEATURES_LAST) if ins else FEATURES_LAST

    def _open_blocks(self, node: Any) -> None:
        for key in self.blocks.get(node.name, []):
            if key not in self.open_blocks and key not in self.block_name:
                call = self.calls[key]
                self.block_name[key] = self.unique(
                    call.path + (f"{SHARED_MARK}{call_number(key)}"
                                 if call_number(key) > 1 else ""))
                self.block_start[key] = len(self.entries)
                self.open_blocks.append(key)

    def _close_blocks(self, node: Any) -> None:
        for key in reversed(list(self.open_blocks)):
            call = self.calls[key]
            if call.nodes[-1] is not node:
                continue
            self.open_blocks.remove(key)
            out = self.nodes_by_name[self.outputs[key]]
            nested = self.entries[self.block_start[key]:]
            name = self.block_name[key]
            self.names.discard(name)
            config: dict[str, Any] = {"nested": len(nested)}
            same = [e.info.name for e in nested if e.node == out.name]
            if same:
                config["same_as"] = same[-1]
            entry = self.record(out, name, MODULE_TYPES.get(call.class_name, call.class_name),
                                config, list(self.src.get(out.name, [])), module=None)
            if entry is not None:
                names = {n.name for n in call.nodes}
                for n in call.nodes:
                    if n.name in self.derived and feeds_into(n, names):
                        self.src[n.name] = [entry.info.name]


def build_graph(program: Any, source: str | Path) -> TorchGraph:
    """Walk an ``ExportedProgram``'s graph (see the module docstring)."""
    try:
        gm = program.graph_module
        nodes = list(gm.graph.nodes)
        specs = list(program.graph_signature.input_specs)
    except Exception as exc:
        raise ModelError(source, f"cannot read the exported program's graph: {exc}") from None
    kinds = {s.arg.name: (s.kind.name, s.target) for s in specs if hasattr(s.arg, "name")}
    placeholders = [n for n in nodes if n.op == "placeholder"]
    users = [n for n in placeholders if kinds.get(n.name, ("USER_INPUT",))[0] == "USER_INPUT"]
    if not users:
        raise ModelError(source, "the exported program takes no input tensor")
    shapes = [meta_value(n) for n in users]
    if not all(is_tensor_value(v) for v in shapes):
        raise ModelError(source, "the exported program takes inputs that are not tensors "
                                 "(export it with tensor arguments only)")
    first = shapes[0].shape[0] if len(shapes[0].shape) else None
    batch = int(first) if isinstance(first, int) else None
    walk = _Walk(nodes, batch)
    walk.nodes_by_name = {n.name: n for n in nodes}  # type: ignore[attr-defined]
    tags = {n.name: input_tag(n, len(meta_shape(n) or [])) for n in users}
    params = {n.name: str(kinds[n.name][1]) for n in placeholders
              if kinds.get(n.name, ("",))[0] in ("PARAMETER", "BUFFER")}
    walk.walk({n.name: i for i, n in enumerate(users)}, tags, params)
    if len(walk.entries) == len(users):
        raise ModelError(source, "the model has no layers besides its input")
    summary = shape_only_summary(walk.shape_only)
    if summary:
        walk.warn(summary)
    in_shapes = []
    for v in shapes:
        in_shapes.append([None if not isinstance(d, int) or i == 0 and batch is None
                          else int(d) for i, d in enumerate(v.shape)][1:])
    state = [(n.name, kinds[n.name][0], str(kinds[n.name][1])) for n in placeholders
             if n.name in kinds and kinds[n.name][0] != "USER_INPUT"]
    return TorchGraph(entries=walk.entries, input_nodes=[n.name for n in users],
                      input_shapes=in_shapes, input_dtypes=[meta_dtype(n) for n in users],
                      state_nodes=state, batch=batch, warnings=walk.warnings,
                      fqns=[t for _, k, t in state if k in ("PARAMETER", "BUFFER")])
