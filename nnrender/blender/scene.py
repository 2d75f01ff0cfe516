"""The built scene: what ``build`` made, and the per-frame work Workbench needs."""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from nnrender.blender import images
from nnrender.blender.materials import WAVE_FLOOR
from nnrender.blender.mesh import box_verts
from nnrender.layout.srgb import scaled_table
from nnrender.plan import ScenePlan


@dataclass
class MovingCells:
    """A layer's boxes in the Workbench mesh: vertices offset .. offset + 8 * count."""

    layer: int
    offset: int
    count: int


@dataclass
class BuiltScene:
    scene: bpy.types.Scene
    engine: str
    layer_objects: list[bpy.types.Object] = field(default_factory=list)
    atlases: list[bpy.types.Image] = field(default_factory=list)  # one per page
    frame_images: list[bpy.types.Image] = field(default_factory=list)  # Workbench, per page
    plan: ScenePlan | None = None
    legend: list[bpy.types.Object] = field(default_factory=list)
    edge_objects: list[bpy.types.Object] = field(default_factory=list)  # curves, field
    overlay_scene: bpy.types.Scene | None = None  # captions and legend under depth of field
    moving: list[MovingCells] = field(default_factory=list)  # Workbench: animated layers
    shown: list[object] = field(default_factory=list)  # Workbench: what each page shows

    @property
    def atlas(self) -> bpy.types.Image | None:
        return self.atlases[0] if self.atlases else None

    @property
    def frame_image(self) -> bpy.types.Image | None:
        return self.frame_images[0] if self.frame_images else None

    def update_frame(self, frame: int) -> None:
        """Workbench only: refill each page's image with the epoch blend for ``frame`` and
        move the boxes of animated layers."""
        if self.plan is None or not self.frame_images:
            return
        value = float(self.plan.story.value(frame))
        lights = wave_lights(self.plan, frame)
        key = (value, None if lights is None else lights.tobytes())
        for p, image in enumerate(self.frame_images):
            if self.shown[p] != key:  # one epoch, or a hold: nothing to do
                block = self.plan.atlas.blend(value, p)
                if lights is not None:
                    darken(block, self.plan, p, lights)
                images.refill(image, block)
                self.shown[p] = key
        if self.moving:
            data = self.layer_objects[0].data
            co = np.empty(3 * len(data.vertices), dtype=np.float32)
            data.vertices.foreach_get("co", co)
            co = co.reshape(-1, 3)
            for m in self.moving:
                centers, sizes = self.plan.layers[m.layer].at(frame)
                co[m.offset:m.offset + 8 * m.count] = box_verts(centers, sizes).reshape(-1, 3)
            data.vertices.foreach_set("co", co.ravel())
            data.update()


def wave_lights(plan: ScenePlan, frame: int) -> np.ndarray | None:
    """Per plan layer how lit a forward pass leaves it at ``frame`` (the maps shader's
    maths, for Workbench); None while no wave runs."""
    front, on = plan.story.wave_values(frame)
    if not plan.story.waves or float(on) == 0.0:
        return None
    soft = plan.story.waves[0].soft
    depth = np.array([lp.depth for lp in plan.layers])
    lit = WAVE_FLOOR + (1.0 - WAVE_FLOOR) * np.clip((float(front) - depth) / soft, 0.0, 1.0)
    return 1.0 - (1.0 - lit) * float(on)


def darken(block: np.ndarray, plan: ScenePlan, page: int, lights: np.ndarray) -> None:
    """Scale each layer's tiles on ``page`` by its light (sRGB bytes, in place, through a
    256-entry table per light)."""
    for lp, light in zip(plan.layers, lights, strict=True):
        if lp.page != page or light >= 1.0:
            continue
        table = scaled_table(float(light))
        for x, y, w, h in lp.tiles:
            tile = block[y - 1:y + h + 1, x - 1:x + w + 1, :3]
            tile[:] = table[tile]
