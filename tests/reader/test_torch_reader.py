"""The PyTorch reader: a module's graph as the Keras reader would record the same network
(names, types, merges, channels-last activations equal to what PyTorch computes, weights
in Keras' layout), attention scores, recurrent layers, and the forward-hook fallback."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from torch_lazy import SKIP, dump_onnx, dump_torch, torch, torch_nets

from nnrender.edges.select import connection_matrix
from nnrender.model.ir import Dump

pytestmark = [pytest.mark.torch, SKIP]


def _digits(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).random((n, 1, 8, 8), dtype=np.float32)


def _outputs(module: Any, *args: Any) -> dict[str, Any]:
    """Every module call's first output as PyTorch computes it (copied at once)."""
    found: dict[str, Any] = {}
    counts: dict[str, int] = {}

    def hook(name: str) -> Any:
        def h(_m: Any, _a: Any, out: Any) -> None:
            out = out[0] if isinstance(out, tuple) else out
            counts[name] = counts.get(name, 0) + 1
            key = name if counts[name] == 1 else f"{name}@{counts[name]}"
            found[key] = out.detach().clone().numpy()
        return h

    handles = [m.register_forward_hook(hook(n)) for n, m in module.named_modules() if n]
    with torch.no_grad():
        module.eval()(*[torch.from_numpy(a) for a in args])
    for h in handles:
        h.remove()
    return found


def _last(arr: np.ndarray) -> np.ndarray:
    """PyTorch's (N, C, ...) as the dump's channels-last (N, ..., C)."""
    return np.moveaxis(arr, 1, -1) if arr.ndim >= 3 else arr


@pytest.fixture(scope="module")
def cnn() -> Any:
    return torch_nets.build_cnn().eval()


