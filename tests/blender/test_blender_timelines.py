"""The epoch fcurve and captions follow the pure timeline for odd timings and epoch subsets."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from bpy_extras import anim_utils

from nnrender.blender.build import build

pytestmark = pytest.mark.blender

CASES = {
    "one-frame-hold-and-blend": {"timeline": {"hold": 0.04, "blend": 0.04, "end_hold": 0}},
    "short": {"timeline": {"hold": 0.1, "blend": 0.1, "end_hold": 0}},
    "long-blend": {"timeline": {"hold": 0.1, "blend": 1.0, "end_hold": 0.2}},
    "two-of-three-epochs": {"epochs": [0, 2], "timeline": {"hold": 0.2, "blend": 0.3}},
    "single-epoch": {"epochs": [1], "timeline": {"hold": 0.2, "end_hold": 0.1}},
}


@pytest.mark.parametrize("case", list(CASES))
def test_epoch_curve_follows_timeline(case: str, tiny_plan, scenes) -> None:
    plan = tiny_plan(CASES[case])
    scenes.forget()
    built = build(plan, "cycles")
    scene = built.scene
    tl = plan.timeline
    assert len(plan.epochs) == tl.count == plan.atlas.layout.epochs
    assert tuple(built.atlas.size) == (plan.atlas.layout.width, plan.atlas.layout.height)

    anim = scene.animation_data
    bag = anim_utils.action_get_channelbag_for_slot(anim.action, anim.action_slot)
    curves = [fc for fc in bag.fcurves if fc.data_path == '["epoch"]']
    assert len(curves) == 1
    np.testing.assert_allclose([tuple(kp.co) for kp in curves[0].keyframe_points], tl.keys(),
                               atol=1e-6)

    caps = sorted((o for o in bpy.data.objects if o.name.startswith("nnrender_caption_")),
                  key=lambda o: o.name)
    assert [o.data.body.split()[1] for o in caps] == [str(e) for e in plan.epochs]
    frames = list(range(tl.first_frame, tl.last_frame + 1))
    values = []
    for f in frames:
        scene.frame_set(f)
        values.append(float(scene["epoch"]))
        shown = [i for i, o in enumerate(caps) if not o.hide_render]
        assert len(shown) == 1, f"frame {f}: captions {shown}"
    np.testing.assert_allclose(values, tl.value(np.array(frames)), atol=1e-4)
    assert values[-1] == pytest.approx(tl.count - 1)
    # every epoch is shown as is on its first hold frame
    for k in range(tl.count):
        scene.frame_set(tl.frame_of_epoch(k))
        assert float(scene["epoch"]) == pytest.approx(k, abs=1e-6)
