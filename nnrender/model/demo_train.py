"""Train the demo digits CNN (deterministically) and dump it for rendering.

Run as ``python -m nnrender.model.demo_train WORK_DIR [--epochs N] [--seed S]``: the CLI
starts it in a subprocess so the render process never imports TensorFlow. Results are cached
in WORK_DIR: ``done.json`` is written last, so a killed run is simply retrained, and a
finished one with the same settings is reused without importing TensorFlow at all.

Files written under WORK_DIR:
    model.keras                       architecture + final weights
    weights/epoch_00.weights.h5 ...   epoch 0 = before training, epoch k = after k epochs
    history.json                      per-epoch loss, accuracy, val_loss, val_accuracy
    inputs.npy, labels.json           the 4 test images drawn, shape (4, 8, 8, 1)
    done.json                         the settings of the finished run (written last)
    dump/                             the nnrender dump (by ``main`` only)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

TEST_SIZE = 297  # the last 297 of sklearn's 1797 digits are the test split
# Digits drawn by the demo; inputs[0] is the one the still image shows, so it is the
# cleanest test image of its class (closest to the class mean of the training set).
DEMO_DIGITS = (3, 0, 7, 5)
BATCH_SIZE = 32
DONE = "done.json"

Log = Callable[[str], None]


def _quiet_tf_env() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _keras_version() -> str:
    """Keras' version without importing it (a cache hit must not pay for TensorFlow)."""
    try:
        return metadata.version("keras")
    except metadata.PackageNotFoundError:
        return "unknown"


def settings(epochs: int, seed: int) -> dict[str, Any]:
    return {"epochs": int(epochs), "seed": int(seed), "keras": _keras_version()}


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sklearn's 8x8 digits (ships offline) as float32 (N, 8, 8, 1) in [0, 1]; fixed split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]
    labels = digits.target.astype(np.int64)
    split = len(images) - TEST_SIZE
    return images[:split], labels[:split], images[split:], labels[split:]


def pick_demo_inputs(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                     y_test: np.ndarray) -> tuple[np.ndarray, list[int], list[int]]:
    """For each digit in DEMO_DIGITS, the test image closest (cosine) to that digit's mean
    training image: clear, recognisable digits, chosen by a fixed rule."""
    flat_test = x_test.reshape(len(x_test), -1)
    indices = []
    for digit in DEMO_DIGITS:
        mean = x_train[y_train == digit].reshape(-1, flat_test.shape[1]).mean(axis=0)
        candidates = np.flatnonzero(y_test == digit)
        cand = flat_test[candidates]
        score = cand @ mean / (np.linalg.norm(cand, axis=1) * np.linalg.norm(mean) + 1e-12)
        indices.append(int(candidates[int(np.argmax(score))]))
    return x_test[indices], [int(y_test[i]) for i in indices], indices


def build_model(keras: Any) -> Any:
    """The demo CNN; explicit layer names so the labels in the picture read well."""
    from keras import layers

    inp = keras.Input((8, 8, 1), name="input")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="dense1")(x)
    out = layers.Dense(10, activation="softmax", name="output")(x)
    return keras.Model(inp, out, name="digits_cnn")


def _make_saver_class() -> type:
    import keras

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


def _saver_class() -> type:
    cls = globals().get("EpochWeightsSaver")
    if cls is None:
        cls = globals()["EpochWeightsSaver"] = _make_saver_class()
    return cls


