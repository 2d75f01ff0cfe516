"""Train an example network deterministically, cache it, and dump it: the machinery behind
``nnrender demo [NAME]``, shared by every example (``demo_train`` for the digits CNN,
``example_vit``, ``example_text``).

An ``Example`` says what to train (data, model, optimizer, the recorded inputs); this module
does the rest the same way for all of them. Results are cached in a work folder:
``done.json`` is written last, so a killed run is simply retrained, and a finished one with
the same settings is reused without importing TensorFlow at all.

Files written under the work folder:
    model.keras                       architecture + final weights
    weights/epoch_00.weights.h5 ...   epoch 0 = before training, epoch k = after k epochs
    history.json                      per-epoch loss, accuracy, val_loss, val_accuracy
    inputs.npy, labels.json           the recorded inputs and what they are
    <the example's own files>         e.g. vocab.txt (one token per line, id = line number)
    done.json                         the settings of the finished run (written last)
    dump/                             the nnrender dump (by ``run_example`` only)

TensorFlow is imported through ``keras_env`` and only when something is trained or dumped.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

DONE = "done.json"
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")

Log = Callable[[str], None]
Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


@dataclass(frozen=True)
class Example:
    """One example network: everything ``train_example`` needs to know about it.

    ``build(keras)`` returns the (uncompiled) model with every layer named explicitly, so a
    second build in the same process has the same names. ``data()`` returns the fixed
    train/test split; ``pick(*split)`` the recorded inputs and the ``labels.json`` document
    (at least ``{"labels": [...]}``). ``optimizer(keras)`` makes the optimizer.
    ``write_files(work)`` writes the example's own files (their names in ``files``), and
    ``vocab()`` the token texts by id, passed to ``dump_keras(vocab=...)`` where it takes
    them. ``dump_from_file``: dump ``model.keras`` (the digits demo, as it always did)
    rather than a model built in memory. ``version`` changes invalidate earlier caches;
    ``settings_extra`` False keeps the digits demo's ``done.json`` as it always was.
    """

    name: str
    title: str
    build: Callable[[Any], Any]
    data: Callable[[], Split]
    pick: Callable[..., tuple[np.ndarray, dict[str, Any]]]
    epochs: int = 8
    batch_size: int = 32
    optimizer: Callable[[Any], Any] = field(default=lambda keras: keras.optimizers.Adam(1e-3))
    files: tuple[str, ...] = ()
    write_files: Callable[[Path], None] | None = None
    vocab: Callable[[], list[str]] | None = None
    dump_from_file: bool = False
    version: int = 1
    settings_extra: bool = True


def keras_version() -> str:
    """Keras' version without importing it (a cache hit must not pay for TensorFlow)."""
    try:
        return metadata.version("keras")
    except metadata.PackageNotFoundError:
        return "unknown"


def settings(example: Example, epochs: int, seed: int) -> dict[str, Any]:
    """What a cached run must match to be reused."""
    out: dict[str, Any] = {"epochs": int(epochs), "seed": int(seed), "keras": keras_version()}
    if example.settings_extra:
        out.update(example=example.name, version=example.version)
    return out


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, written to a temporary name and renamed."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def quiet_tf_env() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_saver_class(keras: Any) -> type:
    """``EpochWeightsSaver``, a Keras callback (so made once Keras is imported)."""

    class EpochWeightsSaver(keras.callbacks.Callback):
        """Saves ``epoch_NN.weights.h5`` before training (epoch 0) and after every epoch
        (epoch k = after k epochs): the series the reader turns into an animation."""

        def __init__(self, folder: str | Path, pattern: str = "epoch_{epoch:02d}.weights.h5"):
            super().__init__()
            self.folder = Path(folder)
            self.pattern = pattern
            self.saved: list[Path] = []

        def _save(self, epoch: int) -> None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / self.pattern.format(epoch=epoch)
            self.model.save_weights(str(path))
            self.saved.append(path)

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            self._save(0)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._save(epoch + 1)

    return EpochWeightsSaver


