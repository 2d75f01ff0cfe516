"""Keras 3 reader: a saved model + its per-epoch weight files -> an nnrender dump.

This is the only place (with ``demo_train``) that imports Keras/TensorFlow, and it does so
lazily inside the functions, so ``find_weight_series`` and importing this module stay cheap.
Every problem the user can fix (a missing or corrupt file, weights from another model,
inputs of the wrong shape, NaN activations) is raised as a one-line ``ModelError`` that names
the file and, where known, the layer and epoch.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError
from nnrender.model.ir import DumpWriter, LayerInfo

WEIGHTS_SUFFIX = ".weights.h5"
# Suffixes stripped before looking for the epoch number ("epoch_08.weights.h5" -> 8, not 5).
_NAME_SUFFIXES = (".weights.h5", ".weights.hdf5", ".keras", ".hdf5", ".h5")
# Layer config fields worth showing in a picture or a figure caption.
_CONFIG_KEYS = (
    "filters",
    "kernel_size",
    "strides",
    "pool_size",
    "padding",
    "units",
    "activation",
    "rate",
    "data_format",
)
_GLOB_CHARS = set("*?[")
_PREDICT_BATCH = 64


def _keras() -> Any:
    """Import Keras on first use, quietly (TensorFlow's C++ logging floods the terminal)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def _one_line(text: object, limit: int = 240) -> str:
    """Collapse an exception message to one short line (Keras messages dump whole tensors)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# --------------------------------------------------------------------------- weight series


def epoch_number(path: str | Path) -> int | None:
    """The last integer in the file name, ignoring the extension; None when there is none."""
    name = Path(path).name
    lower = name.lower()
    for suffix in _NAME_SUFFIXES:
        if lower.endswith(suffix):
            name = name[: -len(suffix)]
            break
    numbers = re.findall(r"\d+", name)
    return int(numbers[-1]) if numbers else None


def find_weight_series(pattern_or_folder: str | Path) -> list[tuple[int, Path]]:
    """Expand a glob (or a folder: its ``*.weights.h5``) into ``(epoch, file)`` pairs ordered by
    the epoch number in each file name, numerically (epoch_2 before epoch_10)."""
    text = os.path.expanduser(str(pattern_or_folder))
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.glob("*" + WEIGHTS_SUFFIX) if p.is_file())
        if not files:
            raise ModelError(path, f"no *{WEIGHTS_SUFFIX} weight files in this folder")
    elif path.is_file():
        files = [path]
    elif _GLOB_CHARS & set(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise ModelError(text, "no weight files match this pattern")
    else:
        raise ModelError(text, "weights: no such file or folder")

    by_epoch: dict[int, Path] = {}
    for file in files:
        number = epoch_number(file)
        if number is None:
            raise ModelError(file, "no epoch number in the weight file's name (e.g. epoch_3)")
        if number in by_epoch:
            raise ModelError(
                file, f"epoch {number} appears twice (also in {by_epoch[number].name})"
            )
        by_epoch[number] = file
    return sorted(by_epoch.items())


def _resolve_weights(
    weights: str | Path | Sequence[str | Path | tuple[int, str | Path]],
) -> list[tuple[int, Path]]:
    """Accept a pattern/folder, a list of files/patterns, or find_weight_series' own output.

    A plain list keeps the numbers in its file names when every file has a distinct one
    (then it is ordered by them); otherwise the files are epochs 0..n-1 in the given order.
    """
    if isinstance(weights, (str, Path)):
        return find_weight_series(weights)
    items = list(weights)
    if not items:
        raise ModelError(None, "weights: the list of weight files is empty")
    if all(isinstance(it, tuple) and len(it) == 2 for it in items):
        pairs = [(int(n), Path(f)) for n, f in items]  # type: ignore[misc]
        numbers = [n for n, _ in pairs]
        if len(set(numbers)) != len(numbers):
            raise ModelError(None, "weights: duplicate epoch numbers")
        return sorted(pairs)
    files: list[Path] = []
    for item in items:
        text = os.path.expanduser(str(item))
        if Path(text).is_dir() or (_GLOB_CHARS & set(text) and not Path(text).exists()):
            files.extend(f for _, f in find_weight_series(text))
        else:
            files.append(Path(text))
    numbers = [epoch_number(f) for f in files]
    if all(n is not None for n in numbers) and len(set(numbers)) == len(numbers):
        return sorted(zip(numbers, files, strict=True))  # type: ignore[arg-type]
    return list(enumerate(files))


# --------------------------------------------------------------------------- model loading


def load_keras_model(model_path: str | Path) -> Any:
    """Load a ``.keras`` (or legacy ``.h5``) model without its optimizer or loss: drawing a
    network needs neither, and custom losses would otherwise make loading fail."""
    path = Path(model_path)
    if not path.exists():
        raise ModelError(path, "model file does not exist")
    if not path.is_file():
        raise ModelError(path, "model path is not a file")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        import zipfile

        if not zipfile.is_zipfile(path):
            raise ModelError(path, "not a valid .keras model file (not a zip archive; corrupt?)")
    elif suffix in (".h5", ".hdf5"):
        if path.name.lower().endswith((".weights.h5", ".weights.hdf5")):
            raise ModelError(
                path, "this is a weights-only file; give the .keras model and pass it as weights"
            )
        with open(path, "rb") as fh:
            if fh.read(8) != b"\x89HDF\r\n\x1a\n":
                raise ModelError(path, "not a valid HDF5 model file (corrupt?)")
    keras = _keras()
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as exc:  # Keras raises ValueError, OSError, TypeError, KeyError...
        raise ModelError(path, f"cannot load the model: {_one_line(exc)}") from None
    if not isinstance(model, keras.Model):
        raise ModelError(path, "the file does not hold a Keras model")
    return model


def _input_layer(model: Any, path: Path) -> Any:
    try:
        inputs = list(model.inputs)
    except Exception:
        inputs = []
    if not inputs:
        raise ModelError(
            path,
            "the model has no defined input (a subclassed or unbuilt model); "
            "save a Functional or Sequential model built with keras.Input",
        )
    if len(inputs) != 1:
        names = ", ".join(t.name for t in inputs)
        raise ModelError(path, f"models with several inputs ({names}) are not supported")
    return inputs[0]._keras_history.operation


def _json_safe(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        if "class_name" in value:  # a serialized object, e.g. a custom activation
            return str(value["class_name"])
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return getattr(value, "__name__", str(value))


def _small_config(layer: Any) -> dict[str, Any]:
    try:
        config = layer.get_config()
    except Exception:  # custom layers without get_config: the picture does without
        return {}
    return {k: _json_safe(config[k]) for k in _CONFIG_KEYS if k in config}


def _shape(shape: Iterable[Any]) -> list[int | None]:
    return [None if d is None else int(d) for d in shape]


def _functional_inbound(layer: Any, kept: set[str]) -> list[str]:
    """Names of the manifest layers feeding ``layer``'s first call, looking through plain ops
    (``keras.ops.add`` ...) that are not layers and so have no manifest entry."""
    names: list[str] = []
    seen: set[int] = set()

    def visit(tensor: Any) -> None:
        hist = tensor._keras_history
        op = hist.operation
        if op.name in kept and op is not layer:
            if op.name not in names:
                names.append(op.name)
            return
        if id(op) in seen:
            return
        seen.add(id(op))
        node = op._inbound_nodes[hist.node_index]
        for parent in node.input_tensors:
            visit(parent)

    for tensor in layer._inbound_nodes[0].input_tensors:
        visit(tensor)
    return names


def _describe(model: Any, path: Path) -> tuple[Any, list[Any], list[LayerInfo]]:
    """The input layer, the drawable layers (input excluded) and their manifest entries.
    Shapes with unknown dimensions stay None here; the first activations fill them in."""
    keras = _keras()
    input_op = _input_layer(model, path)
    input_tensor = model.inputs[0]
    layers = [
        layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)
    ]
    if not layers:
        raise ModelError(path, "the model has no layers besides its input")
    infos = [
        LayerInfo(
            name=input_op.name,
            type="InputLayer",
            output_shape=_shape(input_tensor.shape[1:]),  # type: ignore[arg-type]
            params=0,
            inbound=[],
            config={},
        )
    ]
    sequential = isinstance(model, keras.Sequential)
    kept = {input_op.name}
    previous = input_op.name
    for layer in layers:
        try:
            out = layer.output
        except Exception:
            raise ModelError(
                path, f"layer {layer.name}: it is not connected to the model input"
            ) from None
        if isinstance(out, (list, tuple, dict)):
            raise ModelError(
                path, f"layer {layer.name}: layers with several outputs are not supported"
            )
        if sequential:
            inbound = [previous]
        else:
            try:
                inbound = _functional_inbound(layer, kept)
            except Exception:  # private graph attributes moved: fall back to a chain
                inbound = [previous]
        try:
            params = int(layer.count_params())
        except Exception:
            params = 0
        infos.append(
            LayerInfo(
                name=layer.name,
                type=type(layer).__name__,
                output_shape=_shape(out.shape[1:]),  # type: ignore[arg-type]
                params=params,
                inbound=inbound,
                config=_small_config(layer),
            )
        )
        kept.add(layer.name)
        previous = layer.name
    return input_op, layers, infos


# --------------------------------------------------------------------------- inputs


def _fit_inputs(inputs: Any, expected: list[int | None], dtype: str, source: str,
                input_name: str) -> np.ndarray:
    """Match the input batch to the model input, adding a trailing channel axis of 1 (grey
    images given as (N, H, W)) or a batch axis (one sample) when that is all that is missing."""
    where = source or "inputs"
    try:
        x = np.asarray(inputs)
    except Exception as exc:
        raise ModelError(where, f"inputs are not an array: {_one_line(exc)}") from None
    if x.dtype.kind not in "biuf":
        raise ModelError(where, f"inputs must be numeric, got dtype {x.dtype}")

    def fits(shape: tuple[int, ...]) -> bool:
        return len(shape) == len(expected) and all(
            e is None or e == s for e, s in zip(expected, shape, strict=True)
        )

    if x.ndim >= 1 and fits(x.shape[1:]):
        pass
    elif x.ndim >= 1 and fits((*x.shape[1:], 1)):
        x = x[..., np.newaxis]
    elif fits(x.shape):
        x = x[np.newaxis]
    elif fits((*x.shape, 1)):
        x = x[np.newaxis, ..., np.newaxis]
    else:
        want = "(N, " + ", ".join("?" if e is None else str(e) for e in expected) + ")"
        raise ModelError(
            where,
            f"inputs have shape {tuple(x.shape)}; model input {input_name} expects {want}",
        )
    if x.shape[0] < 1:
        raise ModelError(where, "inputs: no samples")
    x = x.astype(dtype if np.dtype(dtype).kind == "f" else "float32", copy=False)
    if not np.all(np.isfinite(x)):
        raise ModelError(where, "inputs contain NaN or Inf")
    return x


# --------------------------------------------------------------------------- weights


def _load_weights(model: Any, file: Path, epoch: int) -> None:
    """``model.load_weights`` with its long multi-line errors turned into one line naming the
    weights file and, when Keras says which, the layer."""
    if not file.is_file():
        raise ModelError(file, f"epoch {epoch}: weights file does not exist")
    try:
        model.load_weights(str(file))
    except Exception as exc:
        text = " ".join(str(exc).split())
        layer = re.search(r"object <\w+ name=([^,>\s]+)", text) or re.search(
            r"[Ll]ayer ['\"]?([\w./-]+?)['\"]?(?:[\s:,]|$)", text
        )
        shapes = re.search(
            r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text
        )
        counts = re.search(r"expected (\d+) variables?, but received (\d+) variables?", text)
        where = f" at layer {layer.group(1)}" if layer else ""
        if isinstance(exc, OSError) and not (shapes or counts):
            raise ModelError(
                file, f"epoch {epoch}: not a readable weights file ({_one_line(exc, 120)})"
            ) from None
        if shapes:
            detail = f"the model expects shape {shapes.group(1)}, the file has {shapes.group(2)}"
        elif counts:
            detail = (
                f"the model expects {counts.group(1)} arrays, the file has {counts.group(2)}"
            )
        else:
            detail = _one_line(exc, 160)
        raise ModelError(
            file, f"epoch {epoch}: weights do not fit the model{where}: {detail}"
        ) from None


# --------------------------------------------------------------------------- dump


def dump_keras(
    model_path: str | Path,
    weights: str | Path | Sequence[str | Path | tuple[int, str | Path]] | None,
    inputs: np.ndarray,
    out_dir: str | Path,
    *,
    labels: Sequence[Any] | np.ndarray | None = None,
    input_source: str = "",
    dtype: str = "float32",
    metrics_by_epoch: dict[int, dict[str, float]] | None = None,
) -> Path:
    """Record a Keras model's layers and, for each epoch's weights, every layer's activations
    for ``inputs`` into the dump folder ``out_dir`` (written atomically: a failure leaves an
    earlier dump there untouched). ``weights=None`` dumps the model's own weights as epoch 0.
    Returns the dump folder."""
    path = Path(model_path)
    model = load_keras_model(path)
    keras = _keras()
    input_op, layers, infos = _describe(model, path)

    input_dtype = str(getattr(model.inputs[0], "dtype", "float32") or "float32")
    x = _fit_inputs(inputs, infos[0].output_shape, input_dtype, input_source, input_op.name)
    infos[0].output_shape = [int(d) for d in x.shape[1:]]
    count = int(x.shape[0])

    label_list: list[Any] | None = None
    if labels is not None:
        label_list = np.asarray(labels).tolist()
        if not isinstance(label_list, list) or len(label_list) != count:
            raise ModelError(
                input_source or "labels",
                f"labels: {len(label_list) if isinstance(label_list, list) else 1} labels "
                f"for {count} inputs",
            )

    if weights is None:
        series: list[tuple[int, Path | None]] = [(0, None)]
    else:
        series = list(_resolve_weights(weights))
    metrics = {  # numbers only: DumpWriter stores floats
        int(k): {str(m): float(val) for m, val in dict(v).items()
                 if isinstance(val, (int, float, np.number)) and not isinstance(val, bool)}
        for k, v in (metrics_by_epoch or {}).items()
    }
    try:
        if np.dtype(dtype).kind != "f":
            raise TypeError
    except TypeError:
        raise ModelError(None, f"dtype: {dtype!r} is not a float type (float32, float16)") from None

    try:
        act_model = keras.Model(model.inputs, [layer.output for layer in layers])
    except Exception as exc:
        raise ModelError(path, f"cannot build the activations model: {_one_line(exc)}") from None

    writer = DumpWriter(out_dir, dtype=dtype)
    try:
        for epoch, file in series:
            source = path if file is None else file
            if file is not None:
                _load_weights(model, file, epoch)
            try:
                outputs = act_model.predict(x, batch_size=_PREDICT_BATCH, verbose=0)
            except Exception as exc:
                raise ModelError(
                    source, f"epoch {epoch}: cannot compute activations: {_one_line(exc)}"
                ) from None
            if not isinstance(outputs, (list, tuple)):
                outputs = [outputs]
            activations = [x] + [np.asarray(a) for a in outputs]
            for info, act in zip(infos, activations, strict=True):
                _check_activations(act, info, epoch, source, writer.dtype)
            if epoch == series[0][0]:
                for info, act in zip(infos, activations, strict=True):
                    info.output_shape = [int(d) for d in act.shape[1:]]
            else:
                for info, act in zip(infos, activations, strict=True):
                    if list(act.shape[1:]) != info.output_shape:
                        raise ModelError(
                            source,
                            f"epoch {epoch}: layer {info.name}: activations shape "
                            f"{list(act.shape[1:])} differs from epoch {series[0][0]}'s "
                            f"{info.output_shape}",
                        )
            layer_weights: list[list[np.ndarray]] = [[]] + [
                [np.asarray(w) for w in layer.get_weights()] for layer in layers
            ]
            for info, ws in zip(infos, layer_weights, strict=True):
                # relu(NaN) is 0 in TensorFlow, so NaN weights can hide behind finite outputs
                if any(w.dtype.kind == "f" and not np.all(np.isfinite(w)) for w in ws):
                    raise ModelError(
                        source, f"epoch {epoch}: layer {info.name}: NaN or Inf weights"
                    )
            writer.add_epoch(
                epoch,
                activations,
                layer_weights,
                source=str(source),
                metrics=metrics.get(epoch),
            )
        model_info = {
            "name": str(model.name),
            "source": str(model_path),
            "framework": f"keras {keras.__version__}",
        }
        inputs_info = {
            "count": count,
            "shape": [int(d) for d in x.shape[1:]],
            "source": input_source,
            "labels": label_list,
        }
        return writer.finish(model_info, infos, inputs_info, input_arrays={"inputs": x})
    except BaseException:
        writer.abort()
        raise


def _check_activations(act: np.ndarray, info: LayerInfo, epoch: int, source: Path,
                       dtype: np.dtype) -> None:
    if not np.all(np.isfinite(act)):
        raise ModelError(
            source, f"epoch {epoch}: layer {info.name}: NaN or Inf activations"
        )
    if dtype.itemsize < act.dtype.itemsize and dtype.kind == "f":
        if not np.all(np.isfinite(act.astype(dtype))):
            raise ModelError(
                source,
                f"epoch {epoch}: layer {info.name}: activations overflow {dtype.name}; "
                "dump with dtype float32",
            )


def dump_size(path: str | Path) -> int:
    """Bytes on disk under a dump folder (for progress lines and benchmarks)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())

