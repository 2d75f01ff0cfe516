import numpy as np
import pytest

from nnrender.timeline.epochs import EpochTimeline, smoothstep


def test_frame_count_and_keys():
    t = EpochTimeline.from_seconds(9, 24, hold=0.4, blend=0.5, end_hold=1.5)
    assert (t.hold_frames, t.blend_frames, t.end_frames) == (10, 12, 36)
    assert t.last_frame == 1 + 8 * 22 + 10 - 1 + 36
    keys = t.keys()
    assert keys[0] == (1, 0.0) and keys[1] == (10, 0.0) and keys[2] == (23, 1.0)
    assert keys[-1] == (t.last_frame, 8.0)
    frames = [f for f, _ in keys]
    assert frames == sorted(set(frames))


def test_holds_are_exact_and_blends_between():
    t = EpochTimeline.from_seconds(5, 24, hold=0.5, blend=0.5, end_hold=0)
    frames = np.arange(t.first_frame, t.last_frame + 1)
    v = t.value(frames)
    for k in range(5):
        start = t.frame_of_epoch(k)
        assert np.all(v[start - 1:start - 1 + t.hold_frames] == k)
    assert np.all(np.diff(v) >= 0), "epochs only move forward"
    for k in range(4):
        end = t.frame_of_epoch(k) + t.hold_frames - 1
        between = t.value(np.arange(end + 1, t.frame_of_epoch(k + 1)))
        assert np.all((between > k) & (between < k + 1))
    mid = t.frame_of_epoch(0) + t.hold_frames - 1 + (t.blend_frames + 1) / 2
    assert t.value(mid) == pytest.approx(0.5)


def test_single_epoch_and_clamping():
    t = EpochTimeline.from_seconds(1, 24, 1.0, 1.0, 0.5)
    assert t.blend_frames == 0
    assert np.all(t.value(np.arange(-3, t.last_frame + 5)) == 0)
    t2 = EpochTimeline.from_seconds(3, 10, 0.2, 0.2, 0)
    assert t2.value(10_000) == 2 and t2.value(-5) == 0


def test_smoothstep_shape():
    x = np.linspace(0, 1, 101)
    y = smoothstep(x)
    assert y[0] == 0 and y[-1] == 1 and y[50] == pytest.approx(0.5)
    assert np.all(np.diff(y) >= 0)
