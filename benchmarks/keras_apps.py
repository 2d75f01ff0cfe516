"""The Keras models the benchmarks read: ``keras.applications`` architectures with their own
random weights (``weights=None``: nothing is downloaded), a ViT-B/16-shaped transformer
(``vit_b16``, built here: keras.applications has none) and one synthetic 224x224 image.
Imported only inside the TensorFlow subprocesses of the benchmarks."""

from __future__ import annotations

from typing import Any

APPLICATIONS = {  # name: (constructor, preprocessing module) in keras.applications
    "resnet50": ("ResNet50", "resnet50"),
    "vgg16": ("VGG16", "vgg16"),
    "mobilenetv2": ("MobileNetV2", "mobilenet_v2"),
}


def image() -> Any:
    """A smooth synthetic 224x224 RGB image (0..255), batch of one."""
    import numpy as np

    yy, xx = np.mgrid[0:224, 0:224].astype(np.float32) / 224.0
    rgb = np.stack([np.sin(6 * xx) * 0.5 + 0.5, yy, (xx + yy) / 2], axis=-1)
    return (rgb * 255.0)[np.newaxis].astype(np.float32)


BUILT = ("vit_b16",)  # models built here rather than taken from keras.applications
MODELS = (*APPLICATIONS, *BUILT)


def vit_b16(keras: Any, image_size: int = 224, patch: int = 16, dim: int = 768,
            blocks: int = 12, heads: int = 12, mlp: int = 3072, classes: int = 1000) -> Any:
    """A ViT-B/16-shaped model with random weights: a 16x16/16 Conv2D patch embedding to
    768, 196 tokens, a class token and a learned position embedding (two small custom
    layers), 12 pre-norm blocks (LayerNormalization, 12-head MultiHeadAttention with
    key_dim 64, residual add, LayerNormalization, MLP 3072 gelu -> 768, residual add), then
    a LayerNormalization, the class token and a Dense head."""
    layers = keras.layers

    class ClassToken(layers.Layer):
        """Prepends one learned token to the sequence."""

        def build(self, input_shape: Any) -> None:
            self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros",
                                         name="token")

        def call(self, x: Any) -> Any:
            batch = keras.ops.shape(x)[0]
            token = keras.ops.broadcast_to(self.token, (batch, 1, keras.ops.shape(x)[-1]))
            return keras.ops.concatenate([token, x], axis=1)

    class AddPositionEmbedding(layers.Layer):
        """Adds a learned embedding per position."""

        def build(self, input_shape: Any) -> None:
            self.pos = self.add_weight(shape=(1, input_shape[1], input_shape[2]),
                                       initializer=keras.initializers.RandomNormal(0.02),
                                       name="pos_embedding")

        def call(self, x: Any) -> Any:
            return x + self.pos

    tokens = (image_size // patch) ** 2
    inp = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Conv2D(dim, patch, strides=patch, name="patch_embed")(inp)
    x = layers.Reshape((tokens, dim), name="patches")(x)
    x = ClassToken(name="class_token")(x)
    x = AddPositionEmbedding(name="pos_embed")(x)
    for b in range(1, blocks + 1):
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{b}_ln1")(x)
        h = layers.MultiHeadAttention(heads, dim // heads, name=f"block{b}_mha")(h, h)
        x = layers.Add(name=f"block{b}_add1")([x, h])
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{b}_ln2")(x)
        h = layers.Dense(mlp, activation="gelu", name=f"block{b}_mlp1")(h)
        h = layers.Dense(dim, name=f"block{b}_mlp2")(h)
        x = layers.Add(name=f"block{b}_add2")([x, h])
    x = layers.LayerNormalization(epsilon=1e-6, name="ln")(x)
    cls = layers.Lambda(lambda t: t[:, 0], name="cls")(x)
    out = layers.Dense(classes, name="head")(cls)
    return keras.Model(inp, out, name="vit_b16")


def application(name: str) -> tuple[Any, Any]:
    """(model, its preprocessed input as float32) for one of ``MODELS``."""
    import keras
    import numpy as np

    if name == "vit_b16":
        return vit_b16(keras), (image() / 127.5 - 1.0).astype(np.float32)
    build, prep = APPLICATIONS[name]
    model = getattr(keras.applications, build)(weights=None)
    x = getattr(keras.applications, prep).preprocess_input(image())
    return model, np.asarray(x, dtype=np.float32)
