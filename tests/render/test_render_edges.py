"""The demo scene with connections on and off: the frames differ where the edges are, and
only there."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from nnrender.config.load import load_config
from nnrender.model.ir import Dump
from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.plan import ScenePlan, make_plan

pytestmark = pytest.mark.render

DEMO = Path(__file__).resolve().parents[2] / "scenes" / "demo.yaml"
W, H = 160, 90


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory) -> Path:
    """The demo's digits CNN shape, with weights that change over 3 epochs."""
    return write_synthetic(tmp_path_factory.mktemp("wdump") / "dump", cnn_layers(), epochs=3,
                           with_weights=True)


def _plan(dump: Path, **edges) -> ScenePlan:
    overrides = {
        "render": {"resolution": [W, H], "samples": 4, "denoise": "off"},
        "camera": {"orbit": 0},
        # nothing else that moves or spreads light: labels, captions, legend, bloom
        "labels": {"show": False, "epoch_caption": False},
        "look": {"legend": False, "glow": 0.0},
        "edges": {"top_k": 2, **edges},
        # the demo's storyboard moves the camera and adds titles and an inset: the look only
        "shots": [], "forward": [], "inputs": [], "metrics": None,
    }
    config, _ = load_config(DEMO, overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_plan(Dump(dump), config)


def test_edges_on_differ_from_off_where_the_edges_are(demo_like: Path, scenes, images,
                                                      tmp_path: Path) -> None:
    from nnrender.blender.render import render_to

    on = _plan(demo_like)
    assert {g.kind for g in on.edges} == {"channel", "dense"}
    off = dataclasses.replace(on, edges=[])  # the same scene, without its edges
    frame = on.timeline.last_frame
    a = images.load(render_to(scenes.get(on, "cycles"), frame, tmp_path / "on.png"))
    b = images.load(render_to(scenes.get(off, "cycles"), frame, tmp_path / "off.png"))
    diff = np.abs(a - b).max(axis=-1) > 0.12
    curves = [g.at(on.bundle) for g in on.edges]

    def mask(grow: int) -> np.ndarray:
        return np.logical_or.reduce([images.curve_mask(on, c, W, H, grow, on.camera.azimuth_end)
                                     for c in curves])

    near = mask(2)
    assert diff.sum() > 0.01 * W * H, f"edges changed only {diff.sum()} pixels"
    # what changed is where edges project (a few pixels of anti-aliasing and noise aside)
    outside = diff & ~near
    assert outside.sum() <= 0.03 * diff.sum(), (
        f"{outside.sum()} of {diff.sum()} changed pixels lie away from every edge")
    # and a good share of the edge pixels changed (the rest are hidden behind maps)
    assert (diff & mask(0)).sum() > 0.25 * mask(0).sum()
