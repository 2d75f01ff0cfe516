import json

import numpy as np
import pytest

from nnrender.errors import DumpError
from nnrender.model.incremental import DumpAppender
from nnrender.model.ir import MANIFEST, Dump, LayerInfo
from nnrender.model.synthetic import activation, cnn_layers


def _acts(layers, epoch):
    return [activation(layer.output_shape, 2, epoch, i) for i, layer in enumerate(layers)]


def _appender(path, layers=None):
    return DumpAppender(path, {"name": "m"}, layers or cnn_layers(), {"count": 2})


def test_each_epoch_leaves_a_valid_dump(tmp_path):
    layers = cnn_layers()
    app = _appender(tmp_path / "d", layers)
    app.add_epoch(0, _acts(layers, 0))
    assert [ep.epoch for ep in Dump(tmp_path / "d").epochs] == [0]
    app.add_epoch(1, _acts(layers, 1), metrics={"loss": 0.5, "note": "x", "bad": float("nan")})
    d = Dump(tmp_path / "d")
    assert [ep.epoch for ep in d.epochs] == [0, 1]
    assert d.epochs[1].metrics == {"loss": 0.5}
    np.testing.assert_array_equal(d.activations(1, "conv2"), _acts(layers, 1)[3])
    assert not list((tmp_path / "d").rglob(".*.tmp"))


def test_resume_appends_and_rerun_replaces(tmp_path):
    layers = cnn_layers()
    app = _appender(tmp_path / "d", layers)
    for e in range(3):
        app.add_epoch(e, _acts(layers, e))
    again = _appender(tmp_path / "d", layers)  # training resumed into the same folder
    assert again.recorded == [0, 1, 2]
    again.add_epoch(3, _acts(layers, 3))
    assert [ep.epoch for ep in Dump(tmp_path / "d").epochs] == [0, 1, 2, 3]
    restart = _appender(tmp_path / "d", layers)  # restarted from epoch 1: 2 and 3 are stale
    restart.add_epoch(1, _acts(layers, 5))
    d = Dump(tmp_path / "d")
    assert [ep.epoch for ep in d.epochs] == [0, 1]
    np.testing.assert_array_equal(d.activations(1, "conv1"), _acts(layers, 5)[1])
    assert not (tmp_path / "d" / "arrays" / "epoch_0003.activations.npz").exists()


def test_other_architecture_is_refused(tmp_path):
    layers = cnn_layers()
    _appender(tmp_path / "d", layers).add_epoch(0, _acts(layers, 0))
    before = (tmp_path / "d" / MANIFEST).read_text()
    other = [LayerInfo("input", "InputLayer", [4]), LayerInfo("out", "Dense", [2],
                                                              inbound=["input"])]
    with pytest.raises(DumpError, match="different architecture"):
        _appender(tmp_path / "d", other)
    assert (tmp_path / "d" / MANIFEST).read_text() == before
    assert json.loads(before)["epochs"][0]["epoch"] == 0


def test_resume_with_other_storage_or_inputs_is_refused(tmp_path):
    layers = cnn_layers()
    inputs = {"inputs": np.ones((2, 8, 8, 1), np.float32)}
    DumpAppender(tmp_path / "d", {"name": "m"}, layers, {"count": 2},
                 input_arrays=inputs).add_epoch(0, _acts(layers, 0))
    other_inputs = {"inputs": np.zeros((2, 8, 8, 1), np.float32)}
    with pytest.raises(DumpError, match="other inputs"):
        DumpAppender(tmp_path / "d", {"name": "m"}, layers, {"count": 2},
                     input_arrays=other_inputs)
    reduced = cnn_layers()
    reduced[1].stored_shape, reduced[1].channels = [8, 8, 2], [0, 15]
    with pytest.raises(DumpError, match="max_maps"):
        DumpAppender(tmp_path / "d", {"name": "m"}, reduced, {"count": 2}, input_arrays=inputs)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.txt").write_text("x")
    with pytest.raises(DumpError, match="no nnrender dump"):
        _appender(mine)
