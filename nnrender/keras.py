"""Keras integration for users' training scripts: ``from nnrender.keras import Recorder``."""

from nnrender.model.keras_recorder import Recorder

__all__ = ["Recorder"]
