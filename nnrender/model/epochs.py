"""Epoch series: which file is which epoch, in what order, and how each epoch is loaded.

Pure Python (no framework import), shared by every reader, so Keras weight files, TensorFlow
checkpoints and PyTorch ``epoch_*.pt`` files are numbered and ordered by one rule:

- ``epoch_number``: the epoch is the number in the file name (``epoch_2`` before
  ``epoch_10``; a number labelled ``epoch``/``ep``/``e`` wins, decimals never count).
- ``order_by_epoch``: unnumbered files and duplicate numbers are errors; so is an irregular
  gap (1, 2, 4) unless allowed, since a missing file usually means an interrupted copy and
  the animation would skip it silently. A regular step (5, 10, 15) is fine.
- A series is a list of ``EpochLoad(epoch, source, load)``: ``source`` names the epoch in
  the manifest and in errors, ``load(model)`` puts that epoch's weights into the model
  (``None``: keep the model's own weights). Readers supply the framework's file loader.
"""

from __future__ import annotations

import glob
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from nnrender.errors import ModelError

GLOB_CHARS = frozenset("*?[")
WEIGHTS_SUFFIX = ".weights.h5"  # what a folder of weights holds unless told otherwise
# Suffixes stripped before looking for the epoch number ("epoch_08.weights.h5" -> 8, not 5).
# A reader whose files end in digits (".pt2") must add its suffixes here.
NAME_SUFFIXES = (".weights.h5", ".weights.hdf5", ".keras", ".hdf5", ".h5", ".index",
                 ".pt2", ".pth", ".pt", ".onnx", ".ckpt")
# Labels that name the epoch in a file name, most specific first.
_EPOCH_LABELS = (
    re.compile(r"(?<![a-z])epochs?[_\-.=]?(\d+)(?![\d.]*\d)", re.I),
    re.compile(r"(?<![a-z])ep[_\-.=]?(\d+)(?![\d.]*\d)", re.I),
    re.compile(r"(?<![a-z0-9])e[_\-.=]?(\d+)(?![\d.]*\d)", re.I),
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

Loader = Callable[[Any], None]


class EpochLoad(NamedTuple):
    """One epoch of a series (a plain tuple to callers: ``for epoch, source, load in ...``)."""

    epoch: int
    source: str
    load: Loader | None


Series = list[EpochLoad]
# What dump functions accept as ``weights``: a glob or folder, a list of files/patterns,
# ``(epoch, file)`` pairs, or ``(epoch, source, load)`` triples.
WeightsArg = str | Path | Sequence[str | Path | tuple[int, str | Path] | tuple[int, Any, Loader]]


def has_glob(text: str) -> bool:
    """Whether ``text`` is a pattern (``*``, ``?`` or ``[``) rather than a plain path."""
    return bool(GLOB_CHARS & set(text))


def expand_glob(text: str) -> list[Path]:
    """Every path a (recursive, ``**``) glob matches, sorted by name."""
    return sorted(Path(p) for p in glob.glob(text, recursive=True))


def _stem(name: str) -> str:
    lower = name.lower()
    for suffix in NAME_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def epoch_number(path: str | Path) -> int | None:
    """The epoch number in a file name; None when it has none.

    Rule: a number labelled ``epoch``/``ep``/``e`` wins (``run3_epoch_07`` -> 7); otherwise
    the first whole number not glued to letters (``model.03-0.52.keras`` -> 3,
    ``resnet50-04.keras`` -> 4, ``ckpt-12`` -> 12); otherwise the first whole number
    (``cp0005`` -> 5). Decimals (a ``val_loss`` such as ``0.52``) are never epochs.
    """
    name = _stem(Path(path).name)
    for label in _EPOCH_LABELS:
        match = label.search(name)
        if match:
            return int(match.group(1))
    whole = [m for m in _NUMBER.finditer(name) if "." not in m.group()]
    for m in whole:
        before = name[m.start() - 1] if m.start() > 0 else ""
        after = name[m.end()] if m.end() < len(name) else ""
        if not before.isalpha() and not after.isalpha():
            return int(m.group())
    return int(whole[0].group()) if whole else None


def order_by_epoch(
    files: list[tuple[int | None, Path]], source: str, allow_gaps: bool
) -> list[tuple[int, Path]]:
    """Sort ``(epoch, file)`` pairs by epoch; refuse unnumbered files, duplicates and (unless
    ``allow_gaps``) irregular gaps, since a missing file usually means an interrupted copy."""
    by_epoch: dict[int, Path] = {}
    for number, file in files:
        if number is None:
            raise ModelError(file, "no epoch number in the file name (e.g. epoch_3)")
        if number in by_epoch:
            raise ModelError(
                file, f"epoch {number} appears twice (also in {by_epoch[number].name})"
            )
        by_epoch[number] = file
    series = sorted(by_epoch.items())
    if allow_gaps or len(series) < 3:
        return series
    steps = [b[0] - a[0] for a, b in zip(series, series[1:], strict=False)]
    counts = Counter(steps)
    step = min(s for s, c in counts.items() if c == max(counts.values()))
    for (e1, f1), (e2, f2), gap in zip(series, series[1:], steps, strict=False):
        if gap == step:
            continue
        if gap % step == 0:
            missing = ", ".join(str(e) for e in range(e1 + step, e2, step))
            what = f"epoch{'s' if gap // step > 2 else ''} {missing} missing"
        else:
            what = f"epochs jump from {e1} to {e2} where the others step by {step}"
        raise ModelError(
            source,
            f"{what} between {f1.name} and {f2.name} (pass --allow-gaps to dump them anyway)",
        )
    return series


def number_files(paths: list[Path], source: str, allow_gaps: bool) -> list[tuple[int, Path]]:
    """``(epoch, path)`` for files found on disk: one file is its number's epoch (0 when its
    name has none, so ``final.keras`` alone is fine); several go through ``order_by_epoch``."""
    if len(paths) == 1:
        return [(epoch_number(paths[0]) or 0, paths[0])]
    return order_by_epoch([(epoch_number(p), p) for p in paths], source, allow_gaps)


def find_weight_series(
    pattern_or_folder: str | Path, suffix: str = WEIGHTS_SUFFIX
) -> list[tuple[int, Path]]:
    """Expand a glob (or a folder: its ``*<suffix>`` files) into ``(epoch, file)`` pairs
    ordered by the epoch number in each file name, numerically (epoch_2 before epoch_10)."""
    text = os.path.expanduser(str(pattern_or_folder))
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.glob("*" + suffix) if p.is_file())
        if not files:
            raise ModelError(path, f"no *{suffix} weight files in this folder")
    elif path.is_file():
        files = [path]
    elif has_glob(text):
        files = [p for p in expand_glob(text) if p.is_file()]
        if not files:
            raise ModelError(text, "no weight files match this pattern")
    else:
        raise ModelError(text, "weights: no such file or folder")
    return order_by_epoch([(epoch_number(f), f) for f in files], text, allow_gaps=True)


