"""Render engines and their settings: resolution, colour, samples, devices, per-engine
speed choices (each measured on this project's scenes; see the comments)."""

from __future__ import annotations

import sys

import bpy

from nnrender.blender.names import DENOISE_QUALITY, ENGINES
from nnrender.plan import ScenePlan


def configure_render(scene: bpy.types.Scene, plan: ScenePlan, engine: str) -> None:
    r = plan.render
    transparent = bool(plan.look.transparent)
    scene.render.engine = ENGINES[engine]
    scene.render.resolution_x, scene.render.resolution_y = r.resolution
    scene.render.resolution_percentage = 100
    scene.render.fps = r.fps
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA" if transparent else "RGB"
    scene.render.image_settings.color_depth = "8"
    scene.render.use_file_extension = False
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.film_transparent = transparent
    scene.render.use_persistent_data = True
    # no wall-clock values in the PNG metadata: same inputs, same files
    scene.render.use_stamp_date = False
    scene.render.use_stamp_time = False
    scene.render.use_stamp_render_time = False
    # Eevee and Workbench draw hair curves (the receptive field's outline) as 1-pixel lines
    # by default ("STRAND"): strips take their width from the curve radius, as Cycles does
    scene.render.hair_type = "STRIP"
    if engine == "cycles":
        _cycles(scene, plan)
    elif engine == "eevee":
        ee = scene.eevee
        ee.taa_render_samples = r.samples
        # EEVEE (5.0) on software GL: virtual shadow maps cost ~3x the frame (320x180, 8
        # samples: 13 s with, 3.7 s without) and change the picture by < 0.3/255 on average
        # (the maps glow, the walls are thin); no ray tracing: nothing here is mirror-like
        ee.use_shadows = False
        ee.use_raytracing = False
        ee.use_fast_gi = False
    else:
        shading = scene.display.shading
        shading.light = "FLAT"
        shading.color_type = "TEXTURE"
        shading.use_dof = plan.camera.fstop is not None
        scene.display.render_aa = "8" if r.samples >= 8 else "FXAA"


def _cycles(scene: bpy.types.Scene, plan: ScenePlan) -> None:
    r = plan.render
    cy = scene.cycles
    cy.device = "GPU" if r.device == "gpu" and gpu_devices() else "CPU"
    cy.samples = r.samples
    # measured by benchmarks/bench_quality.py (README there): adaptive sampling saves
    # nothing at the presets' 8-16 samples (only the flat background converges early, and
    # it costs little); the light tree added 20-100% to a frame for < 0.3 dB (the maps glow
    # but light nothing)
    cy.use_adaptive_sampling = False
    cy.use_light_tree = False
    cy.caustics_reflective = False
    cy.caustics_refractive = False
    cy.seed = plan.seed
    cy.max_bounces = r.max_bounces
    cy.use_denoising = r.denoise != "off"
    if cy.use_denoising:
        cy.denoiser = "OPENIMAGEDENOISE"
        cy.denoising_quality = DENOISE_QUALITY[r.denoise]
    # AUTO even for a farm's local chunks sharing the cores: one thread each made a
    # 2-worker LocalCluster on 2 cores 20% slower than both oversubscribed (bench_farm)
    scene.render.threads_mode = "AUTO"
    # edges (hair curves): camera-facing ribbons; round 3D tubes ("THICK") cost ~1.5x the
    # frame (640x360, 16 spp, 5k curves, a lit shader: 6.8 s vs 10-11 s; 3.5 s without
    # edges) and look the same at a few pixels wide. Translucent edges pile up in
    # bundles: 16 transparent hits (8 by default) cost nothing measurable and keep dense
    # spots from going dark
    scene.cycles_curves.shape = "RIBBONS"
    if plan.edges or plan.frustum is not None:
        cy.transparent_max_bounces = max(cy.transparent_max_bounces, 16)


def overlay_settings(over: bpy.types.Scene, main: bpy.types.Scene, plan: ScenePlan,
                     engine: str) -> None:
    """The overlay scene's engine settings: emission seen straight from the camera, so no
    bounces, nothing to denoise, and enough samples for smooth text edges (a full-frame
    pass costs ~0.35 s per sample at 1080p)."""
    configure_render(over, plan, engine)
    over.render.film_transparent = True
    over.render.image_settings.color_mode = "RGBA"
    over.render.use_compositing = False
    over.compositing_node_group = None
    samples = plan.overlay.samples
    if engine == "cycles":
        # a new scene's default pattern (blue noise) places few samples differently from the
        # factory scene's: keep the main one, so the text looks as it does without the overlay
        over.cycles.sampling_pattern = main.cycles.sampling_pattern
        over.cycles.use_denoising = False
        over.cycles.max_bounces = 0
        over.cycles.samples = min(over.cycles.samples, samples)
    elif engine == "eevee":
        over.eevee.taa_render_samples = min(over.eevee.taa_render_samples, samples)
    elif engine == "workbench":
        over.display.shading.use_dof = False


def gpu_devices() -> bool:
    """Turn on this machine's Cycles GPU devices (OptiX first); False, with a warning, when
    it has none (a farm's GPU scene then still renders on the CPU)."""
    prefs = bpy.context.preferences.addons["cycles"].preferences
    for kind in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
        try:
            prefs.compute_device_type = kind
        except TypeError:  # not built into this Blender
            continue
        prefs.get_devices()
        found = [d for d in prefs.devices if d.type == kind]
        if found:
            for d in prefs.devices:
                d.use = d.type == kind
            return True
    print("nnrender: warning: render.device: gpu, but Cycles finds no GPU here: rendering "
          "on the CPU", file=sys.stderr)
    return False
