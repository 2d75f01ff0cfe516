"""A talk video's story, planned in pure code: shots, the (epoch, input) path, forward-pass
waves, the camera per frame, titles, the metrics inset, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnrender.config.load import load_config
from nnrender.errors import ConfigError
from nnrender.model.ir import Dump
from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.plan import make_plan
from nnrender.plan.dressing import clip_starts
from nnrender.timeline.epochs import EpochTimeline

FPS = 24
SHOTS = [
    {"move": "overview", "duration": 1.0, "epochs": "first", "title": "A CNN"},
    {"move": "orbit", "duration": 2.0, "epochs": "play", "orbit": 30,
     "transition": {"blend": 0.5}, "caption": "training"},
    {"move": "push", "layer": "conv2", "duration": 1.0},
    {"move": "focus", "layers": ["conv1", "pool1"], "duration": 1.0,
     "transition": {"blend": 0.25}},
    {"move": "fly", "duration": 1.5},
]


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("story") / "d", cnn_layers(), epochs=4,
                           count=3, with_weights=True)


def _plan(dump: Path, **sections: object):  # noqa: ANN202
    config, _ = load_config(None, {"render": {"resolution": [320, 180], "fps": FPS},
                                   **sections})
    return make_plan(Dump(dump), config)


def test_without_shots_the_story_is_the_epoch_timeline(dump: Path) -> None:
    plan = _plan(dump)
    tl = plan.timeline
    assert plan.story.states == [(e, 0) for e in range(4)]
    assert plan.story.keys == tl.keys() and plan.story.interpolation == "BEZIER"
    assert (plan.story.first_frame, plan.story.last_frame) == (tl.first_frame, tl.last_frame)
    frames = np.arange(1, tl.last_frame + 1)
    np.testing.assert_allclose(plan.story.value(frames), tl.value(frames))
    assert plan.camera.track is None and not plan.story.waves


def test_shot_boundaries(dump: Path) -> None:
    plan = _plan(dump, shots=SHOTS)
    spans = plan.story.shots
    lengths = [round(s["duration"] * FPS) for s in SHOTS]
    assert [s.start for s in spans] == list(np.cumsum([1, *lengths[:-1]]))
    assert [s.end - s.start + 1 for s in spans] == lengths
    assert plan.story.last_frame == sum(lengths)
    assert [s.blend for s in spans] == [0, 12, 0, 6, 0]
    assert plan.camera.track.count == sum(lengths)
    texts = [(c.kind, c.text, c.frame_start, c.frame_end) for c in plan.captions
             if c.kind != "epoch"]
    assert texts == [("title", "A CNN", 1, 24), ("lower", "training", 25, 72)]


def test_epochs_hold_then_play_through_an_orbit(dump: Path) -> None:
    plan = _plan(dump, shots=SHOTS)
    story = plan.story
    value = story.value(np.arange(1, story.last_frame + 1))
    assert np.all(value[:24] == 0), "epochs: first holds epoch 0"
    play = value[24:72]
    assert play[0] == 0 and play[-1] == pytest.approx(3.0) and np.all(np.diff(play) >= 0)
    assert np.all(value[72:] == pytest.approx(3.0)), "later shots keep the last epoch"
    captions = [c for c in plan.captions if c.kind == "epoch"]
    assert [c.text.split()[1] for c in captions] == ["0", "1", "2", "3"]
    assert captions[0].frame_start == 1 and captions[-1].frame_end == story.last_frame


def test_camera_is_continuous_in_a_shot_and_eased_across_blends(dump: Path) -> None:
    plan = _plan(dump, shots=SHOTS)
    track, spans = plan.camera.track, plan.story.shots
    pos = np.array([_eye(track, f) for f in track.frames])
    step = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    scale = float(np.median(track.distance))
    for span in spans:
        inside = step[span.start - 1:span.end - 1]
        assert inside.max() < 0.25 * scale, f"shot {span.index} jumps"
    # a blended shot starts where the last one ended; a cut may jump
    orbit = spans[1]
    assert step[orbit.start - 2] < 0.1 * scale
    # the orbit turns the camera by its degrees (after the blend-in)
    turned = track.azimuth[orbit.start - 1 + orbit.blend:orbit.end]
    assert turned[0] - turned[-1] == pytest.approx(30 * (1 - orbit.blend / 48), abs=1.5)
    # the push ends facing the map, close enough that it fills the frame
    push = spans[2]
    assert track.azimuth[push.end - 1] == pytest.approx(0, abs=1e-6)
    assert track.elevation[push.end - 1] == pytest.approx(0, abs=1e-6)
    assert track.distance[push.end - 1] < 0.25 * track.distance[push.start - 1]
    clips = clip_starts(plan.camera)
    assert clips[push.end - 1] > 0.9 * track.distance[push.end - 1], "clipped close"
    assert clips[spans[3].start] == plan.camera.clip_start
    # the overlays ride past the clip: their depth scale keeps them in front of it
    depth_scale = plan.overlay.root_scale[:, 1]
    assert np.all(plan.overlay.depth * depth_scale > clips)


def _eye(track, frame: int) -> np.ndarray:  # noqa: ANN001
    from nnrender.layout.camera import offset_direction

    target, az, el, dist, _ = track.at(frame)
    return target + offset_direction(az, el) * dist


def test_the_wave_reaches_layers_in_graph_depth_order(dump: Path) -> None:
    plan = _plan(dump, forward=[{"at": 0.5, "duration": 1.0}])
    (wave,) = plan.story.waves
    assert wave.start == 13 and wave.end == 37
    frames = np.arange(1, plan.story.last_frame + 1)
    front, on = plan.story.wave_values(frames)
    # frame f is frames[f - 1]: the network dims over the lead, then stays dark ahead of
    # the front until the wave has passed
    assert wave.lead == round(0.3 * FPS)
    assert on[wave.start - 1] == 1 and on[wave.end - 1] == 1 and on[wave.end] == 0
    ramp = on[wave.start - wave.lead - 2:wave.start]
    assert ramp[0] == 0 and ramp[1] == 0 and np.all(np.diff(ramp[1:]) > 0)
    arrival = {}
    for lp in plan.layers:
        lit = np.clip((front - lp.depth) / wave.soft, 0, 1) * on + (1 - on)
        inside = np.nonzero((frames >= wave.start) & (lit > 0.5))[0]
        arrival[lp.name] = frames[inside[0]]
    order = sorted(plan.layers, key=lambda lp: lp.depth)
    times = [arrival[lp.name] for lp in order]
    assert times == sorted(times) and times[0] < times[-1]
    # pulses: every edge knows the depths it runs between
    for g in plan.edges:
        assert g.arrive is not None and g.arrive.shape == (g.count, 2)
        assert np.all(g.arrive[:, 1] > g.arrive[:, 0])
    per_layer = _plan(dump, forward=[{"at": 0.0, "per_layer": 0.25}]).story.waves[0]
    assert per_layer.end - per_layer.start == round(0.25 * (wave.depth + 1) * FPS)


def test_inputs_blend_as_epochs_do(dump: Path) -> None:
    plan = _plan(dump, inputs=[{"at": 4.0, "sample": 2, "blend": 0.5}])
    story = plan.story
    assert story.states == [(0, 0), (1, 0), (2, 0), (3, 0), (3, 2)]
    start = 1 + 4 * FPS
    value = story.value(np.arange(1, story.last_frame + 1))
    assert value[start - 2] == pytest.approx(3.0) and value[start + 11] == pytest.approx(4.0)
    mid = value[start - 1 + 6]
    assert 3.3 < mid < 3.7, "half-way into the second input"
    assert np.all(np.diff(value[start - 1:start + 12]) >= 0)
    # one atlas block per state; edges carry one weight column per state (the epoch's)
    assert plan.atlas.layout.epochs == 5
    for g in plan.edges:
        if g.kind != "link":
            np.testing.assert_array_equal(g.weights[:, 4], g.weights[:, 3])
    # back to an earlier epoch and another input: the path lists the states again
    again = _plan(dump, shots=[{"duration": 1.0, "epochs": "last"},
                               {"duration": 2.0, "epochs": "first"}],
                  inputs=[{"at": 1.5, "sample": 1, "blend": 0.2}])
    assert again.story.states == [(3, 0), (0, 0), (0, 1)]


def test_metrics_inset_marks_the_shown_epoch(dump: Path) -> None:
    plan = _plan(dump, shots=SHOTS, metrics={"show": ["accuracy"]})
    inset = plan.overlay.inset
    assert inset is not None and len(inset.lines) == 1
    line = inset.lines[0]
    assert line.shape == (4, 2) and np.all(np.diff(line[:, 0]) > 0)
    x0, y0, x1, y1 = inset.box
    assert x0 > 0 and y1 <= plan.overlay.half_h, "the upper right corner"
    markers = inset.markers[:, 0]
    np.testing.assert_allclose(markers[0], line[0])
    np.testing.assert_allclose(markers[-1], line[-1])
    assert np.all(np.diff(markers[24:72, 0]) >= -1e-12), "moves with the epochs"
    assert any(p.box == inset.box for p in plan.overlay.plates)


@pytest.mark.parametrize(("sections", "needle"), [
    ({"shots": [{"move": "focus", "layers": ["conv3"], "duration": 1}]},
     "shots[0].layers: no layer 'conv3' (did you mean conv2, conv1"),
    ({"shots": [{"move": "focus", "layer": "pool3", "duration": 1}]},
     "shots[0].layer: no layer 'pool3' (did you mean pool2, pool1"),
    ({"shots": [{"move": "push", "layer": "outptu", "duration": 1}]},
     "shots[0].layer: no layer 'outptu' (did you mean output"),
    ({"shots": [{"move": "push", "duration": 1}]}, "shots[0].layer: push needs"),
    ({"shots": [{"duration": 0}]}, "shots.0.duration: Input should be greater than 0"),
    ({"shots": [{"duration": 0.01}]}, "shots[0].duration: 0.01 s is under one frame at 24"),
    ({"shots": [{"duration": 1}, {"duration": 0.5, "transition": {"blend": 1}}]},
     "shots[1].transition.blend: 1 s is longer than the shot (0.5 s)"),
    ({"forward": [{"at": 0, "duration": 1}, {"at": 0.5, "duration": 1}]},
     "forward[1]: starts before the previous wave ends"),
    ({"forward": [{"at": 100, "duration": 1}]}, "forward[0]: ends at 101 s, after"),
    ({"metrics": {"show": ["acuracy"]}}, "metrics.show[0]: no metric 'acuracy' in the dump's "
     "epochs (did you mean accuracy"),
    ({"output": {"formats": ["avi"]}}, "output.formats.0: Input should be"),
    ({"inputs": [{"at": 0.2, "sample": 1}]}, "inputs: an input blends while the epochs blend"),
    ({"inputs": [{"at": 1, "sample": 7}]}, "inputs[0].sample: 7, but the dump has 3 inputs"),
    ({"shots": [{"duration": 1, "epochs": 9}]}, "shots[0].epochs: epoch 9 is not shown"),
])
def test_bad_story_is_one_line_naming_the_key(dump: Path, sections: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _plan(dump, **sections)
    line = exc.value.line()
    assert needle in line and "\n" not in line, line


def test_default_timeline_is_unchanged_by_the_story_code() -> None:
    tl = EpochTimeline.from_seconds(3, 24, 0.5, 0.6, 1.0)
    assert tl.keys()[0] == (1, 0.0) and tl.keys()[-1] == (tl.last_frame, 2.0)