def resolve_weights(
    weights: str | Path | Sequence[str | Path | tuple[int, str | Path]],
    suffix: str = WEIGHTS_SUFFIX,
) -> list[tuple[int, Path]]:
    """Accept a pattern/folder, a list of files/patterns, or find_weight_series' own output.

    A plain list keeps the numbers in its file names when every file has a distinct one
    (then it is ordered by them); otherwise the files are epochs 0..n-1 in the given order.
    """
    if isinstance(weights, (str, Path)):
        return find_weight_series(weights, suffix)
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
        if Path(text).is_dir() or (has_glob(text) and not Path(text).exists()):
            files.extend(f for _, f in find_weight_series(text, suffix))
        else:
            files.append(Path(text))
    numbers = [epoch_number(f) for f in files]
    if all(n is not None for n in numbers) and len(set(numbers)) == len(numbers):
        return sorted(zip(numbers, files, strict=True))  # type: ignore[arg-type]
    return list(enumerate(files))


def resolve_series(
    weights: WeightsArg | None,
    source: str,
    file_loader: Callable[[Path, int], Loader],
    suffix: str = WEIGHTS_SUFFIX,
) -> Series:
    """The epochs a dump function's ``weights`` argument names, in order.

    ``None``: one epoch 0 from ``source`` with the model's own weights. ``(epoch, source,
    load)`` triples are taken as they are (sorted); anything else goes through
    ``resolve_weights`` and each file gets ``file_loader(file, epoch)``."""
    if weights is None:
        return [EpochLoad(0, source, None)]
    if not isinstance(weights, (str, Path)):
        items = list(weights)
        if items and all(isinstance(it, tuple) and len(it) == 3 and callable(it[2])
                         for it in items):
            triples = sorted((EpochLoad(int(n), str(src), load) for n, src, load in items),
                             key=lambda t: t.epoch)
            numbers = [t.epoch for t in triples]
            if len(set(numbers)) != len(numbers):
                raise ModelError(None, "weights: duplicate epoch numbers")
            return triples
        weights = items  # type: ignore[assignment]
    pairs = resolve_weights(weights, suffix)  # type: ignore[arg-type]
    return [EpochLoad(n, str(f), file_loader(f, n)) for n, f in pairs]


def find_model_files(source: str, suffixes: Sequence[str]) -> list[Path]:
    """The files a model argument names: a file, a folder's files ending in ``suffixes``
    (one kind: refuses a folder mixing them) or a glob's files, sorted by name."""
    text = os.path.expanduser(source)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file()
                       and p.name.lower().endswith(tuple(suffixes)))
        if not files:
            raise ModelError(path, f"no model files in this folder ({', '.join(suffixes)})")
        kinds = {next(s for s in suffixes if p.name.lower().endswith(s)) for p in files}
        if len(kinds) > 1:
            raise ModelError(path, f"the folder holds files of different kinds "
                                   f"({', '.join(sorted(kinds))}); give a glob for one kind")
        return files
    if path.is_file():
        return [path]
    if has_glob(text):
        files = [p for p in expand_glob(text) if p.is_file()]
        if not files:
            raise ModelError(text, "no files match this pattern")
        return files
    raise ModelError(text, "no such file or folder")
