"""Train the demo digits CNN (deterministically) and dump it for rendering.

Run as ``python -m nnrender.model.demo_train WORK_DIR [--epochs N] [--seed S]`` (or
``python -m nnrender.model.examples digits WORK_DIR ...``): the CLI starts it in a
subprocess so the render process never imports TensorFlow. The caching, training and
dumping are ``training``'s, shared with the other examples (``examples``); this module
holds the digits data (shared with the ViT example), the CNN and its ``Example``.

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
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.model import training
from nnrender.model.training import DONE, Example, Log

TEST_SIZE = 297  # the last 297 of sklearn's 1797 digits are the test split
# Digits drawn by the demo; inputs[0] is the one the still image shows, so it is the
# cleanest test image of its class (closest to the class mean of the training set).
DEMO_DIGITS = (3, 0, 7, 5)
BATCH_SIZE = 32
EPOCHS = 8

__all__ = ["BATCH_SIZE", "DEMO_DIGITS", "DIGITS", "DONE", "TEST_SIZE", "build_model",
           "cached_result", "digits_inputs", "load_digits_split", "main", "metrics_by_epoch",
           "pick_demo_inputs", "settings", "train_demo"]


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


def digits_inputs(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                  y_test: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """The demo's 4 test digits and their ``labels.json`` document."""
    inputs, labels, indices = pick_demo_inputs(x_train, y_train, x_test, y_test)
    return inputs, {
        "labels": labels,
        "class_names": [str(d) for d in range(10)],
        "test_indices": indices,
        "source": f"sklearn.datasets.load_digits, last {TEST_SIZE} images (test split)",
    }


def build_model(keras: Any) -> Any:
    """The demo CNN; explicit layer names so the labels in the picture read well."""
    layers = keras.layers
    inp = keras.Input((8, 8, 1), name="input")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="dense1")(x)
    out = layers.Dense(10, activation="softmax", name="output")(x)
    return keras.Model(inp, out, name="digits_cnn")


# The digits CNN: its done.json settings and its dump (made from model.keras) are as they
# were before the examples shared this machinery.
DIGITS = Example(name="digits", title="the digits CNN", build=build_model,
                 data=load_digits_split, pick=digits_inputs, epochs=EPOCHS,
                 batch_size=BATCH_SIZE, dump_from_file=True, settings_extra=False)


def __getattr__(name: str) -> Any:
    # EpochWeightsSaver subclasses a Keras class; creating it on first use keeps
    # `import nnrender.model.demo_train` (and its cache check) free of TensorFlow.
    if name == "EpochWeightsSaver":
        from nnrender.model.keras_env import keras_module

        cls = globals()["EpochWeightsSaver"] = training.make_saver_class(keras_module())
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def settings(epochs: int, seed: int) -> dict[str, Any]:
    return training.settings(DIGITS, epochs, seed)


def cached_result(work_dir: str | Path, epochs: int = EPOCHS,
                  seed: int = 0) -> dict[str, Any] | None:
    """The result of an earlier finished run with the same settings, or None."""
    return training.cached_result(DIGITS, work_dir, epochs, seed)


def train_demo(work_dir: str | Path, epochs: int = EPOCHS, seed: int = 0, *,
               log: Log | None = None) -> dict[str, Any]:
    """Train the digits CNN into ``work_dir`` unless an identical finished run is there.
    Returns the paths written, ``cached``, ``seconds`` (training wall time) and the final
    ``test_accuracy``."""
    return training.train_example(DIGITS, work_dir, epochs, seed, log=log)


metrics_by_epoch = training.metrics_by_epoch


def main(argv: list[str] | None = None) -> int:
    """Train if needed, then dump into WORK_DIR/dump; short progress lines on stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m nnrender.model.demo_train",
        description="Train the nnrender demo digits CNN and dump it for rendering.",
    )
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="retrain and re-dump")
    args = parser.parse_args(argv)
    return training.run_example(DIGITS, args.work_dir, args.epochs, args.seed, args.force)


if __name__ == "__main__":
    sys.exit(main())
