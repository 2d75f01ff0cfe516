"""Bad PyTorch and ONNX input: one line naming the file and what is wrong (exit 2 from the
command line, no traceback), and an earlier dump in the output folder left as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from torch_lazy import SKIP, dump_onnx, dump_torch, torch, torch_nets

from nnrender.errors import ModelError
from nnrender.model.ir import Dump

pytestmark = [pytest.mark.torch, SKIP]

NETS = Path(__file__).with_name("torch_nets.py").resolve()


def _line(exc: pytest.ExceptionInfo[ModelError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.startswith("nnrender: error: "), text
    return text


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("torch-bad")
    net = torch_nets.build_cnn().eval()
    x = torch.zeros(1, 1, 8, 8)
    torch.save(net.state_dict(), work / "epoch_1.pt")
    torch.export.save(torch.export.export(net, (x,)), work / "good.pt2")
    torch.onnx.export(net, (x,), str(work / "good.onnx"), dynamo=False)
    torch.jit.save(torch.jit.trace(net, x, check_trace=False), work / "script.pt")
    for name in ("good.pt2", "good.onnx", "epoch_1.pt", "script.pt"):
        data = (work / name).read_bytes()
        (work / f"cut_{name}").write_bytes(data[: len(data) // 2])
    sd = net.state_dict()
    missing = {k: v for k, v in sd.items() if k != "fc.bias"}
    torch.save(missing, work / "missing_1.pt")
    torch.save({**sd, "extra.weight": torch.zeros(2)}, work / "extra_1.pt")
    torch.save({**sd, "fc.weight": torch.zeros(10, 3)}, work / "shape_1.pt")
    np.save(work / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    np.save(work / "wrong.npy", np.zeros((2, 3, 5, 5), np.float32))
    return work


@pytest.fixture()
def earlier(tmp_path: Path) -> Path:
    """An earlier dump in the output folder: it must survive every failure."""
    out = tmp_path / "dump"
    dump_torch(torch_nets.build_cnn(), None, np.zeros((1, 1, 8, 8), np.float32), out)
    return out


def _untouched(out: Path, before: bytes) -> None:
    assert (out / "manifest.json").read_bytes() == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".dump.tmp")]


@pytest.mark.parametrize("name, needle", [
    ("cut_good.pt2", "not a valid .pt2 file"),
    ("cut_good.onnx", "not a valid ONNX model"),
    ("cut_script.pt", "not a valid PyTorch file"),
])
def test_truncated_model_files(files: Path, earlier: Path, name: str, needle: str) -> None:
    before = (earlier / "manifest.json").read_bytes()
    with pytest.raises(ModelError) as exc:
        dump_torch(files / name, None, np.zeros((1, 1, 8, 8), np.float32), earlier)
    assert needle in _line(exc) and name in _line(exc)
    _untouched(earlier, before)


@pytest.mark.parametrize("name, needle", [
    ("cut_epoch_1.pt", "not a readable PyTorch file"),
    ("missing_1.pt", "missing key 'fc.bias'"),
    ("extra_1.pt", "unexpected key 'extra.weight'"),
    ("shape_1.pt", "fc.weight has shape [10, 3], the model's is [10, 16]"),
])
def test_state_dicts_that_do_not_fit(files: Path, earlier: Path, name: str,
                                     needle: str) -> None:
    before = (earlier / "manifest.json").read_bytes()
    with pytest.raises(ModelError) as exc:
        dump_torch(files / name, None, np.zeros((1, 1, 8, 8), np.float32), earlier,
                   builder=f"{NETS}:build_cnn")
    line = _line(exc)
    assert needle in line and name in line and "epoch 1" in line
    _untouched(earlier, before)


@pytest.mark.parametrize("builder, needle", [
    ("build_raises", "the builder failed: RuntimeError: no GPU here"),
    ("build_number", "the builder returned int, not a torch.nn.Module"),
    ("nothing_here", "has no function nothing_here"),
])
def test_bad_builders(files: Path, builder: str, needle: str) -> None:
    with pytest.raises(ModelError) as exc:
        dump_torch(files / "epoch_1.pt", None, np.zeros((1, 1, 8, 8), np.float32),
                   files / "never", builder=f"{NETS}:{builder}")
    assert needle in _line(exc)
    assert not (files / "never").exists()


def test_state_dict_without_builder_and_wrong_inputs(files: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="--builder") as exc:
        dump_torch(files / "epoch_1.pt", None, np.zeros((1, 1, 8, 8)), tmp_path / "d")
    _line(exc)
    with pytest.raises(ModelError, match=r"inputs have shape \(2, 3, 5, 5\)") as exc:
        dump_torch(files / "good.pt2", None, np.zeros((2, 3, 5, 5), np.float32), tmp_path / "d")
    _line(exc)
    with pytest.raises(ModelError, match=r"expects \(N, 1, 8, 8\)"):
        dump_onnx(files / "good.onnx", np.zeros((2, 3, 5, 5), np.float32), tmp_path / "d")
    with pytest.raises(ModelError, match="must be numeric"):
        dump_torch(files / "good.pt2", None, np.array([["a"]]), tmp_path / "d")
    seq = torch_nets.build_seq()
    with pytest.raises(ModelError, match="integer ids"):
        dump_torch(seq, None, np.full((1, 5), 0.5, np.float32), tmp_path / "d")


def test_command_line_says_it_in_one_line(files: Path, earlier: Path) -> None:
    before = (earlier / "manifest.json").read_bytes()
    for args in ([files / "cut_good.pt2", "--input", files / "x.npy"],
                 [files / "shape_1.pt", "--builder", f"{NETS}:build_cnn", "--input",
                  files / "x.npy"],
                 [files / "good.onnx", "--input", files / "wrong.npy"]):
        proc = subprocess.run([sys.executable, "-m", "nnrender", "dump", *map(str, args),
                               "-o", str(earlier)], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nnrender: error: "), proc.stderr
        assert "Traceback" not in proc.stderr
    _untouched(earlier, before)
    assert Dump(earlier).layers[0].type == "InputLayer"
