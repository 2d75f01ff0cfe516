"""``nnrender figure``'s PNG output against stored references (no Blender: matplotlib's Agg
draws it). ``--regen-refs`` rewrites them; a failure writes actual, reference and difference
images to the test's temporary folder."""

from __future__ import annotations

import numpy as np
import pytest

import nnrender


@pytest.mark.parametrize("name, kwargs", [
    ("figure_cnn.png", {"columns": 1}),
    ("figure_cnn_architecture.png", {"columns": 1, "architecture": True}),
])
def test_figure_png_matches_reference(synthetic_dump, images, regen_refs, tmp_path, name,
                                      kwargs):
    fig = nnrender.figure(synthetic_dump, dpi=120, **kwargs)
    path = nnrender.figure.save(fig, tmp_path / name)
    img = images.load(path)
    assert img.shape[1] == round(3.5 * 120)
    assert np.abs(img - 1.0).max(axis=-1).mean() > 0.02  # something is drawn on the white
    images.check_ref(img, name, regen_refs, out=tmp_path / "diff")
