"""Dump + config -> ScenePlan: everything a view of the scene needs, as plain data (no bpy).

The plan is the Kubric-style scene description: Blender (``nnrender.blender``) only
translates it. ``make.py`` runs the stages; ``types.py`` holds the data.
"""

from nnrender.layout.atlas import AtlasPlan
from nnrender.plan.make import make_plan
from nnrender.plan.paint import normalisation
from nnrender.plan.types import (
    PLAN_VERSION,
    Bloom,
    CameraPlan,
    Caption,
    Label,
    LayerPlan,
    Legend,
    Light,
    Overlay,
    ScenePlan,
    ScreenText,
)

__all__ = ["PLAN_VERSION", "AtlasPlan", "Bloom", "CameraPlan", "Caption", "Label", "LayerPlan",
           "Legend", "Light", "Overlay", "ScenePlan", "ScreenText", "make_plan",
           "normalisation"]
