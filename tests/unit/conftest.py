"""Fixtures for the pure tests: synthetic dumps written with numpy only."""

from __future__ import annotations

import pytest

from nnrender.config.load import load_config
from nnrender.model.ir import Dump
from nnrender.model.synthetic import cnn_layers, write_synthetic


@pytest.fixture(scope="session")
def dump_path(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("dump") / "dump", cnn_layers(), epochs=4,
                           count=3)


@pytest.fixture()
def dump(dump_path):
    d = Dump(dump_path)
    yield d
    d.close()


@pytest.fixture()
def config():
    cfg, _ = load_config(None, {"render": {"resolution": [320, 180]}})
    return cfg
