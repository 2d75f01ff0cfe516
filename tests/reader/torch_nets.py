"""Small PyTorch modules for the torch reader tests, and builders for ``--builder``.

Imported by the tests (``import torch_nets``: pytest puts this folder on the path) and
named by path in ``nnrender dump ... --builder tests/reader/torch_nets.py:build_cnn``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """A ResNet basic block: two 3x3 convolutions, a shortcut (1x1 when it downsamples),
    the same ReLU module called twice."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    """(1, 8, 8) digits -> 10 classes: stem, two blocks, a depthwise and a grouped conv."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, padding=1)
        self.layer1 = nn.Sequential(Block(width, width), Block(width, 2 * width, 2))
        self.dw = nn.Conv2d(2 * width, 4 * width, 3, padding=1, groups=2 * width)
        self.grouped = nn.Conv2d(4 * width, 4 * width, 1, groups=2)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(4 * width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        x = self.layer1(x)
        x = torch.sigmoid(self.grouped(self.dw(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class SeqNet(nn.Module):
    """Token ids (T,) -> embedding, a transformer encoder layer, a bidirectional LSTM."""

    def __init__(self, vocab: int = 20, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.enc = nn.TransformerEncoderLayer(dim, 2, 16, dropout=0.0, batch_first=True)
        self.lstm = nn.LSTM(dim, 6, batch_first=True, bidirectional=True)
        self.head = nn.Linear(12, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.enc(self.embed(ids))
        x, _ = self.lstm(x)
        return self.head(x.mean(1))


class AttNet(nn.Module):
    """A self-attention over (T, D) features: batch-first, or PyTorch's default
    sequence-first layout (transposed around the attention)."""

    def __init__(self, batch_first: bool = True, dim: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.proj = nn.Linear(4, dim)
        self.att = nn.MultiheadAttention(dim, heads, batch_first=batch_first)
        self.batch_first = batch_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        if not self.batch_first:
            x = x.transpose(0, 1)
        y, _ = self.att(x, x, x)
        return y if self.batch_first else y.transpose(0, 1)


class SignalNet(nn.Module):
    """(3, L) signals: a 1-D convolution, then a sequence-first GRU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1)
        self.gru = nn.GRU(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)  # (N, 4, L)
        out, _ = self.gru(h.permute(2, 0, 1))  # (L, N, 5)
        return out


class Branchy(nn.Module):
    """Data-dependent control flow: torch.export cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 5)
        self.b = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.a(x))
        if float(h.sum()) > 0:
            h = h * 2
        return self.b(h)


def build_cnn() -> nn.Module:
    torch.manual_seed(0)
    return TinyResNet()


def build_wide() -> nn.Module:
    return TinyResNet(width=6)


def build_seq() -> nn.Module:
    torch.manual_seed(1)
    return SeqNet()


def build_raises() -> nn.Module:
    raise RuntimeError("no GPU here")


def build_number() -> int:
    return 42