def result_paths(example: Example, work: Path, epochs: int) -> dict[str, Any]:
    """The files a finished run has (``extra``: the example's own, by name)."""
    return {
        "work_dir": str(work),
        "model": str(work / "model.keras"),
        "weights": [str(work / "weights" / f"epoch_{e:02d}.weights.h5")
                    for e in range(epochs + 1)],
        "weights_dir": str(work / "weights"),
        "history": str(work / "history.json"),
        "inputs": str(work / "inputs.npy"),
        "labels": str(work / "labels.json"),
        **({"extra": {name: str(work / name) for name in example.files}}
           if example.files else {}),
    }


def cached_result(example: Example, work_dir: str | Path, epochs: int,
                  seed: int) -> dict[str, Any] | None:
    """The result of an earlier finished run with the same settings, or None."""
    work = Path(work_dir)
    try:
        done = json.loads((work / DONE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(done, dict) or done.get("settings") != settings(example, epochs, seed):
        return None
    result = result_paths(example, work, epochs)
    needed = [result["model"], result["history"], result["inputs"], result["labels"],
              *result["weights"], *result.get("extra", {}).values()]
    if not all(Path(p).is_file() for p in needed):
        return None
    result.update(cached=True, seconds=0.0, test_accuracy=done.get("test_accuracy"))
    return result


def _fit(example: Example, keras: Any, work: Path, split: Split, epochs: int,
         say: Log) -> list[dict[str, Any]]:
    """Compile and train the model; returns the per-epoch history (epoch 0 measured before
    training, the same way as the later validation figures). Saves model.keras."""
    x_train, y_train, x_test, y_test = split
    model = example.build(keras)
    model.compile(optimizer=example.optimizer(keras), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    loss0, acc0 = model.evaluate(x_train, y_train, batch_size=256, verbose=0)
    vloss0, vacc0 = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    history = [{"epoch": 0, "loss": float(loss0), "accuracy": float(acc0),
                "val_loss": float(vloss0), "val_accuracy": float(vacc0)}]

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            history.append({"epoch": epoch + 1,
                            **{k: float(logs[k]) for k in METRICS if k in logs}})
            say(f"epoch {epoch + 1}/{epochs}: loss {logs.get('loss', float('nan')):.3f} "
                f"accuracy {logs.get('accuracy', float('nan')):.3f} "
                f"val_accuracy {logs.get('val_accuracy', float('nan')):.3f}")

    model.fit(x_train, y_train, batch_size=example.batch_size, epochs=epochs,
              validation_data=(x_test, y_test), shuffle=True, verbose=0,
              callbacks=[make_saver_class(keras)(work / "weights"), Progress()])
    model.save(str(work / "model.keras"))
    return history


def train_example(example: Example, work_dir: str | Path, epochs: int | None = None,
                  seed: int = 0, *, log: Log | None = None) -> dict[str, Any]:
    """Train ``example`` into ``work_dir`` unless an identical finished run is there.
    Returns the paths written, ``cached``, ``seconds`` (training wall time) and the final
    ``test_accuracy``."""
    epochs = example.epochs if epochs is None else int(epochs)
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    work = Path(work_dir)
    say = log or (lambda _msg: None)
    cached = cached_result(example, work, epochs, seed)
    if cached is not None:
        say(f"using the trained model in {work} (epochs={epochs}, seed={seed})")
        return cached

    work.mkdir(parents=True, exist_ok=True)
    (work / DONE).unlink(missing_ok=True)  # from here on, the folder is not "done"
    shutil.rmtree(work / "weights", ignore_errors=True)

    start = time.perf_counter()
    quiet_tf_env()
    from nnrender.model.keras_env import keras_module, tensorflow_module

    keras = keras_module()
    keras.utils.set_random_seed(seed)
    tensorflow_module().config.experimental.enable_op_determinism()
    split = example.data()
    history = _fit(example, keras, work, split, epochs, say)
    seconds = time.perf_counter() - start

    inputs, labels_doc = example.pick(*split)
    np.save(work / "inputs.npy", inputs)
    write_json(work / "labels.json", labels_doc)
    if example.write_files is not None:
        example.write_files(work)
    write_json(work / "history.json", {"epochs": history})
    test_accuracy = history[-1].get("val_accuracy")
    write_json(work / DONE, {"settings": settings(example, epochs, seed),
                             "seconds": round(seconds, 2), "test_accuracy": test_accuracy})
    result = result_paths(example, work, epochs)
    result.update(cached=False, seconds=seconds, test_accuracy=test_accuracy)
    return result


def metrics_by_epoch(history_path: str | Path) -> dict[int, dict[str, float]]:
    data = json.loads(Path(history_path).read_text(encoding="utf-8"))
    return {int(row["epoch"]): {k: float(v) for k, v in row.items() if k != "epoch"}
            for row in data["epochs"]}


def dump_is_current(dump_dir: Path, work: Path, epochs: int) -> bool:
    """A dump newer than the finished training, with every epoch in it, is reused."""
    manifest = dump_dir / "manifest.json"
    try:
        if manifest.stat().st_mtime < (work / DONE).stat().st_mtime:
            return False
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return len(data["epochs"]) == epochs + 1
    except (OSError, ValueError, KeyError, TypeError):
        return False


def dump_example(example: Example, result: dict[str, Any], dump_dir: Path) -> Path:
    """Dump a finished run: every epoch's weights, the recorded inputs and their labels
    (and the vocabulary where ``dump_keras`` takes one). The model is ``model.keras`` for
    ``dump_from_file`` examples, otherwise built in memory by the example's ``build``."""
    quiet_tf_env()
    from nnrender.model.epochs import find_weight_series
    from nnrender.model.keras_capture import dump_keras

    labels = json.loads(Path(result["labels"]).read_text(encoding="utf-8"))["labels"]
    options: dict[str, Any] = {}
    if example.vocab is not None and "vocab" in inspect.signature(dump_keras).parameters:
        options["vocab"] = example.vocab()
    if example.dump_from_file:
        model: Any = result["model"]
    else:
        from nnrender.model.keras_env import keras_module

        model = example.build(keras_module())
    return dump_keras(
        model,
        find_weight_series(result["weights_dir"]),
        np.load(result["inputs"]),
        dump_dir,
        labels=labels,
        input_source=result["inputs"],
        metrics_by_epoch=metrics_by_epoch(result["history"]),
        **options,
    )


def run_example(example: Example, work: Path, epochs: int | None = None, seed: int = 0,
                force: bool = False) -> int:
    """Train if needed, then dump into ``work/dump``; short progress lines on stdout, a
    bad-input error as one line on stderr (exit 2)."""
    epochs = example.epochs if epochs is None else int(epochs)
    # This runs as the CLI's subprocess: keep TensorFlow's C++ chatter (including a harmless
    # tf.data "NodeDef mentions attribute" line) out of the user's terminal.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    def say(msg: str) -> None:
        print(f"demo: {msg}", flush=True)

    from nnrender.errors import NNRenderError, NNRenderWarning

    dump_dir = work / "dump"
    try:
        if force:
            (work / DONE).unlink(missing_ok=True)
        if cached_result(example, work, epochs, seed) is None:
            say(f"training {example.title} ({epochs} epochs, seed {seed}) in {work}")
        result = train_example(example, work, epochs, seed, log=say)
        if not result["cached"]:
            say(f"trained in {result['seconds']:.1f} s, "
                f"test accuracy {result['test_accuracy']:.3f}")
        if not force and dump_is_current(dump_dir, work, epochs):
            say(f"dump up to date: {dump_dir}")
            return 0

        say(f"dumping activations to {dump_dir}")
        start = time.perf_counter()
        with warnings.catch_warnings():  # printed below as one line each, from the manifest
            warnings.simplefilter("ignore", NNRenderWarning)
            dump_example(example, result, dump_dir)
        manifest = json.loads((dump_dir / "manifest.json").read_text(encoding="utf-8"))
        for message in manifest.get("model", {}).get("warnings", []):
            print(f"nnrender: warning: {message}", file=sys.stderr, flush=True)
        from nnrender.model.capture import dump_size

        seconds = time.perf_counter() - start
        say(f"dump written in {seconds:.1f} s ({epochs + 1} epochs, "
            f"{dump_size(dump_dir) / 1e6:.2f} MB): {dump_dir}")
    except NNRenderError as exc:
        print(exc.line(), file=sys.stderr)
        return 2
    return 0
