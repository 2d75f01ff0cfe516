"""ScenePlan -> Blender scene: the orchestration, one short step per kind of thing built.

No decisions here: the plan says where and how everything looks; each module below only
translates its part (``cells``, ``edges``, ``overlay``, ``stage``, ``engine``).
"""

from __future__ import annotations

import bpy
import numpy as np

from nnrender.blender import cells, edges, images, overlay, stage
from nnrender.blender.anim import animate
from nnrender.blender.engine import configure_render
from nnrender.blender.materials import EPOCH_PROP, WAVE_ON_PROP, WAVE_PROP, emission_material
from nnrender.blender.scene import BuiltScene
from nnrender.plan import ScenePlan


def build(plan: ScenePlan, engine: str | None = None) -> BuiltScene:
    """Build the plan into a fresh scene in the current Blender session."""
    engine = engine or plan.render.engine
    bpy.ops.wm.read_factory_settings(use_empty=True)
    images.forget_files()  # the images of an earlier build are gone with it
    scene = bpy.context.scene
    scene.name = "nnrender"
    story = plan.story
    scene.frame_start = story.first_frame
    scene.frame_end = story.last_frame
    configure_render(scene, plan, engine)
    scene[EPOCH_PROP] = 0.0
    animate(scene, f'["{EPOCH_PROP}"]', story.keys, story.interpolation)
    if story.waves:
        wave_keys(plan, scene)

    built = BuiltScene(scene, engine, plan=plan)
    if engine == "workbench":
        built.layer_objects.append(cells.workbench_mesh(plan, built))
    else:
        cells.instanced_layers(plan, built)
    if plan.edges or plan.frustum is not None:
        built.edge_objects = edges.build_edges(plan, built)

    text_color = tuple(float(c) for c in plan.look.label_color)
    label_mat = emission_material("nnrender_label", text_color, 1.0)
    cam = stage.camera(plan, scene)
    overlay.labels(plan, cam, label_mat, scene.collection)
    # depth of field would blur overlays pinned to the camera: they get a scene of their own
    over = stage.overlay_scene(plan, engine, scene, cam) if plan.overlay.separate else None
    pin, collection = (over.camera, over.collection) if over is not None else (
        cam, scene.collection)
    if over is None:  # the overlay scene's own camera never moves
        pin = overlay.root(plan, pin, collection)
    if plan.captions:
        overlay.captions(plan, pin, emission_material("nnrender_caption", text_color, 1.0),
                         collection)
    built.legend = overlay.legend(plan, pin, label_mat, collection)
    overlay.inset(plan, pin, label_mat, collection)
    overlay.plates(plan, pin, collection)
    stage.lights(plan, scene)
    stage.world(plan, scene)
    stage.compositor(plan, scene, over)
    built.overlay_scene = over
    scene.frame_set(story.first_frame)
    if over is not None:  # its objects' matrices, as the main scene's are after frame_set
        over.frame_current = story.first_frame
        over.view_layers[0].update()
    return built


def wave_keys(plan: ScenePlan, scene: bpy.types.Scene) -> None:
    """The forward passes: scene["wave"] (the front, linear through each wave) and
    scene["wave_on"] (ramping to 1 over a wave's lead, 1 while it runs), read by the maps'
    and edges' shaders."""
    scene[WAVE_PROP] = 0.0
    scene[WAVE_ON_PROP] = 0.0
    # the pure values at each wave's corners: linear between them, as the plan's are
    corners = sorted({f for w in plan.story.waves
                      for f in (w.start - (w.lead or 1), w.start, w.end, w.end + 1)})
    if not corners:
        return
    front, on = plan.story.wave_values(np.array(corners, dtype=np.float64))
    animate(scene, f'["{WAVE_PROP}"]', list(zip(corners, front.tolist(), strict=True)), "LINEAR")
    animate(scene, f'["{WAVE_ON_PROP}"]', list(zip(corners, on.tolist(), strict=True)), "LINEAR")
