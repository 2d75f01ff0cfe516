"""Model inputs for a dump: images, ``.npy`` arrays or scikit-learn's digits, as one batch.

Pure numpy + Pillow (no TensorFlow), so the command line can check inputs before it pays for
importing Keras. Images and digits are brought to the model's input size and channel count and
scaled as the model was trained (``scale``); ``.npy`` arrays are taken as they are (they are
assumed to be preprocessed already; integer arrays, token ids, stay integers when every spec
is one, so the reader can hand them to an integer model input). Every problem is a one-line
``ModelError`` naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.errors import ModelError

SCALES = ("0-1", "-1-1", "0-255", "imagenet-caffe")
RESIZES = ("stretch", "crop", "fit")
DIGITS_PREFIX = "digits:"
_DIGITS_COUNT = 1797  # samples in sklearn's bundled digits
# Keras' "caffe" preprocessing (ResNet50, VGG): BGR order, ImageNet mean subtracted, no /255.
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def load_inputs(
    specs: Sequence[str | Path],
    input_shape: Sequence[int | None],
    *,
    scale: str = "0-1",
    resize: str = "stretch",
) -> np.ndarray:
    """One batch ``(N, *input_shape)`` from ``specs`` (float32, or the integer type of
    integer ``.npy`` arrays when all the specs are such), in order: image files
    (PNG/JPEG/...), ``.npy`` arrays (with or without a batch axis) and ``digits:N`` (the first
    N of sklearn's 8x8 digits, scaled /16).

    ``input_shape`` is the model input without the batch axis (None: any size). Images are
    converted to the model's channel count (1: grey, 3: RGB), resized to its H x W
    (``resize``: ``stretch``; ``crop``, centre crop to the aspect first; ``fit``, letterbox
    with black) and scaled from 0..1 to ``scale``: ``0-1``, ``-1-1``, ``0-255`` or
    ``imagenet-caffe`` (BGR, 0..255 minus the ImageNet mean, as Keras' ResNet50 expects).
    """
    shape = [None if d is None else int(d) for d in input_shape]
    if scale not in SCALES:
        raise ModelError("--scale", f"scale {scale!r} is not one of {', '.join(SCALES)}")
    if resize not in RESIZES:
        raise ModelError("--resize", f"resize {resize!r} is not one of {', '.join(RESIZES)}")
    if not specs:
        raise ModelError("inputs", "no inputs given")
    batches: list[np.ndarray] = []
    first: str | None = None
    for spec in specs:
        text = str(spec)
        if isinstance(spec, str) and text.startswith(DIGITS_PREFIX):
            batch = _digits(text, shape, scale)
        elif Path(text).suffix.lower() == ".npy":
            batch = _npy(Path(text), shape)
        else:
            batch = _image(Path(text), shape, scale, resize)[np.newaxis]
        if batches and batch.shape[1:] != batches[0].shape[1:]:
            raise ModelError(
                text, f"shape {list(batch.shape[1:])} differs from {first}'s "
                f"{list(batches[0].shape[1:])} (the model input {show_shape(shape)} has no "
                "fixed size)"
            )
        first = first or text
        batches.append(batch)
    if not all(b.dtype.kind in "biu" for b in batches):
        batches = [b.astype(np.float32, copy=False) for b in batches]
    out = np.concatenate(batches) if len(batches) > 1 else batches[0]
    if out.dtype.kind == "f" and not np.all(np.isfinite(out)):
        raise ModelError(first, "inputs contain NaN or Inf")
    return out


def load_model_inputs(
    specs: Sequence[str | Path],
    input_shapes: Sequence[Sequence[int | None]],
    *,
    scale: str = "0-1",
    resize: str = "stretch",
) -> np.ndarray | list[np.ndarray]:
    """The batch for a model with these input shapes: one model input takes every spec
    (``load_inputs``); a model with several takes one spec per input, in order."""
    if len(input_shapes) == 1:
        return load_inputs(specs, input_shapes[0], scale=scale, resize=resize)
    if len(specs) != len(input_shapes):
        raise ModelError("--input", f"the model has {len(input_shapes)} inputs: give one "
                                    "--input per input, in order")
    return [load_inputs([spec], shape, scale=scale, resize=resize)
            for spec, shape in zip(specs, input_shapes, strict=True)]


def load_layout_inputs(
    specs: Sequence[str | Path],
    input_shapes: Sequence[Sequence[int | None]],
    channels_first: Sequence[bool],
    *,
    scale: str = "0-1",
    resize: str = "stretch",
) -> np.ndarray | list[np.ndarray]:
    """``load_model_inputs`` for a model in its own layout (PyTorch, ONNX): ``input_shapes``
    are the model's (no batch axis), and an input that is ``channels_first`` (C, H, W) gets
    images and digits loaded as (H, W, C) and moved to (C, H, W). ``.npy`` arrays are taken
    in the model's layout (a grey (N, H, W) array gets its channel axis after the batch)."""
    if len(input_shapes) != 1 and len(specs) != len(input_shapes):
        raise ModelError("--input", f"the model has {len(input_shapes)} inputs: give one "
                                    "--input per input, in order")
    groups = [list(specs)] if len(input_shapes) == 1 else [[spec] for spec in specs]
    out = []
    for group, shape, first in zip(groups, input_shapes, channels_first, strict=True):
        shape = [None if d is None else int(d) for d in shape]
        drawn = shape[1:] + shape[:1] if first and len(shape) >= 2 else shape
        parts = []
        for spec in group:
            if Path(str(spec)).suffix.lower() == ".npy" and not str(spec).startswith(
                    DIGITS_PREFIX):
                parts.append(_npy_layout(Path(str(spec)), shape, first))
            else:
                x = load_inputs([spec], drawn, scale=scale, resize=resize)
                parts.append(np.ascontiguousarray(np.moveaxis(x, -1, 1))
                             if first and x.ndim >= 3 else x)
        if len({p.shape[1:] for p in parts}) > 1:
            raise ModelError(str(group[-1]), f"shape {list(parts[-1].shape[1:])} differs from "
                             f"{group[0]}'s {list(parts[0].shape[1:])}")
        if not all(p.dtype.kind in "biu" for p in parts):
            parts = [p.astype(np.float32, copy=False) for p in parts]
        out.append(np.concatenate(parts) if len(parts) > 1 else parts[0])
    return out[0] if len(out) == 1 else out


def _npy_layout(path: Path, shape: list[int | None], channels_first: bool) -> np.ndarray:
    if not channels_first:
        return _npy(path, shape)
    try:
        return _npy(path, shape)
    except ModelError:
        x = np.load(path, allow_pickle=False)
        if shape and shape[0] in (1, None) and x.ndim >= 1 \
                and shape_fits((1, *x.shape[1:]), shape):
            return x[:, np.newaxis]
        raise


def show_shape(shape: Sequence[int | None]) -> str:
    """A model input shape as users read it: ``(28, 28, 1)``, ``?`` for a free size."""
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def shape_fits(shape: Sequence[int], expected: Sequence[int | None]) -> bool:
    """Whether an array shape (no batch axis) fits a model input (None: any size). Shared by
    these loaders and the readers' check of arrays passed in from Python."""
    return len(shape) == len(expected) and all(
        e is None or e == s for s, e in zip(shape, expected, strict=True)
    )


def _image_geometry(shape: list[int | None], where: str) -> tuple[int | None, int | None, int]:
    """(H, W, channels) of an image model input: (H, W, C) or (H, W) (grey, no channel axis)."""
    if len(shape) == 3:
        h, w, c = shape
        if c not in (1, 3):
            raise ModelError(
                where, f"the model expects {c} channels per pixel {show_shape(shape)}; images can "
                "only be converted to 1 (grey) or 3 (RGB) channels: give a .npy array"
            )
        return h, w, c
    if len(shape) == 2:
        return shape[0], shape[1], 0
    raise ModelError(where, f"the model input {show_shape(shape)} is not an image (H, W[, C]); "
                     "give a .npy array")


def _scale(x: np.ndarray, scale: str, channels: int, where: str) -> np.ndarray:
    """Map 0..1 values to the model's range (channels: last axis, 0 when there is none)."""
    if scale == "0-1":
        return x
    if scale == "-1-1":
        return x * 2.0 - 1.0
    if scale == "0-255":
        return x * 255.0
    if channels != 3:
        raise ModelError(where, "scale imagenet-caffe needs a 3-channel (RGB) model input")
    return x[..., ::-1] * 255.0 - _CAFFE_MEAN_BGR


def _resized(img: Any, h: int | None, w: int | None, resize: str) -> Any:
    """The Pillow image brought to (h, w); None keeps that side (the model takes any size)."""
    from PIL import Image

    src_w, src_h = img.size
    if h is None and w is None:
        return img
    h = h if h is not None else round(src_h * w / src_w)  # type: ignore[operator]
    w = w if w is not None else round(src_w * h / src_h)
    if (src_w, src_h) == (w, h):
        return img
    if resize == "crop":
        aspect = w / h
        if src_w / src_h > aspect:
            cw = max(1, round(src_h * aspect))
            left = (src_w - cw) // 2
            img = img.crop((left, 0, left + cw, src_h))
        else:
            ch = max(1, round(src_w / aspect))
            top = (src_h - ch) // 2
            img = img.crop((0, top, src_w, top + ch))
    elif resize == "fit":
        ratio = min(w / src_w, h / src_h)
        inner = img.resize((max(1, round(src_w * ratio)), max(1, round(src_h * ratio))),
                           Image.Resampling.BILINEAR)
        canvas = Image.new(img.mode, (w, h))
        canvas.paste(inner, ((w - inner.size[0]) // 2, (h - inner.size[1]) // 2))
        return canvas
    return img.resize((w, h), Image.Resampling.BILINEAR)


def _image(path: Path, shape: list[int | None], scale: str, resize: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise ModelError(path, "input file not found")
    h, w, channels = _image_geometry(shape, str(path))
    try:
        with Image.open(path) as opened:
            opened.load()
            img = opened.convert("RGB" if channels == 3 else "L")
    except UnidentifiedImageError:
        raise ModelError(path, "not a readable image (nor a .npy array)") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt files
        raise ModelError(path, f"corrupt image: {' '.join(str(exc).split())}") from None
    img = _resized(img, h, w, resize)
    x = np.asarray(img, dtype=np.float32) / 255.0
    if channels == 1:
        x = x[..., np.newaxis]
    return _scale(x, scale, channels, str(path))


def _npy(path: Path, shape: list[int | None]) -> np.ndarray:
    """A saved array: ``(N, *shape)`` or one sample ``shape``; a missing trailing channel
    axis of 1 is added (grey images saved as (N, H, W))."""
    if not path.is_file():
        raise ModelError(path, "input file not found")
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ModelError(path, f"not a readable .npy array: {' '.join(str(exc).split())}") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
        raise ModelError(path, f"the array must be numeric, got {getattr(x, 'dtype', type(x))}")
    if x.ndim >= 1 and shape_fits(x.shape[1:], shape):
        return x
    if shape_fits(x.shape, shape):
        return x[np.newaxis]
    if shape and shape[-1] in (1, None):
        if x.ndim >= 1 and shape_fits((*x.shape[1:], 1), shape):
            return x[..., np.newaxis]
        if shape_fits((*x.shape, 1), shape):
            return x[np.newaxis, ..., np.newaxis]
    raise ModelError(path, f"array shape {tuple(x.shape)} does not fit the model input "
                     f"(N, {show_shape(shape)[1:]}")


def _digits(spec: str, shape: list[int | None], scale: str) -> np.ndarray:
    """The first N digits (8x8, 0..1), shaped for inputs (8, 8, 1), (8, 8), (64,) or another
    image size (resized; grey repeated for 3 channels)."""
    text = spec[len(DIGITS_PREFIX):]
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= _DIGITS_COUNT:
        raise ModelError(spec, f"expected digits:N with N from 1 to {_DIGITS_COUNT}")
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ModelError(spec, "digits need scikit-learn (pip install 'nnrender[tf]')") from None
    images = load_digits().images[:count].astype(np.float32) / 16.0  # (N, 8, 8)
    if len(shape) == 1:
        if shape[0] not in (64, None):
            raise ModelError(spec, f"the model input {show_shape(shape)} does not take 8x8 digits")
        return _scale(images.reshape(count, 64), scale, 0, spec)
    h, w, channels = _image_geometry(shape, spec)
    if (h, w) != (8, 8) and not (h is None and w is None):
        from PIL import Image

        size = (w or h, h or w)  # one side None: square
        images = np.stack([
            np.asarray(Image.fromarray(im).resize(size, Image.Resampling.BILINEAR))
            for im in images
        ])
    if channels == 1:
        images = images[..., np.newaxis]
    elif channels == 3:
        images = np.repeat(images[..., np.newaxis], 3, axis=-1)
    return _scale(images, scale, channels, spec)
