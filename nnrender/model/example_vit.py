"""The ``vit`` example: a small Vision Transformer on sklearn's 8x8 digits.

Built like the Keras example "Image classification with Vision Transformer": a custom
``Patches`` layer cuts the 8x8x1 image into 16 patches of 2x2 (tokens of 4 values), a
custom ``PatchEncoder`` projects each to ``PROJECTION`` values and adds a learned position
embedding, then ``BLOCKS`` transformer blocks (LayerNormalization, MultiHeadAttention,
residual Add, LayerNormalization, a gelu MLP, residual Add), a final LayerNormalization,
GlobalAveragePooling1D over the tokens and a softmax Dense head. Same data split and the same
4 recorded test digits (3, 0, 7, 5) as the digits demo.

The custom layers subclass Keras classes, so they are made on first use (``vit_layers``)
and importing this module needs no TensorFlow; they are registered for serialization as
``nnrender>Patches`` and ``nnrender>PatchEncoder`` (``model.keras`` loads once
``vit_layers()`` has run).
"""

from __future__ import annotations

from typing import Any

from nnrender.model.demo_train import digits_inputs, load_digits_split
from nnrender.model.training import Example

IMAGE = (8, 8, 1)
PATCH = 2
PATCHES = (IMAGE[0] // PATCH) * (IMAGE[1] // PATCH)  # 16 tokens
PROJECTION = 32
HEADS = 4
KEY_DIM = 16
MLP_UNITS = (64, PROJECTION)  # the block's MLP; its last layer matches the residual
BLOCKS = 2
EPOCHS = 12
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
PACKAGE = "nnrender"  # registered names: nnrender>Patches, nnrender>PatchEncoder

_CLASSES: dict[str, type] = {}


def _define(keras: Any) -> dict[str, type]:
    ops = keras.ops
    register = keras.saving.register_keras_serializable(package=PACKAGE)

    @register
    class Patches(keras.layers.Layer):
        """(N, H, W, C) images -> (N, patches, size*size*C): row-major patches, each one's
        values in (row, column, channel) order (as ``keras.ops.image.extract_patches``)."""

        def __init__(self, patch_size: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.patch_size = int(patch_size)

        def call(self, images: Any) -> Any:
            _, height, width, channels = images.shape
            p = self.patch_size
            rows, cols = height // p, width // p
            x = ops.reshape(images, (-1, rows, p, cols, p, channels))
            x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
            return ops.reshape(x, (-1, rows * cols, p * p * channels))

        def compute_output_shape(self, input_shape: Any) -> tuple:
            _, height, width, channels = input_shape
            p = self.patch_size
            return (input_shape[0], (height // p) * (width // p), p * p * channels)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "patch_size": self.patch_size}

    @register
    class PatchEncoder(keras.layers.Layer):
        """Each patch projected by a Dense layer, plus a learned embedding of its position."""

        def __init__(self, num_patches: int, projection_dim: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.num_patches = int(num_patches)
            self.projection_dim = int(projection_dim)
            self.projection = keras.layers.Dense(self.projection_dim, name="projection")
            self.position_embedding = keras.layers.Embedding(
                self.num_patches, self.projection_dim, name="position_embedding")

        def build(self, input_shape: Any) -> None:
            # the sublayers' state made here, so a loaded model.keras gets its weights
            self.projection.build(input_shape)
            self.position_embedding.build((None, self.num_patches))
            super().build(input_shape)

        def call(self, patch: Any) -> Any:
            positions = ops.expand_dims(ops.arange(0, self.num_patches, 1), axis=0)
            return self.projection(patch) + self.position_embedding(positions)

        def compute_output_shape(self, input_shape: Any) -> tuple:
            return (*input_shape[:-1], self.projection_dim)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "num_patches": self.num_patches,
                    "projection_dim": self.projection_dim}

    for cls in (Patches, PatchEncoder):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return {"Patches": Patches, "PatchEncoder": PatchEncoder}


def vit_layers() -> dict[str, type]:
    """``{"Patches": ..., "PatchEncoder": ...}``, defined and registered on first call."""
    if not _CLASSES:
        from nnrender.model.keras_env import keras_module

        _CLASSES.update(_define(keras_module()))
    return _CLASSES


def __getattr__(name: str) -> Any:
    if name in ("Patches", "PatchEncoder"):
        return vit_layers()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_vit(keras: Any) -> Any:
    """The ViT; every layer named (``block1_attention`` ...) so the picture's labels read
    well and a second build in one process has the same names."""
    classes = vit_layers()
    layers = keras.layers
    inp = keras.Input(IMAGE, name="input")
    x = classes["Patches"](PATCH, name="patches")(inp)
    x = classes["PatchEncoder"](PATCHES, PROJECTION, name="patch_encoder")(x)
    for b in range(1, BLOCKS + 1):
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{b}_norm1")(x)
        h = layers.MultiHeadAttention(num_heads=HEADS, key_dim=KEY_DIM,
                                      name=f"block{b}_attention")(h, h)
        x = layers.Add(name=f"block{b}_add1")([h, x])
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{b}_norm2")(x)
        for i, units in enumerate(MLP_UNITS, 1):
            h = layers.Dense(units, activation="gelu", name=f"block{b}_mlp{i}")(h)
        x = layers.Add(name=f"block{b}_add2")([h, x])
    x = layers.LayerNormalization(epsilon=1e-6, name="norm")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    out = layers.Dense(10, activation="softmax", name="output")(x)
    return keras.Model(inp, out, name="vit_digits")


VIT = Example(name="vit", title="the digits ViT", build=build_vit, data=load_digits_split,
              pick=digits_inputs, epochs=EPOCHS, batch_size=BATCH_SIZE,
              optimizer=lambda keras: keras.optimizers.AdamW(LEARNING_RATE,
                                                             weight_decay=WEIGHT_DECAY))