def __getattr__(name: str) -> Any:
    # EpochWeightsSaver subclasses a Keras class; creating it on first use keeps
    # `import nnrender.model.demo_train` (and its cache check) free of TensorFlow.
    if name == "EpochWeightsSaver":
        return _saver_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def cached_result(work_dir: str | Path, epochs: int = 8, seed: int = 0) -> dict[str, Any] | None:
    """The result of an earlier finished run with the same settings, or None."""
    work = Path(work_dir)
    try:
        done = json.loads((work / DONE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(done, dict) or done.get("settings") != settings(epochs, seed):
        return None
    result = _result(work, epochs)
    needed = [result["model"], result["history"], result["inputs"], result["labels"],
              *result["weights"]]
    if not all(Path(p).is_file() for p in needed):
        return None
    result.update(cached=True, seconds=0.0, test_accuracy=done.get("test_accuracy"))
    return result


def _result(work: Path, epochs: int) -> dict[str, Any]:
    return {
        "work_dir": str(work),
        "model": str(work / "model.keras"),
        "weights": [str(work / "weights" / f"epoch_{e:02d}.weights.h5")
                    for e in range(epochs + 1)],
        "weights_dir": str(work / "weights"),
        "history": str(work / "history.json"),
        "inputs": str(work / "inputs.npy"),
        "labels": str(work / "labels.json"),
    }


def train_demo(work_dir: str | Path, epochs: int = 8, seed: int = 0, *,
               log: Log | None = None) -> dict[str, Any]:
    """Train the digits CNN into ``work_dir`` unless an identical finished run is there.
    Returns the paths written, ``cached``, ``seconds`` (training wall time) and the final
    ``test_accuracy``."""
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    work = Path(work_dir)
    say = log or (lambda _msg: None)
    cached = cached_result(work, epochs, seed)
    if cached is not None:
        say(f"using the trained model in {work} (epochs={epochs}, seed={seed})")
        return cached

    work.mkdir(parents=True, exist_ok=True)
    (work / DONE).unlink(missing_ok=True)  # from here on, the folder is not "done"
    shutil.rmtree(work / "weights", ignore_errors=True)

    start = time.perf_counter()
    _quiet_tf_env()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    x_train, y_train, x_test, y_test = load_digits_split()

    model = build_model(keras)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # Epoch 0 = the untrained state, measured the same way as the later validation figures.
    loss0, acc0 = model.evaluate(x_train, y_train, batch_size=256, verbose=0)
    vloss0, vacc0 = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    history = [{"epoch": 0, "loss": float(loss0), "accuracy": float(acc0),
                "val_loss": float(vloss0), "val_accuracy": float(vacc0)}]

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            history.append({"epoch": epoch + 1,
                            **{k: float(logs[k]) for k in
                               ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs}})
            say(f"epoch {epoch + 1}/{epochs}: loss {logs.get('loss', float('nan')):.3f} "
                f"accuracy {logs.get('accuracy', float('nan')):.3f} "
                f"val_accuracy {logs.get('val_accuracy', float('nan')):.3f}")

    saver_cls = _saver_class()
    model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_data=(x_test, y_test),
        shuffle=True,
        verbose=0,
        callbacks=[saver_cls(work / "weights"), Progress()],
    )
    model.save(str(work / "model.keras"))
    seconds = time.perf_counter() - start

    inputs, labels, indices = pick_demo_inputs(x_train, y_train, x_test, y_test)
    np.save(work / "inputs.npy", inputs)
    _write_json(work / "labels.json", {
        "labels": labels,
        "class_names": [str(d) for d in range(10)],
        "test_indices": indices,
        "source": f"sklearn.datasets.load_digits, last {TEST_SIZE} images (test split)",
    })
    _write_json(work / "history.json", {"epochs": history})
    test_accuracy = history[-1].get("val_accuracy")
    _write_json(work / DONE, {"settings": settings(epochs, seed), "seconds": round(seconds, 2),
                              "test_accuracy": test_accuracy})
    result = _result(work, epochs)
    result.update(cached=False, seconds=seconds, test_accuracy=test_accuracy)
    return result


def metrics_by_epoch(history_path: str | Path) -> dict[int, dict[str, float]]:
    data = json.loads(Path(history_path).read_text(encoding="utf-8"))
    return {int(row["epoch"]): {k: float(v) for k, v in row.items() if k != "epoch"}
            for row in data["epochs"]}


def _dump_is_current(dump_dir: Path, work: Path, epochs: int) -> bool:
    """A dump newer than the finished training, with every epoch in it, is reused."""
    manifest = dump_dir / "manifest.json"
    try:
        if manifest.stat().st_mtime < (work / DONE).stat().st_mtime:
            return False
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return len(data["epochs"]) == epochs + 1
    except (OSError, ValueError, KeyError, TypeError):
        return False


def main(argv: list[str] | None = None) -> int:
    """Train if needed, then dump into WORK_DIR/dump; short progress lines on stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m nnrender.model.demo_train",
        description="Train the nnrender demo digits CNN and dump it for rendering.",
    )
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="retrain and re-dump")
    args = parser.parse_args(argv)
    # This runs as the CLI's subprocess: keep TensorFlow's C++ chatter (including a harmless
    # tf.data "NodeDef mentions attribute" line) out of the user's terminal.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    def say(msg: str) -> None:
        print(f"demo: {msg}", flush=True)

    from nnrender.errors import NNRenderError

    work: Path = args.work_dir
    dump_dir = work / "dump"
    try:
        if args.force:
            (work / DONE).unlink(missing_ok=True)
        if cached_result(work, args.epochs, args.seed) is None:
            say(f"training the digits CNN ({args.epochs} epochs, seed {args.seed}) in {work}")
        result = train_demo(work, args.epochs, args.seed, log=say)
        if not result["cached"]:
            say(f"trained in {result['seconds']:.1f} s, "
                f"test accuracy {result['test_accuracy']:.3f}")
        if not args.force and _dump_is_current(dump_dir, work, args.epochs):
            say(f"dump up to date: {dump_dir}")
            return 0

        say(f"dumping activations to {dump_dir}")
        start = time.perf_counter()
        _quiet_tf_env()
        from nnrender.model.capture import dump_size
        from nnrender.model.epochs import find_weight_series
        from nnrender.model.keras_capture import dump_keras

        labels = json.loads(Path(result["labels"]).read_text(encoding="utf-8"))["labels"]
        dump_keras(
            result["model"],
            find_weight_series(result["weights_dir"]),
            np.load(result["inputs"]),
            dump_dir,
            labels=labels,
            input_source=result["inputs"],
            metrics_by_epoch=metrics_by_epoch(result["history"]),
        )
        seconds = time.perf_counter() - start
        say(f"dump written in {seconds:.1f} s ({args.epochs + 1} epochs, "
            f"{dump_size(dump_dir) / 1e6:.2f} MB): {dump_dir}")
    except NNRenderError as exc:
        print(exc.line(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
