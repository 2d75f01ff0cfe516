"""The Keras models the benchmarks read: ``keras.applications`` architectures with their own
random weights (``weights=None``: nothing is downloaded) and one synthetic 224x224 image.
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


def application(name: str) -> tuple[Any, Any]:
    """(model, its preprocessed input as float32) for one of ``APPLICATIONS``."""
    import keras
    import numpy as np

    build, prep = APPLICATIONS[name]
    model = getattr(keras.applications, build)(weights=None)
    x = getattr(keras.applications, prep).preprocess_input(image())
    return model, np.asarray(x, dtype=np.float32)