@pytest.fixture(scope="module")
def cnn_dump(cnn: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dump_torch(cnn, None, _digits(), tmp_path_factory.mktemp("cnn") / "dump")


def test_module_graph_names_types_and_merges(cnn_dump: Path) -> None:
    d = Dump(cnn_dump)
    by = {la.name: la for la in d.layers}
    assert d.layers[0].type == "InputLayer" and d.layers[0].output_shape == [8, 8, 1]
    assert d.manifest.inputs["shape"] == [8, 8, 1]  # drawn channels-last
    assert d.manifest.model["framework"] == f"torch {torch.version.__version__.split('+')[0]}"
    assert by["stem"].type == "Conv2D" and by["stem"].config["padding"] == "same"
    assert by["relu"].type == "Activation" and by["relu"].inbound == ["stem"]
    assert by["layer1.0.bn1"].type == "BatchNormalization"
    add = by["layer1.0.add"]
    assert add.type == "Add" and add.inbound == ["layer1.0.bn2", "relu"]
    assert by["layer1.0.relu@2"].inbound == ["layer1.0.add"]
    assert by["layer1.0.relu@2"].config["shared"] == "layer1.0.relu"
    assert by["layer1.1.add"].inbound == ["layer1.1.bn2", "layer1.1.downsample.1"]
    assert by["dw"].type == "DepthwiseConv2D" and by["dw"].config["depth_multiplier"] == 2
    assert by["grouped"].type == "Conv2D" and by["grouped"].config["groups"] == 2
    assert by["pool"].type == "GlobalAveragePooling2D" and by["pool"].output_shape == [1, 1, 16]
    assert by["flatten"].type == "Flatten" and by["fc"].type == "Dense"
    assert by["fc"].params == 16 * 10 + 10
    names = [la.name for la in d.layers]
    assert len(names) == len(set(names))
    assert not d.manifest.model["warnings"]


def test_activations_equal_pytorch(cnn: Any, cnn_dump: Path) -> None:
    d = Dump(cnn_dump)
    expected = _outputs(cnn, np.asarray(d.input_array()))
    checked = 0
    for name, value in expected.items():
        if name in {la.name for la in d.layers}:
            np.testing.assert_allclose(d.activations(0, name), _last(value), atol=1e-5,
                                       err_msg=name)
            checked += 1
    assert checked >= 15
    np.testing.assert_allclose(d.activations(0, d.layers[0].name),
                               _last(np.asarray(d.input_array())))


def test_weights_in_keras_layout_give_the_same_edges(cnn: Any, cnn_dump: Path) -> None:
    d = Dump(cnn_dump)
    w = cnn.stem.weight.detach().numpy()  # (out, in, kh, kw)
    kernel = d.weights(0, "stem")[0]
    np.testing.assert_array_equal(kernel, w.transpose(2, 3, 1, 0))
    # the edges Keras' equal layer would get: per (input, output) map, sum |w| signed by sum w
    expect = np.where(w.sum(axis=(2, 3)) < 0, -1, 1) * np.abs(w).sum(axis=(2, 3))
    np.testing.assert_allclose(connection_matrix("Conv2D", d.weights(0, "stem")), expect.T,
                               rtol=1e-6)
    dw = cnn.dw.weight.detach().numpy()  # (16, 1, 3, 3): map c feeds 2c, 2c + 1
    m = connection_matrix("DepthwiseConv2D", d.weights(0, "dw"))
    assert m.shape == (8, 16)
    np.testing.assert_allclose(m[3, 7], np.sign(dw[7].sum()) * np.abs(dw[7]).sum(), rtol=1e-6)
    assert m[3, 8] == 0
    g = connection_matrix("Conv2D", d.weights(0, "grouped"), inputs=16)
    assert g.shape == (16, 16) and not g[:8, 8:].any() and g[:8, :8].any()
    fc = d.weights(0, "fc")
    np.testing.assert_array_equal(fc[0], cnn.fc.weight.detach().numpy().T)
    bn = d.weights(0, "layer1.0.bn1")
    np.testing.assert_array_equal(bn[2], cnn.layer1[0].bn1.running_mean.numpy())


def test_program_and_onnx_files_read_the_same(cnn: Any, tmp_path: Path) -> None:
    x = _digits()
    program = torch.export.export(cnn, (torch.from_numpy(x),))
    torch.export.save(program, tmp_path / "model.pt2")
    torch.onnx.export(cnn, (torch.from_numpy(x[:1]),), str(tmp_path / "model.onnx"),
                      dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pt2 = Dump(dump_torch(tmp_path / "model.pt2", None, x, tmp_path / "d1"))
        onx = Dump(dump_onnx(tmp_path / "model.onnx", x, tmp_path / "d2"))
    expected = _outputs(cnn, x)
    for d in (pt2, onx):
        names = {la.name for la in d.layers}
        assert "relu" in names  # F.relu at the top level
        for name in ("layer1.0.relu@2", "layer1.1.relu@2", "fc"):
            assert name in names, (d.manifest.model["framework"], sorted(names))
            np.testing.assert_allclose(d.activations(0, name), _last(expected[name]),
                                       atol=1e-5, err_msg=name)
        add = next(la for la in d.layers if la.name == "layer1.0.add")
        assert add.type == "Add" and len(add.inbound) == 2
    assert onx.manifest.model["framework"].startswith("onnxruntime ")
    # BatchNorm folded into the convolutions by the exporter: the conv carries its weights
    assert next(la for la in onx.layers if la.name == "stem").params == 4 * 9 + 4


def test_attention_scores_equal_need_weights(tmp_path: Path) -> None:
    x = np.random.default_rng(1).random((2, 5, 4), dtype=np.float32)
    for first in (True, False):
        torch.manual_seed(0)
        net = torch_nets.AttNet(batch_first=first).eval()
        d = Dump(dump_torch(net, None, x, tmp_path / f"d{first}"))
        att = next(la for la in d.layers if la.type == "MultiHeadAttention")
        assert att.attention["heads"] == 2
        assert att.attention["query"] == ("proj" if first else "transpose")
        with torch.no_grad():
            h = net.proj(torch.from_numpy(x))
            h = h if first else h.transpose(0, 1)
            y, w = net.att(h, h, h, need_weights=True, average_attn_weights=False)
        np.testing.assert_allclose(d.attention(0, att.name), w.numpy(), atol=1e-5)
        y = y if first else y.transpose(0, 1)  # stored batch-first either way
        np.testing.assert_allclose(d.activations(0, att.name), y.numpy(), atol=1e-5)
        weights = d.weights(0, att.name)
        assert [w.shape for w in weights[:2]] == [(8, 2, 4), (2, 4)]


def test_transformer_block_and_recurrent_layers(tmp_path: Path) -> None:
    net = torch_nets.build_seq().eval()
    ids = np.random.default_rng(2).integers(0, 20, (3, 5))
    d = Dump(dump_torch(net, None, ids, tmp_path / "d"))
    by = {la.name: la for la in d.layers}
    assert d.input_array().dtype.kind == "i"
    assert by["embed"].type == "Embedding" and by["embed"].output_shape == [5, 8]
    assert by["enc"].type == "TransformerEncoderLayer"
    assert by["enc"].config["nested"] >= 6 and by["enc"].config["same_as"] == "enc.norm2"
    assert by["enc.self_attn"].config["parent"] == "enc"
    assert by["enc.self_attn"].attention["heads"] == 2
    assert by["lstm"].type == "Bidirectional" and by["lstm"].config["layer"] == "LSTM"
    assert by["lstm"].inbound == ["enc"] and by["lstm"].output_shape == [5, 12]
    expected = _outputs(net, ids)
    for name in ("embed", "enc.norm1", "enc", "lstm", "head"):
        np.testing.assert_allclose(d.activations(0, name), expected[name], atol=1e-5)
    kernel, recurrent, bias = d.weights(0, "lstm")[:3]  # Keras' i, f, c, o gate order
    np.testing.assert_array_equal(kernel, net.lstm.weight_ih_l0.detach().numpy().T)
    np.testing.assert_allclose(bias, (net.lstm.bias_ih_l0 + net.lstm.bias_hh_l0).detach(),
                               rtol=1e-6)
    assert len(d.weights(0, "lstm")) == 6  # forward and backward


def test_conv1d_and_sequence_first_gru(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torch_nets.SignalNet().eval()
    x = np.random.default_rng(3).random((2, 3, 7), dtype=np.float32)
    d = Dump(dump_torch(net, None, x, tmp_path / "d"))
    by = {la.name: la for la in d.layers}
    assert d.layers[0].output_shape == [7, 3]  # (N, C, L) drawn as (L, C)
    assert by["conv"].type == "Conv1D" and by["conv"].output_shape == [7, 4]
    assert by["gru"].type == "GRU" and by["gru"].output_shape == [7, 5]
    expected = _outputs(net, x)
    np.testing.assert_allclose(d.activations(0, "conv"), _last(expected["conv"]), atol=1e-5)
    np.testing.assert_allclose(d.activations(0, "gru"), expected["gru"].transpose(1, 0, 2),
                               atol=1e-5)


def test_unexportable_module_falls_back_to_hooks(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torch_nets.Branchy().eval()
    x = np.random.default_rng(4).random((2, 6), dtype=np.float32)
    with pytest.warns(UserWarning, match="forward hooks"):
        d = Dump(dump_torch(net, None, x, tmp_path / "d"))
    assert [la.name for la in d.layers] == ["input", "a", "b"]
    assert d.layers[2].inbound == ["a"]
    expected = _outputs(net, x)
    np.testing.assert_allclose(d.activations(0, "b"), expected["b"], atol=1e-5)
    assert any("merges may be missing" in w for w in d.manifest.model["warnings"])
