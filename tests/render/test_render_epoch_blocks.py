"""The shader reads each epoch from its own block of the atlas grid (rows and columns).

Rendering epoch e's hold frame must give the same image as rendering epoch 0's frame with
epoch e's block copied over block 0: same seed, same camera, only the texels move.
(Cycles' persistent data keeps the atlas it first uploaded, whatever ``image.update()`` says,
so it is switched off while the atlas is edited.)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from nnrender.blender.render import render_to
from nnrender.config.load import load_config
from nnrender.model.ir import Dump
from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.plan import ScenePlan, make_plan

pytestmark = pytest.mark.render


def _set_atlas(image, rgba: np.ndarray) -> None:
    flat = (np.ascontiguousarray(rgba[::-1], dtype=np.float32) / 255.0).ravel()
    image.pixels.foreach_set(flat)
    image.update()


def test_each_epoch_samples_its_own_block(scenes, images, tmp_path: Path) -> None:
    # five epochs: the atlas grid then has both columns and rows of epoch blocks
    dump = Dump(write_synthetic(tmp_path / "dump", cnn_layers(), epochs=5))
    config, _ = load_config(None, {"render": {"resolution": [96, 54], "samples": 4},
                                   "camera": {"orbit": 0}, "labels": {"epoch_caption": False}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan: ScenePlan = make_plan(dump, config)
    lay = plan.atlas.layout
    assert lay.grid_cols > 1 and lay.grid_rows > 1, "want both a column and a row offset"
    built = scenes.get(plan, "cycles")
    tl = plan.timeline
    hold = {e: tl.frame_of_epoch(e) for e in range(lay.epochs)}
    assert all(float(tl.value(f)) == e for e, f in hold.items())
    truth = {e: images.load(render_to(built, f, tmp_path / f"e{e}.png"))
             for e, f in hold.items()}
    original = plan.atlas.image()
    x0, y0 = lay.block_origin(0)
    built.scene.render.use_persistent_data = False
    try:
        for e in range(1, lay.epochs):
            assert not np.array_equal(truth[e], truth[0])
            moved = original.copy()
            moved[y0:y0 + lay.block_h, x0:x0 + lay.block_w] = plan.atlas.blocks[0][e]
            _set_atlas(built.atlas, moved)
            img = images.load(render_to(built, hold[0], tmp_path / f"moved{e}.png"))
            differs = np.abs(img - truth[e]).max(axis=-1) > 2 / 255
            assert differs.mean() < 0.005, f"epoch {e}: {differs.sum()} pixels differ"
    finally:
        _set_atlas(built.atlas, original)
        built.scene.render.use_persistent_data = True
    # and the atlas is back: epoch 0 renders as before
    again = images.load(render_to(built, hold[0], tmp_path / "again.png"))
    np.testing.assert_array_equal(again, truth[0])
