import json
import shutil

import numpy as np
import pytest

from nnrender.errors import DumpError
from nnrender.model.ir import MANIFEST, SCHEMA_VERSION, Dump, DumpWriter, LayerInfo, Manifest
from nnrender.model.synthetic import activation, cnn_layers, write_synthetic


def test_manifest_round_trip(dump_path):
    d = Dump(dump_path)
    layers = cnn_layers()
    assert [layer.name for layer in d.layers] == [layer.name for layer in layers]
    assert [layer.output_shape for layer in d.layers] == [layer.output_shape for layer in layers]
    assert d.layers[1].inbound == ["input"]
    assert [ep.epoch for ep in d.epochs] == [0, 1, 2, 3]
    data = json.loads((dump_path / MANIFEST).read_text())
    again = Manifest.from_json(data, "x")
    assert again.to_json() == d.manifest.to_json()
    assert data["schema_version"] == SCHEMA_VERSION and data["format"] == "nnrender-dump"


def test_schema_1_dumps_still_load(tmp_path, dump_path):
    """Schema 2 added attention, positions and the vocabulary; a version-1 manifest (which
    has none of them) reads as before."""
    old = tmp_path / "v1"
    shutil.copytree(dump_path, old)
    data = json.loads((old / MANIFEST).read_text())
    data["schema_version"] = 1
    for layer in data["layers"]:
        del layer["attention"], layer["positions"]
    (old / MANIFEST).write_text(json.dumps(data))
    d = Dump(old)
    assert d.manifest.schema_version == 1
    assert all(la.attention is None and la.positions is None for la in d.layers)
    assert d.attention(0, "conv1") is None
    np.testing.assert_array_equal(d.activations(2, "conv1"), Dump(dump_path).activations(2, 1))


def test_attention_scores_round_trip(tmp_path):
    layers = [LayerInfo("tokens", "InputLayer", [5, 4]),
              LayerInfo("mha", "MultiHeadAttention", [5, 4], inbound=["tokens"],
                        attention={"heads": 2, "queries": 5, "keys": 5, "query": "tokens",
                                   "key": "tokens"})]
    rng = np.random.default_rng(0)
    writer = DumpWriter(tmp_path / "att")
    scores = []
    for e in range(2):
        s = rng.random((3, 2, 5, 5)).astype(np.float32)
        scores.append(s / s.sum(axis=-1, keepdims=True))
        writer.add_epoch(e, [rng.random((3, 5, 4)), rng.random((3, 5, 4))],
                         attention=[None, scores[-1]])
    ids = np.array([[1, 2, 3, 0, 0]] * 3, dtype=np.int64)
    path = writer.finish({"name": "m"}, layers, {"count": 3, "vocab": ["<pad>", "a", "b", "c"]},
                         input_arrays={"inputs": ids})
    d = Dump(path)
    for e in range(2):
        np.testing.assert_allclose(d.attention(e, "mha"), scores[e], rtol=1e-6)
    assert d.attention(0, "tokens") is None
    assert d.layers[0].role == "tokens" and d.manifest.inputs["vocab"][1] == "a"
    assert d.input_array().dtype.kind == "i"
    np.testing.assert_array_equal(d.input_array(), ids)
    bad = json.loads((path / MANIFEST).read_text())
    bad["layers"][1]["attention"]["heads"] = 3
    (path / MANIFEST).write_text(json.dumps(bad))
    with pytest.raises(DumpError, match="attention shape"):
        Dump(path).attention(0, "mha")


def test_activations_equal_what_was_written(dump_path):
    d = Dump(dump_path)
    for i, layer in enumerate(d.layers):
        for e in (0, 3):
            expected = activation(layer.output_shape, 3, e, 0 + i)
            np.testing.assert_array_equal(d.activations(e, layer.name), expected)
    assert d.activations(1, "conv1").shape == (3, 8, 8, 16)


