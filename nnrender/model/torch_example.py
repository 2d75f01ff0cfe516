"""The PyTorch example: a small CNN trained on scikit-learn's 8x8 digits, kept the way
PyTorch users keep a training run (a state dict per epoch).

    python -m nnrender.model.torch_example OUT [--epochs 3]

writes ``OUT/ckpt/epoch_0.pt`` (before training) ... ``epoch_N.pt`` and ``OUT/x.npy`` (the
first 4 test digits, (4, 1, 8, 8)), then

    nnrender dump 'OUT/ckpt/epoch_*.pt' --builder nnrender.model.torch_example:build \\
        --input digits:4 -o OUT/dump
    nnrender render torch_digits --set dump=OUT/dump

Seeded and single-threaded, so a run gives the same weights every time (about 5 s for 3
epochs on 2 cores, PyTorch's import included). Like every reader module it gets PyTorch
from ``torch_env``; nothing else of nnrender imports this module.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nnrender.model.torch_env import torch_module

torch = torch_module()
nn = torch.nn
SEED = 0


class DigitsCNN(nn.Module):
    """(1, 8, 8) -> 10: two 3x3 convolutions (8 and 16 maps) with a pooling between, a
    second pooling, a dense layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x: Any) -> Any:
        x = self.pool(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(self.flatten(x))


def build() -> DigitsCNN:
    """The untrained module (``--builder nnrender.model.torch_example:build``)."""
    torch.manual_seed(SEED)
    return DigitsCNN()


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images.astype(np.float32) / 16.0)[:, np.newaxis]  # (N, 1, 8, 8)
    return x, data.target.astype(np.int64)


def train(out: Path, epochs: int = 3) -> list[Path]:
    """Train for ``epochs`` epochs; one state dict per epoch (0: before training)."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x, y = _digits()
    x_train, y_train = torch.from_numpy(x[200:]), torch.from_numpy(y[200:])
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    gen = torch.Generator().manual_seed(SEED)
    ckpt = out / "ckpt"
    ckpt.mkdir(parents=True, exist_ok=True)
    np.save(out / "x.npy", x[:4])
    files = [ckpt / "epoch_0.pt"]
    torch.save(model.state_dict(), files[0])
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for i in range(0, len(order), 64):
            batch = order[i:i + 64]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
        model.eval()
        with torch.no_grad():
            acc = float((model(torch.from_numpy(x[:200])).argmax(1).numpy() == y[:200]).mean())
        files.append(ckpt / f"epoch_{epoch}.pt")
        torch.save(model.state_dict(), files[-1])
        print(f"torch example: epoch {epoch}/{epochs}: loss {total / len(order):.3f}, "
              f"accuracy {acc:.2f}", flush=True)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    train(args.out, max(1, args.epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
