"""Open a trained Keras/TensorFlow model however it was kept: an architecture + epoch loaders.

``open_model`` returns a built Keras model and, when the files hold several epochs, a list
of ``(epoch, source, load)`` triples; ``load(model)`` puts that epoch's weights into the
model. ``dump_keras`` takes both, so every format below ends up in the same dump.

Supported, by what the user has on disk:

- ``.keras`` (Keras 3) or legacy ``.h5`` full model: the architecture and its weights.
- per-epoch files beside an architecture: ``epoch_03.weights.h5`` or full models per epoch
  (``model.03-0.52.keras``, ``.h5``) in a folder or glob; ``model.load_weights`` reads all
  three kinds. A folder or glob of full-model files alone is its own architecture (the
  lowest epoch's file gives the layers).
- a SavedModel folder (``saved_model.pb``) or ``tf.train.Checkpoint`` files (``ckpt-3.index``
  + ``.data-*``, a folder with a ``checkpoint`` file, as written by ``CheckpointManager``),
  together with ``builder="module:function"`` (or ``path/file.py:function``) returning the
  built Keras model. These formats hold variables, not layers: a SavedModel keeps only
  traced inference functions, and Keras 3 names checkpoint variables by object position
  (``model/_functional/_operations/2/moving_mean``) or by plain index (``model.export``
  writes ``variables/0 .. variables/N`` in ``model.variables`` order), never by layer name.
  Restoring them into the model the builder makes is how nnrender gets the layer names,
  shapes and connections back; a builder whose model differs from the saved one is an error
  naming the variable.

Epoch numbers come from file names (see ``epoch_of``). Epochs must be evenly spaced
(1,2,3 or 5,10,15); an irregular gap (1,2,4) is an error unless ``allow_gaps`` is set, since
a missing file usually means an interrupted copy, and the animation would silently skip it.
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
import os
import re
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError
from nnrender.model.keras_reader import _keras, _one_line, order_by_epoch
from nnrender.model.keras_reader import epoch_number as epoch_of

Loader = Callable[[Any], None]
Series = list[tuple[int, str, Loader]]

_WEIGHTS_SUFFIXES = (".weights.h5", ".weights.hdf5")
_MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
_GLOB_CHARS = set("*?[")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_CKPT_NAMES_SKIPPED = ("save_counter",)


def _tf() -> Any:
    _keras()  # imports TensorFlow quietly
    import tensorflow as tf

    return tf


# --------------------------------------------------------------------------- epoch numbers


# --------------------------------------------------------------------------- what is on disk


def _is_weights_file(path: Path) -> bool:
    return path.name.lower().endswith(_WEIGHTS_SUFFIXES)


def _is_model_file(path: Path) -> bool:
    return path.name.lower().endswith(_MODEL_SUFFIXES) and not _is_weights_file(path)


def _is_savedmodel(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def _ckpt_prefixes(folder: Path) -> list[Path]:
    """Checkpoint prefixes in a folder: those the ``checkpoint`` file lists, else ``*.index``."""
    listed: list[Path] = []
    index_file = folder / "checkpoint"
    if index_file.is_file():
        try:
            text = index_file.read_text(errors="replace")
        except OSError as exc:
            raise ModelError(index_file, f"cannot read: {_one_line(exc)}") from None
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


def _expand(text: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(text, recursive=True))


def _classify(source: str) -> tuple[str, list[Path]]:
    """What a path, folder or glob holds: ('savedmodel'|'ckpt'|'weights'|'models', paths)."""
    text = os.path.expanduser(source)
    path = Path(text)
    if _is_savedmodel(path):
        return "savedmodel", [path]
    if path.is_dir():
        prefixes = _ckpt_prefixes(path)
        if prefixes:
            return "ckpt", prefixes
        files = sorted(p for p in path.iterdir() if p.is_file())
        weights = [p for p in files if _is_weights_file(p)]
        if weights:
            return "weights", weights
        models = [p for p in files if _is_model_file(p)]
        if models:
            return "models", models
        raise ModelError(
            path,
            "no model files in this folder (.keras, .h5, .weights.h5, saved_model.pb, "
            "or TensorFlow checkpoints ckpt-N.index)",
        )
    if path.is_file():
        if path.suffix == ".index":
            return "ckpt", [path.with_suffix("")]
        if _is_weights_file(path):
            return "weights", [path]
        return "models", [path]
    if Path(text + ".index").is_file():
        return "ckpt", [path]
    if _GLOB_CHARS & set(text):
        matches = [p for p in _expand(text) if p.is_file() or _is_savedmodel(p)]
        if not matches:
            raise ModelError(text, "no files match this pattern")
        if all(p.suffix == ".index" for p in matches):
            return "ckpt", [p.with_suffix("") for p in matches]
        if all(_is_weights_file(p) for p in matches):
            return "weights", matches
        if all(_is_model_file(p) for p in matches):
            return "models", matches
        raise ModelError(
            text, "the pattern matches files of different kinds; narrow it to one kind"
        )
    raise ModelError(text, "no such file or folder")


# --------------------------------------------------------------------------- architectures


def _check_model_file(path: Path) -> None:
    """Catch the common corrupt-file cases before Keras prints a page about them."""
    if not path.is_file():
        raise ModelError(path, "model file does not exist")
    suffix = path.suffix.lower()
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(path, "not a valid .keras file (not a zip archive; corrupt?)")
    if suffix in (".h5", ".hdf5"):
        with open(path, "rb") as fh:
            if fh.read(8) != _HDF5_MAGIC:
                raise ModelError(path, "not a valid HDF5 file (corrupt?)")


def _load_model_file(path: Path) -> Any:
    """A ``.keras``/``.h5`` full model without its optimizer or loss (drawing needs neither,
    and custom losses would otherwise make loading fail)."""
    if _is_weights_file(path):
        raise ModelError(
            path,
            "weights only, no layers: give the .keras model (or --builder) and pass this "
            "as the weights",
        )
    _check_model_file(path)
    keras = _keras()
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as exc:
        raise ModelError(path, f"cannot load the model: {_one_line(exc)}") from None
    if not isinstance(model, keras.Model):
        raise ModelError(path, "the file does not hold a Keras model")
    return model


def build_from(builder: str) -> Any:
    """Call ``module:function`` or ``path/to/file.py:function`` and return its built model.

    The current folder is importable while the module loads, as with ``python -m``."""
    spec_text, sep, func_name = builder.rpartition(":")
    if not sep or not spec_text or not func_name.isidentifier():
        raise ModelError(
            builder, "builder must look like module:function or path/to/file.py:function"
        )
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        if spec_text.endswith(".py") or os.sep in spec_text or "/" in spec_text:
            file = Path(spec_text).expanduser()
            if not file.is_file():
                raise ModelError(builder, f"builder file {file} does not exist")
            name = "nnrender_builder_" + re.sub(r"\W", "_", file.stem)
            spec = importlib.util.spec_from_file_location(name, file)
            if spec is None or spec.loader is None:
                raise ModelError(builder, f"cannot import {file}")
            module = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(file.resolve().parent))
            try:
                spec.loader.exec_module(module)
            finally:
                sys.path.remove(str(file.resolve().parent))
        else:
            module = importlib.import_module(spec_text)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            builder, f"cannot import the builder: {type(exc).__name__}: {_one_line(exc)}"
        ) from None
    finally:
        if added:
            sys.path.remove(os.getcwd())
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ModelError(builder, f"{spec_text} has no function {func_name}")
    try:
        model = func()
    except Exception as exc:
        raise ModelError(
            builder, f"the builder failed: {type(exc).__name__}: {_one_line(exc)}"
        ) from None
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise ModelError(
            builder, f"the builder returned {type(model).__name__}, not a keras.Model"
        )
    if not model.built or not model.variables:
        raise ModelError(
            builder,
            "the builder's model has no weights yet: build it (keras.Input or model.build)",
        )
    return model


# --------------------------------------------------------------------------- loaders


def _file_loader(file: Path, epoch: int) -> Loader:
    """``model.load_weights`` reads .weights.h5, .keras and legacy .h5 alike."""

    def load(model: Any) -> None:
        if not file.is_file():
            raise ModelError(file, f"epoch {epoch}: file does not exist")
        if not _is_weights_file(file):
            _check_model_file(file)
        try:
            model.load_weights(str(file))
        except Exception as exc:
            raise ModelError(
                file, f"epoch {epoch}: weights do not fit the model: {_one_line(exc)}"
            ) from None

    return load


def _object_graph(reader: Any) -> Any:
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    return graph


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
            return re.findall(r"path=([\w./-]+)", str(exc)) or [_one_line(exc, 120)]
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
    tf = _tf()
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
            raise ModelError(where, f"does not fit the built model: {_one_line(exc)}") from None
        except Exception as exc:
            _quiet_failed_restore(exc)
            raise ModelError(where, f"cannot restore: {_one_line(exc)}") from None
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


def _checkpoint_loader(prefix: Path, epoch: int, where: Path | None = None) -> Loader:
    """Restore a TF checkpoint (or a SavedModel's ``variables/variables``) into the model."""
    shown = where or Path(str(prefix) + ".index")

    def load(model: Any) -> None:
        tf = _tf()
        if not Path(str(prefix) + ".index").is_file():
            raise ModelError(shown, f"epoch {epoch}: checkpoint index file is missing")
        try:
            reader = tf.train.load_checkpoint(str(prefix))
            shapes = reader.get_variable_to_shape_map()
        except Exception as exc:
            raise ModelError(
                shown, f"epoch {epoch}: not a readable checkpoint ({_one_line(exc, 120)})"
            ) from None
        if any(re.fullmatch(r"variables/\d+/\.ATTRIBUTES/VARIABLE_VALUE", k) for k in shapes):
            _restore_by_index(model, reader, shapes, shown)
        elif any("layer_with_weights-" in k for k in shapes):
            _restore_keras2(model, reader, shapes, shown)
        else:
            _restore_object_graph(model, prefix, reader, shown)

    return load


# --------------------------------------------------------------------------- open_model


def _series(kind: str, paths: list[Path], source: str, allow_gaps: bool) -> Series:
    if kind == "savedmodel":
        folder = paths[0]
        prefix = folder / "variables" / "variables"
        if not Path(str(prefix) + ".index").is_file():
            raise ModelError(folder, "SavedModel has no variables/variables.index")
        return [(0, str(folder), _checkpoint_loader(prefix, 0, where=folder))]
    if kind == "ckpt":
        if len(paths) == 1:
            number = epoch_of(paths[0]) or 0
            ordered = [(number, paths[0])]
        else:
            ordered = order_by_epoch([(epoch_of(p), p) for p in paths], source, allow_gaps)
        return [
            (n, str(p) + ".index", _checkpoint_loader(p, n)) for n, p in ordered
        ]
    if len(paths) == 1:
        ordered = [(epoch_of(paths[0]) or 0, paths[0])]
    else:
        ordered = order_by_epoch([(epoch_of(p), p) for p in paths], source, allow_gaps)
    return [(n, str(p), _file_loader(p, n)) for n, p in ordered]


def open_model(
    path: str | Path,
    *,
    builder: str | None = None,
    weights: str | Path | None = None,
    allow_gaps: bool = False,
) -> tuple[Any, Series | None]:
    """A built Keras model and its epochs' loaders (None: dump the model's own weights).

    ``path`` gives the architecture: a ``.keras``/``.h5`` model, or a folder/glob of
    per-epoch full models (the lowest epoch's file gives the layers, every file an epoch).
    With ``builder`` the architecture comes from that function instead and ``path`` (unless
    ``weights`` is given) is where the weights are: a SavedModel folder, TF checkpoints,
    weight files. ``weights`` is a file, folder or glob of epochs for the architecture.
    """
    source = os.path.expanduser(str(path))
    if builder is not None:
        model = build_from(builder)
        where = str(weights) if weights is not None else source
        kind, paths = _classify(where)
        return model, _series(kind, paths, where, allow_gaps)

    kind, paths = _classify(source)
    if kind == "savedmodel":
        raise ModelError(
            source,
            "a SavedModel holds traced functions, not the layer graph nnrender draws; pass "
            "--builder module:function (a function returning the same Keras model) and "
            "its variables are restored into it",
        )
    if kind == "ckpt":
        raise ModelError(
            source,
            "TensorFlow checkpoints hold variables, not layers; pass --builder "
            "module:function (a function returning the same, built Keras model)",
        )
    if kind == "weights":
        # only a folder holding one model file beside its epoch_*.weights.h5 has layers
        folder = Path(source)
        models = (
            [p for p in sorted(folder.iterdir()) if p.is_file() and _is_model_file(p)]
            if folder.is_dir()
            else []
        )
        if len(models) != 1:
            raise ModelError(
                paths[0],
                "weights only, no layers: give the .keras model (or --builder) and pass "
                "these as the weights",
            )
        if weights is None:
            return _load_model_file(models[0]), _series("weights", paths, source, allow_gaps)
        paths = models
    if weights is not None:
        if len(paths) != 1:
            raise ModelError(source, "give one model file when the weights come separately")
        model = _load_model_file(paths[0])
        wkind, wpaths = _classify(str(weights))
        return model, _series(wkind, wpaths, str(weights), allow_gaps)
    if len(paths) == 1:
        return _load_model_file(paths[0]), None
    series = _series("models", paths, source, allow_gaps)
    return _load_model_file(Path(series[0][1])), series
