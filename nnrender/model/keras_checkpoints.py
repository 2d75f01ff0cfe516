"""TensorFlow checkpoints and SavedModel variables restored into a built Keras model.

These formats hold variables, not layers: a SavedModel keeps only traced inference
functions, and Keras 3 names checkpoint variables by object position
(``model/_functional/_operations/2/moving_mean``) or by plain index (``model.export``
writes ``variables/0 .. variables/N`` in ``model.variables`` order), never by layer name.
So the variables are restored into the model the user's builder makes, which gives the layer
names, shapes and connections back; three key layouts are understood (``model.export``'s
index, tf.keras 2's ``layer_with_weights-<i>``, and the object graph of
``tf.train.Checkpoint``), and a builder whose model differs from the saved one is an error
naming the variable. Some checks read restore internals (``status._checkpoint``); when those
move, the public ``assert_existing_objects_matched`` is used instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError, one_line
from nnrender.model.epochs import Loader
from nnrender.model.keras_env import tensorflow_module, trackable_object_graph

_CKPT_NAMES_SKIPPED = ("save_counter",)


def checkpoint_prefixes(folder: Path) -> list[Path]:
    """Checkpoint prefixes in a folder: those the ``checkpoint`` file lists, else ``*.index``."""
    listed: list[Path] = []
    index_file = folder / "checkpoint"
    if index_file.is_file():
        try:
            text = index_file.read_text(errors="replace")
        except OSError as exc:
            raise ModelError(index_file, f"cannot read: {one_line(exc)}") from None
        for m in re.finditer(r'all_model_checkpoint_paths:\s*"([^"]+)"', text):
            prefix = Path(m.group(1))
            listed.append(prefix if prefix.is_absolute() else folder / prefix)
        if not listed:
            m = re.search(r'model_checkpoint_path:\s*"([^"]+)"', text)
            if m:
                prefix = Path(m.group(1))
                listed.append(prefix if prefix.is_absolute() else folder / prefix)
    found = [p.with_suffix("") for p in sorted(folder.glob("*.index"))]
    if listed:
        for prefix in listed:
            if not Path(str(prefix) + ".index").is_file():
                raise ModelError(
                    index_file, f"lists {prefix.name}, but {prefix.name}.index is missing"
                )
        return listed
    return found


def _object_graph(reader: Any) -> Any:
    return trackable_object_graph(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))


def _restore_by_index(model: Any, reader: Any, shapes: dict[str, list[int]], where: Path) -> None:
    """``model.export`` archives: ``variables/i`` is ``model.variables[i]`` of the saved
    model, so the same architecture has the same order."""
    keys = {
        int(m.group(1)): key
        for key in shapes
        if (m := re.fullmatch(r"variables/(\d+)/\.ATTRIBUTES/VARIABLE_VALUE", key))
    }
    variables = list(model.variables)
    if len(keys) != len(variables):
        raise ModelError(
            where,
            f"holds {len(keys)} variables, the built model has {len(variables)}: "
            "the builder makes a different architecture",
        )
    for i, var in enumerate(variables):
        want = [int(d) for d in var.shape]
        if list(shapes[keys[i]]) != want:
            raise ModelError(
                where,
                f"variable {i} has shape {tuple(shapes[keys[i]])}, the built model's "
                f"{var.path} has {tuple(want)}",
            )
    for i, var in enumerate(variables):
        var.assign(np.asarray(reader.get_tensor(keys[i])))


_KERAS2_KEY = re.compile(
    r"(.*?)layer_with_weights-(\d+)/((?:[^/.][^/]*/)*?)([^/.][^/]*)/\.ATTRIBUTES/VARIABLE_VALUE"
)


def _restore_keras2(model: Any, reader: Any, shapes: dict[str, list[int]], where: Path) -> None:
    """tf.keras 2 files (SavedModel from ``model.save(dir)``, ``save_weights("x.ckpt")``):
    variables are keyed ``layer_with_weights-<i>/<name>``, i counting the layers that have
    weights in ``model.layers`` order, so a Keras 3 model with the same layers maps 1:1."""
    groups: dict[str, dict[int, dict[str, str]]] = {}
    for key in shapes:
        m = _KERAS2_KEY.fullmatch(key)
        if m and ".OPTIMIZER_SLOT" not in key and "optimizer/" not in m.group(1):
            groups.setdefault(m.group(1), {}).setdefault(int(m.group(2)), {})[m.group(4)] = key
    if len(groups) != 1:
        raise ModelError(where, f"holds several tf.keras models ({', '.join(groups)})")
    by_layer = next(iter(groups.values()))
    layers = [layer for layer in model.layers if layer.weights]
    if sorted(by_layer) != list(range(len(layers))):
        raise ModelError(
            where,
            f"holds {len(by_layer)} layers with weights, the built model has {len(layers)}: "
            "the builder makes a different architecture",
        )
    plan = []
    for i, layer in enumerate(layers):
        saved = by_layer[i]
        if len(saved) != len(layer.weights):
            raise ModelError(
                where,
                f"layer {layer.name}: {len(saved)} saved variables "
                f"({', '.join(sorted(saved))}), the built layer has {len(layer.weights)}",
            )
        for var in layer.weights:
            key = saved.get(str(var.name).rsplit("/", 1)[-1])
            if key is None:
                raise ModelError(where, f"nothing saved for {var.path}")
            if list(shapes[key]) != [int(d) for d in var.shape]:
                raise ModelError(
                    where,
                    f"{var.path} has shape {tuple(var.shape)}, the saved "
                    f"{key.split('/.ATTRIBUTES')[0]} has {tuple(shapes[key])}",
                )
            plan.append((var, key))
    for var, key in plan:
        var.assign(np.asarray(reader.get_tensor(key)))


def _unmatched_model_variables(status: Any, root_name: str | None) -> list[str]:
    """Checkpoint variables of the model (not optimizer, not counters) that nothing in the
    built model took: the builder's model is smaller than the saved one. Uses restore
    internals; an empty list when they are not there."""
    try:
        coordinator = status._checkpoint
        graph = coordinator.object_graph_proto
        matched = set(coordinator.object_by_proto_id)
    except AttributeError:
        return []
    start = 0
    if root_name is not None:
        child = [c.node_id for c in graph.nodes[0].children if c.local_name == root_name]
        if not child:
            return []
        start = child[0]
    paths: dict[int, str] = {start: root_name or ""}
    queue = [start]
    while queue:
        node_id = queue.pop(0)
        for child in graph.nodes[node_id].children:
            if child.local_name in ("optimizer", *_CKPT_NAMES_SKIPPED):
                continue
            if child.node_id not in paths:
                paths[child.node_id] = f"{paths[node_id]}/{child.local_name}".lstrip("/")
                queue.append(child.node_id)
    missing = []
    for node_id, path in paths.items():
        node = graph.nodes[node_id]
        is_variable = any(a.name == "VARIABLE_VALUE" for a in node.attributes)
        if is_variable and node_id not in matched:
            missing.append(path)
    return missing


def _unbound_variables(model: Any, status: Any) -> list[str]:
    """Paths of the built model's variables the checkpoint gave no value. Looks at which
    objects the restore matched (``assert_existing_objects_matched`` would also count the
    ``save_counter`` that ``Checkpoint(root=model)`` adds to the model)."""
    try:
        matched = {id(obj) for obj in status._checkpoint.object_by_proto_id.values()}
    except AttributeError:  # restore internals moved: the public check, message parsed
        try:
            status.assert_existing_objects_matched()
        except AssertionError as exc:
            return re.findall(r"path=([\w./-]+)", str(exc)) or [one_line(exc, 120)]
        return []
    return [str(var.path) for var in model.variables if id(var) not in matched]


def _quiet_failed_restore(exc: BaseException) -> None:
    """A restore that raised leaves its restore coordinator to warn, when garbage collected,
    about every unrestored value (a page of log lines after our one-line error): mark it
    partial, as ``status.expect_partial()`` would have."""
    tb = exc.__traceback__
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if hasattr(value, "expect_partial_attr"):
                try:
                    value.expect_partial = True
                except Exception:
                    pass
        tb = tb.tb_next


def _restore_object_graph(model: Any, prefix: Path, reader: Any, where: Path) -> None:
    """Restore by object graph: tf.train.Checkpoint(model=...) / CheckpointManager files,
    and SavedModels written by ``tf.saved_model.save(model)``. The model is the root, or,
    under a ``tf.train.Checkpoint`` (it has a ``save_counter``), its ``model`` child or
    whatever other name the user gave it."""
    tf = tensorflow_module()
    children = [c.local_name for c in _object_graph(reader).nodes[0].children]
    names: list[str | None]
    if "save_counter" in children:
        names = ["model"] if "model" in children else []
        names += [c for c in children if c not in ("model", "optimizer", *_CKPT_NAMES_SKIPPED)]
    else:
        names = [None]
    first_unbound: list[str] = []
    for name in names:
        ckpt = tf.train.Checkpoint(root=model) if name is None else tf.train.Checkpoint(
            **{name: model}
        )
        try:
            status = ckpt.restore(str(prefix)).expect_partial()
        except ValueError as exc:  # a shape mismatch: the right object, the wrong model
            _quiet_failed_restore(exc)
            raise ModelError(where, f"does not fit the built model: {one_line(exc)}") from None
        except Exception as exc:
            _quiet_failed_restore(exc)
            raise ModelError(where, f"cannot restore: {one_line(exc)}") from None
        unbound = _unbound_variables(model, status)
        if unbound:
            first_unbound = first_unbound or unbound
            continue
        missing = _unmatched_model_variables(status, name)
        if missing:
            raise ModelError(
                where,
                f"holds {len(missing)} variable(s) the built model lacks "
                f"(e.g. {missing[0]}): the builder makes a smaller architecture",
            )
        return
    if first_unbound:
        more = f" and {len(first_unbound) - 1} more" if len(first_unbound) > 1 else ""
        detail = f"nothing saved for {first_unbound[0]}{more}"
    else:
        detail = "no object in it holds a model"
    raise ModelError(
        where,
        f"does not fit the built model: {detail} (the builder makes a different architecture)",
    )


def checkpoint_loader(prefix: Path, epoch: int, where: Path | None = None) -> Loader:
    """Restore a TF checkpoint (or a SavedModel's ``variables/variables``) into the model."""
    shown = where or Path(str(prefix) + ".index")

    def load(model: Any) -> None:
        tf = tensorflow_module()
        if not Path(str(prefix) + ".index").is_file():
            raise ModelError(shown, f"epoch {epoch}: checkpoint index file is missing")
        try:
            reader = tf.train.load_checkpoint(str(prefix))
            shapes = reader.get_variable_to_shape_map()
        except Exception as exc:
            raise ModelError(
                shown, f"epoch {epoch}: not a readable checkpoint ({one_line(exc, 120)})"
            ) from None
        if any(re.fullmatch(r"variables/\d+/\.ATTRIBUTES/VARIABLE_VALUE", k) for k in shapes):
            _restore_by_index(model, reader, shapes, shown)
        elif any("layer_with_weights-" in k for k in shapes):
            _restore_keras2(model, reader, shapes, shown)
        else:
            _restore_object_graph(model, prefix, reader, shown)

    return load
