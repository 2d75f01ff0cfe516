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
  built Keras model; ``keras_checkpoints`` restores their variables into it.

Epoch numbers and gap rules are ``epochs``'; this module knows which files are which kind.
The file checks run before Keras is imported, so a wrong path costs no TensorFlow start-up.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

from nnrender.errors import ModelError, one_line
from nnrender.model.builders import call_builder
from nnrender.model.epochs import (
    EpochLoad,
    Loader,
    Series,
    expand_glob,
    has_glob,
    number_files,
)
from nnrender.model.keras_checkpoints import checkpoint_loader, checkpoint_prefixes
from nnrender.model.keras_env import keras_module

_WEIGHTS_SUFFIXES = (".weights.h5", ".weights.hdf5")
_MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_WEIGHTS_ONLY = "weights only, no layers: give the .keras model (or --builder) and pass"


# --------------------------------------------------------------------------- what is on disk


def is_weights_file(path: Path) -> bool:
    """A weights-only file (``.weights.h5``): no layers, only values for them."""
    return path.name.lower().endswith(_WEIGHTS_SUFFIXES)


def _is_model_file(path: Path) -> bool:
    return path.name.lower().endswith(_MODEL_SUFFIXES) and not is_weights_file(path)


def _is_savedmodel(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def _classify_folder(path: Path) -> tuple[str, list[Path]]:
    prefixes = checkpoint_prefixes(path)
    if prefixes:
        return "ckpt", prefixes
    files = sorted(p for p in path.iterdir() if p.is_file())
    weights = [p for p in files if is_weights_file(p)]
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


def _classify_glob(text: str) -> tuple[str, list[Path]]:
    matches = [p for p in expand_glob(text) if p.is_file() or _is_savedmodel(p)]
    if not matches:
        raise ModelError(text, "no files match this pattern")
    if all(p.suffix == ".index" for p in matches):
        return "ckpt", [p.with_suffix("") for p in matches]
    if all(is_weights_file(p) for p in matches):
        return "weights", matches
    if all(_is_model_file(p) for p in matches):
        return "models", matches
    raise ModelError(text, "the pattern matches files of different kinds; narrow it to one kind")


def classify(source: str) -> tuple[str, list[Path]]:
    """What a path, folder or glob holds: ('savedmodel'|'ckpt'|'weights'|'models', paths)."""
    text = os.path.expanduser(source)
    path = Path(text)
    if _is_savedmodel(path):
        return "savedmodel", [path]
    if path.is_dir():
        return _classify_folder(path)
    if path.is_file():
        if path.suffix == ".index":
            return "ckpt", [path.with_suffix("")]
        if is_weights_file(path):
            return "weights", [path]
        return "models", [path]
    if Path(text + ".index").is_file():
        return "ckpt", [path]
    if has_glob(text):
        return _classify_glob(text)
    raise ModelError(text, "no such file or folder")


# --------------------------------------------------------------------------- models


def check_model_file(path: Path) -> None:
    """Catch the common corrupt-file cases before Keras prints a page about them."""
    if not path.is_file():
        raise ModelError(path, "model file does not exist")
    suffix = path.suffix.lower()
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(path, "not a valid .keras model file (not a zip archive; corrupt?)")
    if suffix in (".h5", ".hdf5"):
        with open(path, "rb") as fh:
            if fh.read(8) != _HDF5_MAGIC:
                raise ModelError(path, "not a valid HDF5 model file (corrupt?)")


_MISSING = re.compile(r"Could not locate (class|function) '([^']+)'")
_UNKNOWN = re.compile(r"Unknown (layer|object|activation|loss|metric|function)[^:]*: '?([\w.>]+)")


def _load_error(exc: Exception) -> str:
    """Keras' load error as one line that keeps its cause: a missing custom class named,
    with how to fix it, or the innermost "Exception encountered" part."""
    text = " ".join(str(exc).split())
    missing = _MISSING.search(text) or _UNKNOWN.search(text)
    if missing:
        kind = "function" if missing.group(1) == "function" else "class"
        name = missing.group(2).rpartition(">")[2]
        return (f"cannot load the model: the model uses the custom {kind} '{name}', which is "
                "not defined here: pass --import with the module that defines it (e.g. "
                f"--import mylayers.py; from Python, custom_objects={{'{name}': {name}}})")
    cause = text.rpartition("Exception encountered:")[2].strip() or text
    return f"cannot load the model: {one_line(cause)}"


def load_keras_model(model_path: str | Path,
                     custom_objects: dict[str, Any] | None = None) -> Any:
    """Load a ``.keras`` (or legacy ``.h5``) model without its optimizer or loss: drawing a
    network needs neither, and custom losses would otherwise make loading fail. The file is
    checked before Keras is imported. ``custom_objects``: the custom classes and functions
    the model uses, by name (``--import`` collects them from the user's modules)."""
    path = Path(model_path)
    if not path.exists():
        raise ModelError(path, "model file does not exist")
    if not path.is_file():
        raise ModelError(path, "model path is not a file")
    if is_weights_file(path):
        raise ModelError(path, f"{_WEIGHTS_ONLY} this as the weights")
    check_model_file(path)
    keras = keras_module()
    try:
        model = keras.saving.load_model(str(path), custom_objects=custom_objects or None,
                                        compile=False)
    except Exception as exc:  # Keras raises ValueError, OSError, TypeError, KeyError...
        raise ModelError(path, _load_error(exc)) from None
    if not isinstance(model, keras.Model):
        raise ModelError(path, "the file does not hold a Keras model")
    return model


def build_from(builder: str) -> Any:
    """Call ``module:function`` or ``path/to/file.py:function`` (``builders.call_builder``)
    and check that it returned a built Keras model."""
    keras = keras_module()  # quietly, before the builder's own `import keras` is noisy
    model = call_builder(builder)
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


def input_shapes(model: Any) -> list[list[int | None]]:
    """Each model input's shape without the batch axis (None: any size)."""
    return [[None if d is None else int(d) for d in t.shape[1:]] for t in model.inputs]


# --------------------------------------------------------------------------- weights


def _weights_error(exc: Exception, epoch: int) -> str:
    """Keras' long multi-line ``load_weights`` error as one line naming, when Keras says
    which, the layer and the shapes or counts that differ."""
    text = " ".join(str(exc).split())
    layer = re.search(r"object <\w+ name=([^,>\s]+)", text) or re.search(
        r"[Ll]ayer ['\"]?([\w./-]+?)['\"]?(?:[\s:,]|$)", text
    )
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
    counts = re.search(r"expected (\d+) variables?, but received (\d+) variables?", text)
    where = f" at layer {layer.group(1)}" if layer else ""
    if isinstance(exc, OSError) and not (shapes or counts):
        return f"epoch {epoch}: not a readable weights file ({one_line(exc, 120)})"
    if shapes:
        detail = f"the model expects shape {shapes.group(1)}, the file has {shapes.group(2)}"
    elif counts:
        detail = f"the model expects {counts.group(1)} arrays, the file has {counts.group(2)}"
    else:
        detail = one_line(exc, 160)
    return f"epoch {epoch}: weights do not fit the model{where}: {detail}"


def load_weights_file(model: Any, file: Path, epoch: int) -> None:
    """``model.load_weights`` (it reads ``.weights.h5``, ``.keras`` and legacy ``.h5``
    alike), its errors one line naming the file, the epoch and, where known, the layer."""
    if not file.is_file():
        raise ModelError(file, f"epoch {epoch}: weights file does not exist")
    if not is_weights_file(file):
        check_model_file(file)
    try:
        model.load_weights(str(file))
    except Exception as exc:
        raise ModelError(file, _weights_error(exc, epoch)) from None


def file_loader(file: Path, epoch: int) -> Loader:
    """The series loader for one epoch's weights file."""
    return lambda model: load_weights_file(model, file, epoch)


# --------------------------------------------------------------------------- open_model


def _kind_series(kind: str, paths: list[Path], source: str, allow_gaps: bool) -> Series:
    if kind == "savedmodel":
        folder = paths[0]
        prefix = folder / "variables" / "variables"
        if not Path(str(prefix) + ".index").is_file():
            raise ModelError(folder, "SavedModel has no variables/variables.index")
        return [EpochLoad(0, str(folder), checkpoint_loader(prefix, 0, where=folder))]
    ordered = number_files(paths, source, allow_gaps)
    if kind == "ckpt":
        return [EpochLoad(n, str(p) + ".index", checkpoint_loader(p, n)) for n, p in ordered]
    return [EpochLoad(n, str(p), file_loader(p, n)) for n, p in ordered]


def _no_layers(source: str, kind: str) -> ModelError:
    if kind == "savedmodel":
        return ModelError(
            source,
            "a SavedModel holds traced functions, not the layer graph nnrender draws; pass "
            "--builder module:function (a function returning the same Keras model) and "
            "its variables are restored into it",
        )
    return ModelError(
        source,
        "TensorFlow checkpoints hold variables, not layers; pass --builder "
        "module:function (a function returning the same, built Keras model)",
    )


def open_model(
    path: str | Path,
    *,
    builder: str | None = None,
    weights: str | Path | None = None,
    allow_gaps: bool = False,
    custom_objects: dict[str, Any] | None = None,
) -> tuple[Any, Series | None]:
    """A built Keras model and its epochs' loaders (None: dump the model's own weights).

    ``path`` gives the architecture: a ``.keras``/``.h5`` model, or a folder/glob of
    per-epoch full models (the lowest epoch's file gives the layers, every file an epoch).
    With ``builder`` the architecture comes from that function instead and ``path`` (unless
    ``weights`` is given) is where the weights are: a SavedModel folder, TF checkpoints,
    weight files. ``weights`` is a file, folder or glob of epochs for the architecture.
    ``custom_objects``: the custom classes a model file uses (``load_keras_model``).
    """
    objects = custom_objects
    source = os.path.expanduser(str(path))
    if builder is not None:
        model = build_from(builder)
        where = str(weights) if weights is not None else source
        kind, paths = classify(where)
        return model, _kind_series(kind, paths, where, allow_gaps)

    kind, paths = classify(source)
    if kind in ("savedmodel", "ckpt"):
        raise _no_layers(source, kind)
    if kind == "weights":
        # only a folder holding one model file beside its epoch_*.weights.h5 has layers
        folder = Path(source)
        models = (
            [p for p in sorted(folder.iterdir()) if p.is_file() and _is_model_file(p)]
            if folder.is_dir()
            else []
        )
        if len(models) != 1:
            raise ModelError(paths[0], f"{_WEIGHTS_ONLY} these as the weights")
        if weights is None:
            return load_keras_model(models[0], objects), _kind_series("weights", paths,
                                                                      source, allow_gaps)
        paths = models
    if weights is not None:
        if len(paths) != 1:
            raise ModelError(source, "give one model file when the weights come separately")
        model = load_keras_model(paths[0], objects)
        wkind, wpaths = classify(str(weights))
        return model, _kind_series(wkind, wpaths, str(weights), allow_gaps)
    if len(paths) == 1:
        return load_keras_model(paths[0], objects), None
    series = _kind_series("models", paths, source, allow_gaps)
    return load_keras_model(Path(series[0][1]), objects), series
