"""Reader tests import Keras; give it a throwaway HOME so no test writes ~/.keras."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def keras_mod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Keras, imported only after HOME/KERAS_HOME point into a temporary folder."""
    home = tmp_path_factory.mktemp("keras-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("HOME", str(home))
    patch.setenv("KERAS_HOME", str(home / ".keras"))
    patch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    patch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    patch.setenv("MPLCONFIGDIR", str(home / ".matplotlib"))
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        patch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    yield keras
    patch.undo()
