"""Fixtures for the bpy.data checks: one synthetic dump and plan per session, scenes cached.

``isolate_home`` runs before bpy is imported, so Blender never touches the real $HOME.
``build`` resets Blender (read_factory_settings), so every built scene goes through
``scenes.get``, which rebuilds whenever another test replaced the Blender state.
"""

from __future__ import annotations

import pytest

from nnrender.blender.scene import BuiltScene
from nnrender.plan import ScenePlan


@pytest.fixture(scope="session")
def tiny_plan(plan_factory):
    """Factory: a plan of the synthetic dump at 96x54, 2 samples, with config overrides."""
    return plan_factory(2)


@pytest.fixture(scope="session")
def plan(tiny_plan) -> ScenePlan:
    """3 epochs, default timings and camera, labels and captions on."""
    return tiny_plan()


@pytest.fixture
def cycles_scene(plan: ScenePlan, scenes) -> BuiltScene:
    return scenes.get(plan, "cycles")


@pytest.fixture
def workbench_scene(plan: ScenePlan, scenes) -> BuiltScene:
    return scenes.get(plan, "workbench")


def _instance_counts() -> dict[str, int]:
    """Evaluated instances per layer object (``layer_<name>``), from the depsgraph."""
    import bpy

    depsgraph = bpy.context.evaluated_depsgraph_get()
    counts: dict[str, int] = {}
    for inst in depsgraph.object_instances:
        if inst.is_instance and inst.parent is not None:
            name = inst.parent.original.name
            if name.startswith("layer_"):
                counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.fixture(scope="session")
def instance_counts():  # noqa: ANN201 - a function: call it once the scene is built
    return _instance_counts
