"""``nnrender.torch.Recorder`` in a real training loop: epoch 0 before training, then each
epoch as the model computes it then, the logs as metrics, resuming into the same folder,
and a folder of another architecture refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from torch_lazy import SKIP, api, torch, torch_nets

from nnrender.errors import DumpError
from nnrender.model.ir import Dump

pytestmark = [pytest.mark.torch, SKIP]


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(32, 1, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g)


def _train(net: torch.nn.Module, epochs: range, recorder: Any) -> None:
    x, y = _data()
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    for epoch in epochs:
        net.train()
        for i in range(0, 32, 8):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[i:i + 8]), y[i:i + 8])
            loss.backward()
            opt.step()
        recorder.record(epoch, {"loss": float(loss), "note": "text is dropped"})


def _logits(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    was = net.training
    with torch.no_grad():
        out = net.eval()(torch.from_numpy(x)).numpy()
    net.train(was)
    return out


def test_records_a_training_loop_and_resumes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torch_nets.TinyResNet()
    inputs = _data()[0][:3].numpy()
    out = tmp_path / "dump"
    rec = api.Recorder(out, net, inputs=inputs, labels=[1, 2, 3])
    before = _logits(net, inputs)
    net.train()
    assert rec.record(0)
    assert net.training  # the model's mode is left as it was
    _train(net, range(1, 4), rec)
    d = Dump(out)
    assert [ep.epoch for ep in d.epochs] == [0, 1, 2, 3]
    assert d.epochs[0].metrics == {} and set(d.epochs[3].metrics) == {"loss"}
    np.testing.assert_allclose(d.activations(0, "fc"), before, atol=1e-5)
    np.testing.assert_allclose(d.activations(3, "fc"), _logits(net, inputs), atol=1e-5)
    assert not np.allclose(d.activations(0, "fc"), d.activations(3, "fc"))
    np.testing.assert_array_equal(d.weights(3, "fc")[0], net.fc.weight.detach().numpy().T)
    assert d.manifest.inputs["labels"] == [1, 2, 3]

    # a resumed run appends; every=2 skips the odd epochs
    rec = api.Recorder(out, net, inputs=inputs, labels=[1, 2, 3], every=2)
    _train(net, range(4, 7), rec)
    assert [ep.epoch for ep in Dump(out).epochs] == [0, 1, 2, 3, 4, 6]
    # recording an earlier epoch again: training restarted there, later epochs dropped
    assert rec.record(2)
    assert [ep.epoch for ep in Dump(out).epochs] == [0, 1, 2]
    assert not (out / "arrays" / "epoch_0006.activations.npz").exists()


def test_refuses_another_architecture(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    inputs = _data()[0][:2].numpy()
    api.Recorder(out, torch_nets.TinyResNet(), inputs=inputs).record(0)
    with pytest.raises(DumpError, match="different architecture"):
        api.Recorder(out, torch_nets.TinyResNet(width=6), inputs=inputs).record(0)
    with pytest.raises(ValueError, match="every"):
        api.Recorder(out, torch_nets.TinyResNet(), inputs=inputs, every=0)
