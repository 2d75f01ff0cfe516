"""Every way a PyTorch user keeps a trained model, through ``nnrender dump``: state-dict
epochs with ``--builder`` (plain and wrapped checkpoints, ``--state-key``), ``.pt2``
programs and series, TorchScript files and series, ``.onnx`` series; each epoch holds
what the model computes with that epoch's weights, in epoch order."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from torch_lazy import SKIP, dump_torch, torch, torch_nets

from nnrender.errors import ModelError
from nnrender.model.ir import Dump

pytestmark = [pytest.mark.torch, SKIP]

NETS = Path(__file__).with_name("torch_nets.py").resolve()
BUILD = f"{NETS}:build_cnn"


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnrender", "dump", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def _logits(net: Any, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net.eval()(torch.from_numpy(x)).numpy()


@pytest.fixture(scope="module")
def epochs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], np.ndarray]:
    """State dicts of three 'epochs' (2, 10 and 6, named so that 10 sorts first by name)
    and the digits they are dumped for."""
    work = tmp_path_factory.mktemp("torch-epochs")
    net = torch_nets.build_cnn()
    states = []
    for e in (2, 6, 10):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.05 * torch.randn_like(p))
            net.layer1[0].bn1.running_mean.add_(0.1)
        sd = {k: v.clone() for k, v in net.state_dict().items()}
        states.append(sd)
        torch.save(sd, work / f"epoch_{e}.pt")
    x = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    np.save(work / "x.npy", x)
    return work, states, x


def test_state_dict_series_with_builder(epochs: tuple[Path, list[dict], np.ndarray],
                                        tmp_path: Path) -> None:
    work, states, x = epochs
    out = tmp_path / "dump"
    proc = run(work / "epoch_*.pt", "--builder", BUILD, "--input", work / "x.npy",
               "--allow-gaps", "-o", out)
    assert proc.returncode == 0, proc.stderr
    d = Dump(out)
    assert [ep.epoch for ep in d.epochs] == [2, 6, 10]  # epoch_2 before epoch_10
    net = torch_nets.build_cnn()
    for i, sd in enumerate(states):
        net.load_state_dict(sd)
        np.testing.assert_allclose(d.activations(i, "fc"), _logits(net, x), atol=1e-5)
        np.testing.assert_array_equal(d.weights(i, "layer1.0.bn1")[2],
                                      sd["layer1.0.bn1.running_mean"].numpy())
    assert not np.allclose(d.activations(0, "fc"), d.activations(2, "fc"))
    # the digits loader gives (N, 8, 8, 1); the model takes (N, 1, 8, 8)
    proc = run(work / "epoch_2.pt", "--builder", BUILD, "--input", "digits:3", "-o",
               tmp_path / "d2")
    assert proc.returncode == 0, proc.stderr
    d2 = Dump(tmp_path / "d2")
    assert d2.manifest.inputs["shape"] == [8, 8, 1] and d2.input_array().shape == (3, 1, 8, 8)


def test_wrapped_checkpoints_and_state_key(epochs: tuple[Path, list[dict], np.ndarray],
                                           tmp_path: Path) -> None:
    work, states, x = epochs
    net = torch_nets.build_cnn()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for e, sd in zip((1, 2), states[:2], strict=True):
        torch.save({"model": sd, "optimizer": opt.state_dict(), "epoch": e, "loss": 0.5},
                   tmp_path / f"ckpt_{e}.pth")
        torch.save({"model": sd, "ema": states[2], "epoch": e}, tmp_path / f"two_{e}.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = Dump(dump_torch(tmp_path / "ckpt_*.pth", None, x, tmp_path / "d1", builder=BUILD))
    assert [ep.epoch for ep in d.epochs] == [1, 2]
    net.load_state_dict(states[1])
    np.testing.assert_allclose(d.activations(1, "fc"), _logits(net, x), atol=1e-5)
    with pytest.raises(ModelError, match=r"several state dicts \('model', 'ema'\); pass "
                                         "--state-key"):
        dump_torch(tmp_path / "two_*.pth", None, x, tmp_path / "d2", builder=BUILD)
    with pytest.raises(ModelError, match="no entry 'nope'.*entries: model, ema, epoch"):
        dump_torch(tmp_path / "two_*.pth", None, x, tmp_path / "d2", builder=BUILD,
                   state_key="nope")
    proc = run(tmp_path / "two_*.pth", "--builder", BUILD, "--state-key", "ema", "--input",
               work / "x.npy", "-o", tmp_path / "d2")
    assert proc.returncode == 0, proc.stderr
    net.load_state_dict(states[2])
    np.testing.assert_allclose(Dump(tmp_path / "d2").activations(0, "fc"), _logits(net, x),
                               atol=1e-5)


def test_program_and_torchscript_series(epochs: tuple[Path, list[dict], np.ndarray],
                                        tmp_path: Path) -> None:
    work, states, x = epochs
    net = torch_nets.build_cnn().eval()
    for e, sd in zip((1, 2), states[:2], strict=True):
        net.load_state_dict(sd)
        torch.export.save(torch.export.export(net, (torch.from_numpy(x),)),
                          tmp_path / f"model_e{e}.pt2")
        torch.jit.save(torch.jit.trace(net, torch.from_numpy(x), check_trace=False),
                       tmp_path / f"script_{e}.pt")
        torch.onnx.export(net, (torch.from_numpy(x),), str(tmp_path / f"net_{e}.onnx"),
                          dynamo=False)
    for pattern, name in (("model_e*.pt2", "pt2"), ("script_*.pt", "ts"),
                          ("net_*.onnx", "onnx")):
        out = tmp_path / name
        if name == "pt2":  # the command line once, the same readers from Python
            proc = run(tmp_path / pattern, "--input", work / "x.npy", "-o", out)
            assert proc.returncode == 0, proc.stderr
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dump_torch(tmp_path / pattern, None, x, out)
        d = Dump(out)
        assert [ep.epoch for ep in d.epochs] == [1, 2], name
        last = d.layers[-1].name
        for i, sd in enumerate(states[:2]):
            net.load_state_dict(sd)
            np.testing.assert_allclose(d.activations(i, last), _logits(net, x), atol=1e-5,
                                       err_msg=name)
        adds = [la for la in d.layers if la.type == "Add" and len(la.inbound) == 2]
        assert len(adds) == 2, name
    # one program, its epochs as state dicts
    d = Dump(dump_torch(tmp_path / "model_e1.pt2", work / "epoch_*.pt", x, tmp_path / "pw",
                        allow_gaps=True))
    assert [ep.epoch for ep in d.epochs] == [2, 6, 10]
    net.load_state_dict(states[2])
    np.testing.assert_allclose(d.activations(2, "fc"), _logits(net, x), atol=1e-5)
