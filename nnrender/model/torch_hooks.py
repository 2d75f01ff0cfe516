"""The fallback PyTorch reader: forward hooks on the leaf modules of a module that
``torch.export`` cannot trace (data-dependent control flow, ``.item()``, numpy inside).

The module runs eagerly; every leaf module call (a module without sub-modules, or a
``torch.nn`` layer) is one entry, in call order, named by its path (``@k`` for later calls
of the same module). ``inbound`` comes from tensor identity: the entries whose output
tensors the call receives. Ops between modules (``x + y``, ``torch.cat``) make new tensors
that no entry produced, so their merges are not seen: such a call links to the entry
before it, and the dump says so in a warning. Types, configs and weights follow the
exported reader's (``layer_kinds``, ``torch_weights``), from the modules' attributes.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError, one_line
from nnrender.model.capture import Capture, ModelLayers
from nnrender.model.channels_first import FEATURES_LAST, Tag, drawn, drawn_shape, spatial
from nnrender.model.ir import LayerInfo
from nnrender.model.layer_kinds import (
    ACTIVATIONS,
    MODULE_TYPES,
    OWN_TYPES,
    conv_kind,
    padding_name,
    pool_kind,
    shape_only_summary,
    spatial_suffix,
)
from nnrender.model.scores import Scores
from nnrender.model.torch_env import EXPORT_HINT, quiet, state_arrays, torch_module, torch_version
from nnrender.model.torch_run import PREDICT_BATCH, to_numpy
from nnrender.model.torch_weights import entry_weights

_SPATIAL = re.compile(r"^(Lazy)?(Conv|ConvTranspose)\dd$|^(Adaptive)?(Max|Avg|LP)Pool\dd$|"
                      r"^(BatchNorm|InstanceNorm)\dd$|^(SyncBatchNorm|GroupNorm|"
                      r"LocalResponseNorm|Upsample\w*|PixelShuffle|PixelUnshuffle|Dropout[23]d|"
                      r"ZeroPad\dd|ConstantPad\dd|ReflectionPad\dd|ReplicationPad\dd)$")
_SEQ_FIRST = frozenset({"LSTM", "GRU", "RNN", "MultiheadAttention"})


def _known(module: Any) -> bool:
    cls = type(module)
    return cls.__module__.startswith("torch.nn.") and (
        cls.__name__ in MODULE_TYPES or cls.__name__ in ACTIVATIONS
        or bool(_SPATIAL.match(cls.__name__)))


def _pairs(value: Any, n: int) -> list[int]:
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    return [int(value)] * n


def module_kind(module: Any, out_rank: int) -> tuple[str, dict[str, Any]]:
    """A module's Keras type and config from its attributes."""
    name = type(module).__name__
    if not type(module).__module__.startswith("torch.nn."):
        return name, {}
    weight = getattr(module, "weight", None)
    if name.startswith(("Conv", "LazyConv")) and weight is not None:
        transposed = "Transpose" in name
        kind, config = conv_kind(list(weight.shape), int(module.groups), transposed)
        n = len(config["kernel_size"])
        dilation = _pairs(module.dilation, n)
        config.update(strides=_pairs(module.stride, n), dilation_rate=dilation,
                      padding=padding_name(module.padding if isinstance(module.padding, str)
                                           else _pairs(module.padding, n),
                                           config["kernel_size"], dilation))
        return kind, config
    pool = re.match(r"^(Adaptive)?(Max|Avg|LP)Pool(\d)d$", name)
    if pool:
        op = "max" if pool.group(2) == "Max" else "avg"
        if pool.group(1):
            size = _pairs(module.output_size, int(pool.group(3)))
            return pool_kind(op, [s or 0 for s in size], out_rank), {"output_size": size}
        return pool_kind(op, None, out_rank), {"pool_size": _pairs(module.kernel_size, 2)}
    if name in ACTIVATIONS:
        return "Activation", {"activation": ACTIVATIONS[name]}
    if name.startswith(("Upsample", "Upsampling")):
        return f"UpSampling{spatial_suffix(out_rank)}", {}
    if re.match(r"^(Zero|Constant|Reflection|Replication|Circular)Pad\dd$", name):
        return f"ZeroPadding{spatial_suffix(out_rank)}", {}
    kind = MODULE_TYPES.get(name, name)
    config: dict[str, Any] = {}
    for attr, key in (("out_features", "units"), ("hidden_size", "units"),
                      ("num_heads", "num_heads"), ("p", "rate"),
                      ("num_embeddings", "input_dim"), ("embedding_dim", "output_dim")):
        value = getattr(module, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            config[key] = value
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        config["return_sequences"] = True
        if getattr(module, "num_layers", 1) > 1:
            config["num_layers"] = int(module.num_layers)
        if getattr(module, "bidirectional", False):
            config["layer"] = kind
            return "Bidirectional", config
    return kind, config


def leaf_modules(model: Any) -> list[tuple[str, Any]]:
    """The modules whose calls are entries: no sub-modules, or a ``torch.nn`` layer (its
    insides are not looked into)."""
    out: list[tuple[str, Any]] = []
    inside: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(p + ".") for p in inside):
            continue
        if _known(module) or not list(module.children()):
            out.append((name, module))
            inside.append(name)
    return out


