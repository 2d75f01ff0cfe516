"""Token labels: each drawn token of a sequence named by its text (the vocabulary's entry
for the recorded token id) or its position, hanging below the token, read bottom to top."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnrender.errors import ConfigError, DumpError
from nnrender.layout.labels import CHAR_WIDTH
from nnrender.layout.network import LayerBlock
from nnrender.model.ir import DumpLike, LayerInfo
from nnrender.plan.context import PlanContext
from nnrender.plan.types import Label

AUTO_MAX = 48  # labels.tokens: auto labels sequences of at most this many drawn tokens
SIZE_SHARE = 0.8  # a token label's size, of a layer label's...
PITCH_SHARE = 0.8  # ...and at most this share of the distance between two tokens
GAP = 0.25  # between a token's bottom and its label, of the label size


def vocabulary(ctx: PlanContext) -> tuple[list[str] | None, str]:
    """The token texts (``labels.vocab``, else the dump's) and where they came from."""
    given = ctx.config.labels.vocab
    if given is None:
        vocab = ctx.dump.manifest.inputs.get("vocab")
        return (list(vocab) if vocab else None), str(ctx.dump.path / "manifest.json")
    path = Path(given).expanduser()
    if not path.is_absolute() and Path(str(ctx.source)).is_file():
        path = Path(str(ctx.source)).parent / path
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(ctx.source, f"labels.vocab: cannot read {path}: "
                                      f"{getattr(exc, 'strerror', None) or exc}") from None
    return [line.rstrip("\r") for line in lines], str(path)


def _first_token_layers(layers: list[LayerInfo]) -> set[int]:
    """Token layers with no token layer upstream: where a sequence starts."""
    index = {layer.name: i for i, layer in enumerate(layers)}
    after = [False] * len(layers)
    out = set()
    for i, layer in enumerate(layers):
        parents = [index[p] for p in layer.inbound if p in index]
        upstream = any(after[p] or layers[p].role == "tokens" for p in parents)
        after[i] = upstream
        if layer.role == "tokens" and not upstream:
            out.add(i)
    return out


def _input_ids(dump: DumpLike, layers: list[LayerInfo], i: int, sample: int) -> np.ndarray | None:
    """The recorded integer token ids that feed layer ``i`` (an integer model input of the
    same length upstream), or None."""
    inputs = [k for k, layer in enumerate(layers) if layer.type == "InputLayer"]
    index = {layer.name: k for k, layer in enumerate(layers)}
    seen, todo = set(), [i]
    while todo:
        k = todo.pop()
        if k in seen:
            continue
        seen.add(k)
        todo += [index[p] for p in layers[k].inbound if p in index]
    tokens = layers[i].output_shape[0]
    for position, k in enumerate(inputs):
        if k not in seen or list(layers[k].output_shape)[:1] != [tokens]:
            continue
        ids = dump.input_array(position)
        if ids is not None and ids.dtype.kind in "iu" and ids.ndim == 2:
            return ids[sample]
    return None


def token_labels(ctx: PlanContext, blocks: list[LayerBlock], size: float) -> list[Label]:
    """Labels for the drawn tokens of the layers ``labels.tokens`` asks for."""
    mode = ctx.config.labels.tokens
    if mode == "none" or not ctx.config.labels.show:
        return []
    layers = ctx.layers
    firsts = _first_token_layers(layers)
    vocab, where = vocabulary(ctx)
    out: list[Label] = []
    for i, (layer, block) in enumerate(zip(layers, blocks, strict=True)):
        if block.role != "tokens" or ctx.choices[i].label is False:
            continue
        patch_grid = block.tile_hw[1] > 1
        if mode == "auto" and (i not in firsts or patch_grid or block.shown > AUTO_MAX):
            continue
        cells = np.nonzero((block.sources >= 0) & np.any(block.sizes > 0, axis=1))[0]
        if not len(cells):
            continue
        stored = block.sources[cells]
        position = np.asarray(layer.positions)[stored] if layer.positions else stored
        ids = _input_ids(ctx.dump, layers, i, ctx.config.sample)
        texts = [str(int(p)) for p in position]
        if ids is not None and vocab is not None:
            big = int(ids.max())
            if big >= len(vocab):
                raise (DumpError if ctx.config.labels.vocab is None else ConfigError)(
                    where, f"vocabulary of {len(vocab)} entries, but the recorded inputs use "
                           f"token id {big}")
            texts = [vocab[int(ids[p])] for p in position]
        centers, sizes = block.centers[cells], block.sizes[cells]
        pitch = (float(np.median(np.abs(np.diff(centers[:, 1])))) if len(cells) > 1
                 else float(sizes[0, 1]))
        own = min(SIZE_SHARE * size, PITCH_SHARE * max(pitch, float(sizes[:, 1].min())))
        for text, c, s in zip(texts, centers, sizes, strict=True):
            top = (float(c[0]), float(c[1]), float(c[2] - s[2] / 2 - GAP * own))
            out.append(Label(text, top, own, layer.name, kind="token", align_x="right",
                             align_y="center", vertical=True))
    return out


def token_box(label: Label) -> np.ndarray:
    """Two corners of the space a vertical token label takes (for framing)."""
    p = np.asarray(label.position, dtype=np.float64)
    length = CHAR_WIDTH * label.size * max(len(label.text), 1)
    half = label.size / 2
    return np.array([p + [half, half, 0.0], p - [half, half, length]])
