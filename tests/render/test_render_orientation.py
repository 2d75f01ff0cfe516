"""Maps read like images: row 0 on top, column 0 on the left, channel 0 at the wall's top left.

A hand-made dump with a quadrant pattern in the input map and one uniform level per conv
channel is rendered; the pixels where the camera sees each quadrant and each channel's front
(-X) face must rank in brightness as the pattern says, for both shading paths: Cycles
(instances + atlas UV maths in the shader) and Workbench (realised mesh with real UVs).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from nnrender.blender.render import render_to
from nnrender.config.load import load_config
from nnrender.model.ir import Dump, DumpWriter, LayerInfo
from nnrender.plan import ScenePlan, make_plan

pytestmark = pytest.mark.render

W, H = 160, 90
# input map quadrants (rows top-down): top-left, top-right, bottom-left, bottom-right
QUADRANTS = {"tl": 1.0, "tr": 2 / 3, "bl": 0.0, "br": 1 / 3}
CHANNELS = [1.0, 2 / 3, 1 / 3, 0.0]  # conv channel k is uniformly CHANNELS[k]


@pytest.fixture(scope="module")
def pattern_plan(tmp_path_factory: pytest.TempPathFactory) -> ScenePlan:
    layers = [LayerInfo("input", "InputLayer", [8, 8, 1]),
              LayerInfo("conv", "Conv2D", [8, 8, 4], inbound=["input"])]
    img = np.empty((8, 8), dtype=np.float32)
    img[:4, :4], img[:4, 4:] = QUADRANTS["tl"], QUADRANTS["tr"]
    img[4:, :4], img[4:, 4:] = QUADRANTS["bl"], QUADRANTS["br"]
    conv = np.broadcast_to(np.array(CHANNELS, dtype=np.float32), (8, 8, 4))
    writer = DumpWriter(tmp_path_factory.mktemp("pattern") / "dump")
    writer.add_epoch(0, [img[None, :, :, None], conv[None]], metrics={})
    dump = writer.finish(model={"name": "pattern", "source": "test", "framework": "numpy"},
                         layers=layers, inputs={"count": 1, "shape": [8, 8, 1]})
    config, _ = load_config(None, {
        "render": {"resolution": [W, H], "samples": 4},
        "camera": {"azimuth": 35, "elevation": 10, "orbit": 0},
        "labels": {"show": False, "epoch_caption": False},
        "look": {"colormap": "gray", "percentiles": [0, 100]},
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_plan(Dump(dump), config)


def _sample(img: np.ndarray, scene, world: np.ndarray) -> tuple[float, float, float]:
    """(x, y) in pixels (y down) and the mean grey of a 3x3 patch where ``world`` shows."""
    p = world_to_camera_view(scene, scene.camera, Vector(world.tolist()))
    assert 0 < p.x < 1 and 0 < p.y < 1 and p.z > 0, "point outside the view"
    x, y = p.x * W, (1 - p.y) * H
    c, r = int(x), int(y)
    return x, y, float(img[r - 1:r + 2, c - 1:c + 2].mean())


def _front(center: np.ndarray, size: np.ndarray, dy: float = 0.0, dz: float = 0.0) -> np.ndarray:
    """A point on a cell's -X face, offset by fractions of its width (y) and height (z)."""
    return center + np.array([-size[0] / 2 - 1e-3, dy * size[1], dz * size[2]])


def _by_position(samples: list[tuple[float, float, float]]) -> dict[str, float]:
    """Four samples keyed by where they appear on screen: tl, tr, bl, br."""
    top = sorted(samples, key=lambda s: s[1])[:2]
    bottom = sorted(samples, key=lambda s: s[1])[2:]
    tl, tr = sorted(top, key=lambda s: s[0])
    bl, br = sorted(bottom, key=lambda s: s[0])
    return {"tl": tl[2], "tr": tr[2], "bl": bl[2], "br": br[2]}


@pytest.mark.parametrize("engine", ["cycles", "workbench"])
def test_maps_and_channels_read_like_images(engine: str, pattern_plan: ScenePlan, scenes,
                                            images, tmp_path: Path) -> None:
    built = scenes.get(pattern_plan, engine)
    scene = built.scene
    img = images.load(render_to(built, 1, tmp_path / "frame.png")).mean(axis=-1)

    inp, conv = pattern_plan.layers
    assert [lp.name for lp in pattern_plan.layers] == ["input", "conv"]
    c, s = inp.centers[0], inp.sizes[0]
    quads = [_sample(img, scene, _front(c, s, dy, dz))
             for dy in (-0.25, 0.25) for dz in (-0.25, 0.25)]
    seen = _by_position(quads)
    order = sorted(QUADRANTS, key=QUADRANTS.get)
    assert sorted(seen, key=seen.get) == order, f"{engine}: input map quadrants {seen}"
    assert seen["tl"] - seen["bl"] > 0.3

    walls = [_sample(img, scene, _front(conv.centers[k], conv.sizes[k])) for k in range(4)]
    seen = _by_position(walls)
    expected = dict(zip(["tl", "tr", "bl", "br"], CHANNELS, strict=True))
    assert sorted(seen, key=seen.get) == sorted(expected, key=expected.get), (
        f"{engine}: channel faces {seen}")
