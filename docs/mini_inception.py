"""The branching model of the README's architecture figure: a stem and two Inception-style
blocks (1x1, 3x3 and 5x5 convolutions and a pooled branch, concatenated), untrained.

    python docs/mini_inception.py mini_inception.keras
    nnrender figure mini_inception.keras -o docs/figure_architecture.pdf
"""

from __future__ import annotations

import sys
from typing import Any

import keras  # noqa: TID251 - a script that builds a Keras model, outside nnrender
from keras import layers  # noqa: TID251


def inception(x: Any, name: str, f: int) -> Any:
    a = layers.Conv2D(f, 1, padding="same", activation="relu", name=f"{name}_1x1")(x)
    b = layers.Conv2D(f, 1, padding="same", activation="relu", name=f"{name}_3x3_reduce")(x)
    b = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"{name}_3x3")(b)
    c = layers.Conv2D(f // 2, 1, padding="same", activation="relu", name=f"{name}_5x5_reduce")(x)
    c = layers.Conv2D(f // 2, 5, padding="same", activation="relu", name=f"{name}_5x5")(c)
    d = layers.MaxPooling2D(3, 1, padding="same", name=f"{name}_pool")(x)
    d = layers.Conv2D(f // 2, 1, padding="same", activation="relu", name=f"{name}_pool_proj")(d)
    return layers.Concatenate(name=f"{name}_concat")([a, b, c, d])


def build() -> keras.Model:
    inp = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(16, 3, padding="same", name="stem_conv")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D(name="stem_pool")(x)
    x = inception(x, "mixed1", 16)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = inception(x, "mixed2", 32)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name="mini_inception")


if __name__ == "__main__":
    build().save(sys.argv[1] if len(sys.argv) > 1 else "mini_inception.keras")