def test_manifest_alone_lays_out_the_network(dump_path):
    """The JSON must be enough for the layout: shapes and roles, no arrays opened."""
    data = json.loads((dump_path / MANIFEST).read_text())
    roles = [LayerInfo(**layer).role for layer in data["layers"]]
    assert roles == ["maps"] * 5 + ["vector"] * 3


def test_missing_and_corrupt(tmp_path, dump_path):
    with pytest.raises(DumpError, match="does not exist"):
        Dump(tmp_path / "nope")
    bad = tmp_path / "bad"
    shutil.copytree(dump_path, bad)
    (bad / MANIFEST).write_text("{not json")
    with pytest.raises(DumpError) as exc:
        Dump(bad)
    assert str(bad / MANIFEST) in exc.value.line() and "\n" not in exc.value.line()
    (bad / MANIFEST).write_text(json.dumps({"format": "nnrender-dump", "schema_version": 99}))
    with pytest.raises(DumpError, match="schema_version 99"):
        Dump(bad)


def test_truncated_array_file_names_file(tmp_path, dump_path):
    bad = tmp_path / "trunc"
    shutil.copytree(dump_path, bad)
    target = bad / "arrays" / "epoch_0001.activations.npz"
    target.write_bytes(target.read_bytes()[:100])
    d = Dump(bad)
    with pytest.raises(DumpError) as exc:
        d.activations(1, "conv1")
    assert "epoch_0001.activations.npz" in exc.value.line()


def test_nan_activations_name_layer(tmp_path):
    layers = cnn_layers()
    writer = DumpWriter(tmp_path / "nan")
    acts = [activation(layer.output_shape, 1, 0, i) for i, layer in enumerate(layers)]
    acts[3][0, 0, 0, 0] = np.nan
    writer.add_epoch(0, acts)
    path = writer.finish({"name": "m"}, layers, {"count": 1})
    with pytest.raises(DumpError, match="layer conv2: NaN or Inf"):
        Dump(path).activations(0, "conv2")


def test_failed_write_keeps_earlier_dump(tmp_path):
    out = write_synthetic(tmp_path / "d", cnn_layers(), epochs=2)
    before = (out / MANIFEST).read_text()
    writer = DumpWriter(out)
    writer.add_epoch(0, [np.zeros(3)])
    with pytest.raises(DumpError):  # inbound refers to an unknown layer: invalid manifest
        writer.finish({"name": "m"}, [LayerInfo("a", "Dense", [3], inbound=["zzz"])],
                      {"count": 1})
    writer.abort()
    assert (out / MANIFEST).read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_rewrite_replaces_dump(tmp_path):
    out = write_synthetic(tmp_path / "d", cnn_layers(), epochs=2)
    write_synthetic(out, cnn_layers(), epochs=3)
    assert len(Dump(out).epochs) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_float16_storage(tmp_path):
    out = write_synthetic(tmp_path / "h", cnn_layers(), epochs=1, dtype="float16")
    assert Dump(out).activations(0, "conv1").dtype == np.float16


def test_writer_never_replaces_a_folder_that_is_not_a_dump(tmp_path):
    mine = tmp_path / "work"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(DumpError, match="no nnrender dump"):
        DumpWriter(mine)
    assert (mine / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(DumpError, match="not a folder"):
        DumpWriter(tmp_path / "file")


def test_writer_accepts_dot(tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    out = write_synthetic(".", cnn_layers(), epochs=1)
    assert out == here and (here / MANIFEST).is_file()


def test_manifest_with_wrong_types_is_one_error(tmp_path, dump_path):
    bad = tmp_path / "types"
    shutil.copytree(dump_path, bad)
    data = json.loads((bad / MANIFEST).read_text())
    data["layers"][1]["output_shape"] = 5
    (bad / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(DumpError, match="malformed entry"):
        Dump(bad)
    empty = tmp_path / "empty"
    shutil.copytree(dump_path, empty)
    (empty / "arrays" / "epoch_0000.activations.npz").write_bytes(b"")
    with pytest.raises(DumpError, match="corrupt array file"):
        Dump(empty).activations(0, "conv1")
