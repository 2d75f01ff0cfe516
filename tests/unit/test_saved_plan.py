"""The farm's saved plan: a chunk loads exactly the plan the farm made, and falls back to
planning for itself when the file is not the farm's or was written by another install."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from nnrender.config.load import load_config
from nnrender.model.ir import Dump
from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.pipeline import plan_fingerprint
from nnrender.plan import make_plan
from nnrender.plan.saved import load_plan, save_plan, saved_path


def test_a_saved_plan_loads_as_the_same_plan(tmp_path: Path) -> None:
    dump = write_synthetic(tmp_path / "d", cnn_layers(), epochs=2, count=2, with_weights=True)
    config, _ = load_config(None, {"shots": [{"duration": 1, "title": "t"}],
                                   "forward": [{"at": 0.1, "duration": 0.5}]})
    plan = make_plan(Dump(dump), config)
    key = plan_fingerprint(plan, "cycles")
    path = save_plan(plan, tmp_path, key)
    assert path == saved_path(tmp_path, key) and path.is_file()
    loaded = load_plan(tmp_path, key)
    assert loaded is not None and plan_fingerprint(loaded, "cycles") == key
    for a, b in zip(plan.atlas.blocks, loaded.atlas.blocks, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(plan.story.value(np.arange(1, 25)),
                                  loaded.story.value(np.arange(1, 25)))
    # another fingerprint, a missing file, another install's header, a damaged file
    assert load_plan(tmp_path, "0" * 16) is None
    with open(path, "rb") as f:
        header = pickle.load(f)
        body = f.read()
    with open(path, "wb") as f:
        pickle.dump({**header, "numpy": "0.0"}, f)
        f.write(body)
    assert load_plan(tmp_path, key) is None
    path.write_bytes(b"not a pickle")
    assert load_plan(tmp_path, key) is None
