"""Storyboards rendered tiny: the forward-pass wave darkens what it has not reached, a
push-in fills the frame with one map, and every output format decodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnrender.blender.render import render_to
from nnrender.config.load import load_config, parse_set
from nnrender.model.ir import Dump
from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.output.encode import encode_gif, probe_mp4
from nnrender.pipeline import RenderRequest, run_render
from nnrender.plan import ScenePlan, make_plan

pytestmark = pytest.mark.render

W, H = 160, 90


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("rstory") / "d", cnn_layers(), epochs=2,
                           count=2, with_weights=True)


@pytest.fixture(scope="module")
def story_plan(dump: Path) -> ScenePlan:
    config, _ = load_config(None, {
        "render": {"resolution": [W, H], "samples": 4, "denoise": "off"},
        "camera": {"orbit": 0}, "labels": {"show": False, "epoch_caption": False},
        "look": {"legend": False, "glow": 0.0}, "edges": {"show": False},
        "shots": [{"duration": 1.0, "epochs": "last"},
                  {"move": "push", "layer": "conv2", "map": 5, "duration": 1.0}],
        "forward": [{"at": 0.0, "duration": 0.9}]})
    return make_plan(Dump(dump), config)


def _region(plan: ScenePlan, name: str, frame: int) -> np.ndarray:
    """Pixels inside the projected box of a layer at a frame."""
    lp = next(lp for lp in plan.layers if lp.name == name)
    target, az, el, dist, ortho = plan.camera.track.at(frame)
    from nnrender.layout.camera import View

    view = View(target, dist, az, el, plan.camera.lens, W, H, ortho or None)
    lo = (lp.centers - lp.sizes / 2).min(axis=0)
    hi = (lp.centers + lp.sizes / 2).max(axis=0)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                        for z in (lo[2], hi[2])])
    px, py, _ = view.project(corners)
    cols, rows = W / 2 + px, H / 2 - py
    mask = np.zeros((H, W), bool)
    mask[max(0, int(rows.min())):int(np.ceil(rows.max())),
         max(0, int(cols.min())):int(np.ceil(cols.max()))] = True
    return mask


def test_the_wave_lights_layers_as_it_reaches_them(story_plan: ScenePlan, scenes, images,
                                                   tmp_path: Path) -> None:
    built = scenes.get(story_plan, "cycles")
    (wave,) = story_plan.story.waves
    output = next(lp for lp in story_plan.layers if lp.name == "output")
    before = max(f for f in range(wave.start, wave.end)  # the front just short of it
                 if wave.front(f) < output.depth - wave.soft)
    after = wave.end + 1
    a = images.load(render_to(built, before, tmp_path / "a.png"))
    b = images.load(render_to(built, after, tmp_path / "b.png"))
    # the output column's own pixels: in its box and lit once the wave has passed
    mask = _region(story_plan, "output", before) & images.foreground(b, story_plan, 0.12)
    assert mask.sum() > 4
    assert a[mask].mean() < 0.6 * b[mask].mean(), "dark until the wave arrives"
    first = _region(story_plan, "input", before)
    assert a[first].mean() > 0.8 * b[first].mean(), "the input is lit already"


def test_a_push_in_fills_the_frame_with_one_map(story_plan: ScenePlan, scenes, images,
                                                tmp_path: Path) -> None:
    built = scenes.get(story_plan, "cycles")
    end = story_plan.story.shots[1].end
    img = images.load(render_to(built, end, tmp_path / "push.png"))
    conv2 = next(lp for lp in story_plan.layers if lp.name == "conv2")
    cell = int(np.nonzero(conv2.sources == 5)[0][0])
    x, y, w, h = conv2.tiles[cell]
    slot = len(story_plan.story.states) - 1
    tile = story_plan.atlas.blocks[conv2.page][slot][y:y + h, x:x + w, :3] / 255.0
    palette = tile.reshape(-1, 3)
    # every pixel's nearest colour in the map's own tile, lit the way the maps are lit
    dist = np.abs(img.reshape(-1, 1, 3) - palette[None]).max(axis=-1).min(axis=1)
    close = (dist < 0.2).reshape(H, W)
    assert close.mean() > 0.6, f"{close.mean():.2f} of the frame shows map 5 of conv2"


def test_every_format_decodes(dump: Path, tmp_path: Path) -> None:
    sets = ["render.resolution=[64,36]", "render.samples=1", "timeline.hold=0.1",
            "timeline.blend=0.1", "timeline.end_hold=0", "output.name=story",
            "output.formats=[mp4,gif,webm,mov]", "output.gif_width=48", "render.fps=12"]
    config, base = load_config(None, {"dump": str(dump), **parse_set(sets)}, "draft")
    result = run_render(config, base, RenderRequest(out_dir=tmp_path / "out", progress=False))
    frames = result.plan.story.frame_count
    assert [p.name for p in result.videos] == ["story.mp4", "story.gif", "story.webm",
                                               "story.mov"]
    assert result.video == result.videos[0]
    from PIL import Image

    with Image.open(result.videos[1]) as gif:  # GIF delays are centiseconds: count frames
        assert gif.n_frames == frames and gif.size[0] == 48  # 12 fps: under gif_fps (15)
    half = encode_gif(result.frames_dir, 1, frames, 12, tmp_path / "half.gif", 96, gif_fps=6)
    with Image.open(half) as gif:  # every other frame, never wider than the frames
        assert abs(gif.n_frames - frames / 2) <= 1 and gif.size[0] == 64
    webm = probe_mp4(result.videos[2])
    assert webm["fps"] == pytest.approx(12) and webm["frames"] == frames
    mov = probe_mp4(result.videos[3])
    assert (mov["width"], mov["height"], mov["frames"]) == (64, 36, frames)
    assert result.videos[1].read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    assert result.videos[2].read_bytes()[:4] == b"\x1aE\xdf\xa3"  # EBML (Matroska/WebM)
