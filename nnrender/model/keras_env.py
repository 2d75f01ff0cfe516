"""The one importer of Keras and TensorFlow: the other ``keras_*`` modules ask here.

Keras is imported on first use, not when nnrender is imported, so the command line checks
its arguments and files first, and the pure parts of the reader never pay for TensorFlow.
The import is quiet: TensorFlow's C++ start-up logging (absl, oneDNN) ignores
``TF_CPP_MIN_LOG_LEVEL`` and would surround a one-line error with noise.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def keras_module() -> Any:
    """The ``keras`` module, imported (quietly) on first use."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" in sys.modules:
        return sys.modules["keras"]
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            import keras
            import tensorflow as tf

            tf.constant(0.0)  # the oneDNN notice is printed on first use, not on import
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return keras


def tensorflow_module() -> Any:
    """The ``tensorflow`` module (for checkpoints and SavedModels), imported quietly."""
    keras_module()
    import tensorflow as tf

    return tf


def functional_class() -> type | None:
    """Keras' ``Functional`` model class, which the graph walk looks inside; None when its
    private module has moved (nested models are then drawn as one block)."""
    keras_module()
    try:
        from keras.src.models.functional import Functional
    except ImportError:
        return None
    return Functional


def trackable_object_graph(serialized: bytes) -> Any:
    """A checkpoint's object graph (``_CHECKPOINTABLE_OBJECT_GRAPH``), parsed."""
    tensorflow_module()
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(serialized)
    return graph