def _tensors(value: Any) -> list[Any]:
    torch = torch_module()
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


class _Hooks:
    """Forward hooks on the leaf modules, recording each call in order."""

    def __init__(self, model: Any) -> None:
        self.calls: list[tuple[str, Any, list[int], Any]] = []  # path, module, ins, out
        self.handles = []
        for path, module in leaf_modules(model):
            self.handles.append(module.register_forward_hook(self._hook(path),
                                                             with_kwargs=True))

    def _hook(self, path: str) -> Any:
        def hook(module: Any, args: tuple, kwargs: dict, output: Any) -> None:
            ins = [id(t) for t in _tensors((args, kwargs))]
            outs = _tensors(output)
            self.calls.append((path, module, ins, outs[0] if outs else None))
        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


class HookCapture(Capture):
    """A module's leaf calls, through forward hooks (see the module docstring)."""

    def __init__(self, model: Any, inputs: list[np.ndarray], *, reason: str,
                 **options: Any) -> None:
        self.reason = reason
        self.examples = inputs
        self.torch = torch_module()
        super().__init__(model, inputs[0] if len(inputs) == 1 else inputs, **options)

    def _forward(self, xs: list[np.ndarray], source: str | Path, epoch: int
                 ) -> tuple[list[tuple[str, Any, list[int], Any]], list[Any]]:
        torch = self.torch
        tensors = [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]
        hooks = _Hooks(self.model)
        was = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), quiet():
                self.model(*tensors)
        except Exception as exc:
            shapes = ", ".join(str(tuple(x.shape)) for x in xs)
            raise ModelError(source, f"epoch {epoch}: the model cannot be exported nor run "
                             f"for inputs of shape {shapes}: {type(exc).__name__}: "
                             f"{one_line(exc, 160)} (a wrong input size? see --input-shape; "
                             f"else {EXPORT_HINT})") from None
        finally:
            hooks.close()
            self.model.train(was)
        return hooks.calls, tensors

    def read_layers(self, model: Any, path: str | Path) -> ModelLayers:
        xs = [x[:PREDICT_BATCH] for x in self.examples]
        calls, tensors = self._forward(xs, path, 0)
        self.tags: list[Tag] = []
        infos: list[LayerInfo] = []
        producer: dict[int, int] = {}
        index_of: dict[str, int] = {}
        first_call = next((m for _, m, _, _ in calls), None)
        for i, t in enumerate(tensors):
            rank = t.dim()
            cf = rank >= 4 or (rank == 3 and first_call is not None
                               and type(first_call).__name__ in ("Conv1d", "BatchNorm1d"))
            tag = spatial(rank) if cf else FEATURES_LAST
            infos.append(LayerInfo(f"input_{i}" if i else "input", "InputLayer",
                                   drawn_shape(list(t.shape), tag)))
            self.tags.append(tag)
            producer[id(t)] = i
            index_of[infos[-1].name] = i
        counts: Counter = Counter()
        shape_only: Counter = Counter()
        self.paths: list[str | None] = [None] * len(tensors)
        missing = 0
        for path_, module, ins, out in calls:
            counts[path_] += 1
            k = counts[path_]
            parents = list(dict.fromkeys(infos[producer[i]].name for i in ins
                                         if i in producer))
            if not parents:
                parents = [infos[-1].name]
                missing += 1
            rank = out.dim() if out is not None else 0
            kind, config = module_kind(module, rank)
            cls = type(module)
            if cls.__name__ in _SEQ_FIRST and not getattr(module, "batch_first", False):
                tag = Tag(1, None)
            elif _SPATIAL.match(cls.__name__) and cls.__module__.startswith("torch.nn."):
                tag = spatial(rank)
            else:
                at = index_of[parents[0]]
                same_rank = rank == len(infos[at].output_shape) + 1
                tag = self.tags[at] if same_rank else FEATURES_LAST
            if kind not in OWN_TYPES:
                shape_only[kind] += 1
            if k > 1:
                config["shared"] = path_
            shape = drawn_shape(list(out.shape), tag) if out is not None else [1]
            infos.append(LayerInfo(path_ + (f"@{k}" if k > 1 else ""), kind, shape or [1],
                                   inbound=parents, config=config))
            index_of[infos[-1].name] = len(infos) - 1
            self.tags.append(tag)
            self.paths.append(path_ if k == 1 else None)
            if out is not None:
                producer[id(out)] = len(infos) - 1
        warnings = [f"the model could not be exported ({self.reason}); read with forward "
                    "hooks on its leaf modules: operations between modules (additions, "
                    "concatenations) are not recorded, so merges may be missing"
                    + (f" ({missing} call(s) linked to the call before them)" if missing
                       else "")]
        summary = shape_only_summary(shape_only)
        if summary:
            warnings.append(summary)
        arrays = state_arrays(self.model.state_dict())
        for info, path_ in zip(infos, self.paths, strict=True):
            if path_ is not None:
                prefix = path_ + "."
                info.params = int(sum(a.size for k_, a in arrays.items()
                                      if k_.startswith(prefix)))
        self.n_calls = len(calls)
        n_in = len(tensors)
        return ModelLayers(infos=infos, input_names=[i.name for i in infos[:n_in]],
                           input_dtypes=[str(t.dtype).replace("torch.", "") for t in tensors],
                           warnings=warnings,
                           input_shapes=[[int(d) for d in t.shape[1:]] for t in tensors],
                           channels_first=[t.channel is not None for t in self.tags[:n_in]])

    @property
    def framework(self) -> str:
        return torch_version()

    def run(self, xs: list[np.ndarray], epoch: int, source: str | Path) -> list[np.ndarray]:
        count = int(xs[0].shape[0])
        chunks: list[list[np.ndarray]] = []
        for start in range(0, count, PREDICT_BATCH):
            part = [x[start:start + PREDICT_BATCH] for x in xs]
            calls, _ = self._forward(part, source, epoch)
            if len(calls) != self.n_calls:
                raise ModelError(source, f"epoch {epoch}: the model made {len(calls)} module "
                                         f"calls, {self.n_calls} when first read (its control "
                                         "flow depends on the inputs)")
            rows = part[0].shape[0]
            out = [drawn(np.asarray(x), t, rows) for x, t in zip(part, self.tags, strict=False)]
            for (_, _, _, value), tag in zip(calls, self.tags[len(xs):], strict=True):
                arr = to_numpy(value)
                out.append(drawn(arr, tag, rows) if arr is not None
                           else np.zeros((rows, 1), np.float32))
            chunks.append(out)
        if len(chunks) == 1:
            return chunks[0]
        return [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]

    def attention_scores(self) -> dict[int, Scores]:
        return {}

    def layer_weights(self) -> list[list[np.ndarray]]:
        arrays = state_arrays(self.model.state_dict())
        return [entry_weights(info.type, info.config, path_, arrays) if path_ else []
                for info, path_ in zip(self.infos, self.paths, strict=True)]
