"""Regenerate tests/data/vit_digits: the ViT example (``nnrender demo vit``) trained here,
cut down to epochs 0, 6 and 12, one input (the digit 3) and float16, so the render tests
draw a real trained transformer without TensorFlow.

    python tests/data/make_vit_dump.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "vit_digits"
EPOCHS = (0, 6, 12)


def subset(src: Path, out: Path, epochs: tuple[int, ...], sample: int = 0) -> Path:
    """A copy of the dump ``src`` with only ``epochs`` and input ``sample``, in float16."""
    from nnrender.model.ir import Dump, DumpWriter

    dump = Dump(src)
    man = dump.manifest
    writer = DumpWriter(out, dtype="float16", weights_dtype="float16")
    pick = slice(sample, sample + 1)
    for e, ep in enumerate(man.epochs):
        if ep.epoch not in epochs:
            continue
        acts = [dump.activations(e, i)[pick] for i in range(len(man.layers))]
        scores = [None if (a := dump.attention(e, i)) is None else a[pick]
                  for i in range(len(man.layers))]
        weights = [dump.weights(e, i) for i in range(len(man.layers))]
        writer.add_epoch(ep.epoch, acts, weights, source=ep.source, metrics=ep.metrics,
                         attention=scores)
    inputs = dict(man.inputs)
    inputs["count"] = 1
    if inputs.get("labels"):
        inputs["labels"] = inputs["labels"][pick]
    arrays = {k: np.asarray(v)[pick] for k, v in
              (("inputs", dump.input_array(0)),) if v is not None}
    return writer.finish(dict(man.model), man.layers, inputs, input_arrays=arrays or None)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="vit-"))
    try:
        subprocess.run([sys.executable, "-m", "nnrender.model.examples", "vit", str(work)],
                       check=True)
        if OUT.exists():
            shutil.rmtree(OUT)
        subset(work / "dump", OUT, EPOCHS)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(OUT, sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file()), "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
