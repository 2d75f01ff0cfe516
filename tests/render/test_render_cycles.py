"""Tiny Cycles renders: not blank, the epoch shows, blends interpolate, renders repeat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnrender.blender.render import render_frames, render_to
from nnrender.output.encode import frame_name
from nnrender.plan import ScenePlan

pytestmark = pytest.mark.render


@pytest.fixture(scope="module")
def still_plan(tiny_plan) -> ScenePlan:
    """A fixed camera and no captions, so two frames differ only by the epoch."""
    return tiny_plan(render={"samples": 8}, camera={"orbit": 0},
                     labels={"epoch_caption": False})


def _frames(plan: ScenePlan) -> dict[str, int]:
    tl = plan.timeline
    hold_end0 = tl.frame_of_epoch(0) + tl.hold_frames - 1
    start1 = tl.frame_of_epoch(1)
    return {"epoch0": hold_end0, "mid": (hold_end0 + start1) // 2, "epoch1": start1,
            "last": tl.last_frame}


@pytest.fixture(scope="module")
def rendered(still_plan: ScenePlan, scenes, images, tmp_path_factory) -> dict[str, np.ndarray]:
    folder = tmp_path_factory.mktemp("cycles")
    built = scenes.get(still_plan, "cycles")
    out = {}
    for key, frame in _frames(still_plan).items():
        out[key] = images.load(render_to(built, frame, folder / f"{key}.png"))
    return out


def test_frame_is_not_blank(rendered: dict[str, np.ndarray], still_plan: ScenePlan,
                            images) -> None:
    for key in ("epoch0", "last"):
        img = rendered[key]
        assert img.shape == (54, 96, 3)
        assert img.std() > 0.05, key
        assert images.foreground(img, still_plan).mean() > 0.15, key  # the network fills the view
        assert len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 100


def test_first_and_last_epoch_differ(rendered: dict[str, np.ndarray], still_plan: ScenePlan,
                                     images) -> None:
    a, b = rendered["epoch0"], rendered["last"]
    region = images.foreground(a, still_plan) | images.foreground(b, still_plan)
    diff = np.abs(a - b).max(axis=-1)
    assert diff[region].mean() > 6 / 255
    assert (diff[region] > 8 / 255).mean() > 0.2  # a good part of the network changed
    # same camera, no captions: the background does not move
    assert diff[~region].mean() < 1 / 255


def test_mid_blend_lies_between_neighbouring_epochs(rendered: dict[str, np.ndarray],
                                                    still_plan: ScenePlan, images) -> None:
    a, m, b = rendered["epoch0"], rendered["mid"], rendered["epoch1"]
    frac = float(still_plan.timeline.value(_frames(still_plan)["mid"]))
    assert 0.3 < frac < 0.7
    region = np.abs(a - b).max(axis=-1) > 8 / 255
    assert region.sum() > 200
    tol = 4 / 255
    inside = ((m >= np.minimum(a, b) - tol) & (m <= np.maximum(a, b) + tol)).all(axis=-1)
    assert inside[region].mean() > 0.95
    assert not np.array_equal(m[region], a[region])
    assert not np.array_equal(m[region], b[region])
    # the shader mixes in linear light: the blend frame is that mix, up to noise
    la, lm, lb = (images.linear(x) for x in (a, m, b))
    predicted = (1 - frac) * la + frac * lb
    err = np.abs(predicted - lm)[region].mean()
    change = np.abs(la - lb)[region].mean()
    assert err < 0.2 * change
    # region means move monotonically from one epoch to the next
    ma, mm, mb = (img[region].mean(axis=0) for img in (a, m, b))
    assert np.all(mm >= np.minimum(ma, mb) - 1 / 255)
    assert np.all(mm <= np.maximum(ma, mb) + 1 / 255)


def test_same_frame_renders_identically(rendered: dict[str, np.ndarray], still_plan: ScenePlan,
                                        scenes, images, tmp_path: Path) -> None:
    built = scenes.get(still_plan, "cycles")
    frame = _frames(still_plan)["mid"]
    first = images.load(render_to(built, frame, tmp_path / "again1.png"))
    second = images.load(render_to(built, frame, tmp_path / "again2.png"))
    # the PNG bytes differ (Cycles writes its render times as metadata), the pixels do not
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, rendered["mid"])


def test_render_frames_skips_existing_and_leaves_no_temp(still_plan: ScenePlan, scenes,
                                                         tmp_path: Path) -> None:
    built = scenes.get(still_plan, "cycles")
    folder = tmp_path / "frames"
    folder.mkdir()
    stale = folder / ".frame_00009.tmp.png"
    stale.write_bytes(b"half a frame")  # what a killed render leaves behind
    assert render_frames(built, [1, 2], folder) == [1, 2]
    assert not stale.exists()
    names = sorted(p.name for p in folder.iterdir())
    assert names == [frame_name(1), frame_name(2)]
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    seen = []
    assert render_frames(built, [1, 2, 3], folder, progress=lambda f, s: seen.append(f)) == [3]
    assert seen == [1, 2, 3]
    for name, mtime in mtimes.items():
        assert (folder / name).stat().st_mtime_ns == mtime
    assert sorted(p.name for p in folder.iterdir()) == [frame_name(f) for f in (1, 2, 3)]
