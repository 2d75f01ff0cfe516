"""render.device: gpu asks Cycles for GPU devices; a machine without one renders on its CPU."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.blender


def test_gpu_scene_falls_back_to_the_cpu_without_a_gpu(tiny_plan, scenes, capfd) -> None:
    import bpy

    plan = tiny_plan(render={"device": "gpu"})
    built = scenes.get(plan, "cycles")
    prefs = bpy.context.preferences.addons["cycles"].preferences
    prefs.get_devices()
    has_gpu = any(d.type in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL") for d in prefs.devices)
    assert built.scene.cycles.device == ("GPU" if has_gpu else "CPU")
    if not has_gpu:
        assert "render.device: gpu" in capfd.readouterr().err
