"""The built scene: what ``build`` made, and the per-frame work Workbench needs."""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from nnrender.blender import images
from nnrender.blender.mesh import box_verts
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
    shown: list[float | None] = field(default_factory=list)  # Workbench: epoch per page

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
        value = float(self.plan.timeline.value(frame))
        for p, image in enumerate(self.frame_images):
            if self.shown[p] != value:  # one epoch, or a hold: nothing to do
                images.refill(image, self.plan.atlas.blend(value, p))
                self.shown[p] = value
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
