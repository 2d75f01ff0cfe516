"""nnrender's frame time against the scene a Blender user would build by hand (issue 16).

nnrender's machinery (Geometry Nodes instances, atlas look-ups, keyed curves and rigs) makes
animation cheap to set up; it must not make a frame slower to render than a plain scene of
the same picture: goal at most 1.1x. Child A (this script with --one) builds
scenes/demo.yaml at frame 120 with nnrender and writes to JSON the camera at that frame and
every render setting as configured; child B builds the same picture from the plan's arrays
in plain bpy (an object, image and material per map, hair curves per edge group, text,
lights, world, bloom; benchmarks/README.md has the details) and applies A's settings.

Fair: same frame, settings (persistent data too) and calls: a warm-up render of the frame
before, then twice frame_set(frame) + render + PNG, timed, with frame_set(frame - 1)
between (A's animated scene pays for a real frame change, as in a video); the best counts.
B makes nnrender's setting-like choices too (emission not sampled as light, Closest
look-ups, smooth normals); PSNR checks both show the same picture. The goal and "best" go
by process CPU time: as wall time on an idle machine, but steady on a shared one.

    python benchmarks/bench_handbuilt.py --resolution 640x360      # the final preset, smaller
    python benchmarks/bench_handbuilt.py --resolution 640x360 --rounds 2 --variants full \\
        edges maps labels,overlay bloom --keep /tmp/handbuilt   # parts left out of both
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_quality import DEFAULT_DUMPS, SCENES, demo_dump, extra, psnr, read_png  # noqa: E402
from tables import format_table  # noqa: E402

from nnrender.config.load import load_config  # noqa: E402  (pure, no bpy)
from nnrender.model.ir import Dump  # noqa: E402
from nnrender.plan import make_plan  # noqa: E402
from nnrender.runtime import isolate_home  # noqa: E402
from nnrender.timeline.epochs import keyed  # noqa: E402

GOAL_RATIO = 1.1
TIMEOUT_S = 1800.0  # a child process
best = partial(min, key=lambda r: ("error" in r, r.get("cpu_s", 0.0)))  # of child results
PARTS = ("edges", "labels", "overlay", "bloom", "maps")
OVERLAY_PREFIXES = ("nnrender_caption_", "nnrender_legend", "nnrender_inset", "nnrender_plate")
CAMERA = ("type", "lens_unit", "lens", "sensor_width", "sensor_height", "sensor_fit",
          "ortho_scale", "clip_start", "clip_end", "shift_x", "shift_y")
DOF = ("use_dof", "focus_distance", "aperture_fstop", "aperture_blades", "aperture_ratio")
HEAD = ["variant", "nnrender s", "hand s", "ratio", "cpu s A/B", "cpu ratio", "sync s A/B",
        "trace s A/B", "rest s A/B", "first s A/B", "build s A/B", "objects A (inst)",
        "objects B (inst)", "PSNR dB"]
STRUCTS = ("render", "render.image_settings", "cycles", "cycles_curves", "display_settings",
           "view_settings")  # the settings copied from A to B, in this order
bpy: Any = None  # imported in the children, after isolate_home()


def start(spec: dict[str, Any]) -> tuple[Any, Any]:
    """isolate_home, bpy, and the scene's config and plan (pure numpy)."""
    global bpy
    isolate_home()
    import bpy

    config, _ = load_config(ROOT / "scenes" / spec["scene"],
                            {"dump": spec["dump"], **spec["overrides"]}, spec["preset"])
    return config, make_plan(Dump(Path(spec["dump"])), config, spec["scene"])


def timed(render: Callable[[int, Path], Any], spec: dict[str, Any], scene: Any,
          build_s: float) -> dict[str, Any]:
    """Warm-up render of the frame before, then twice: frame_set(frame before), timed
    render of the frame, split into sync (to the first sample), trace (to Finished), rest."""
    marks: list[tuple[float, str]] = []
    bpy.app.handlers.render_stats.append(lambda s: marks.append((time.perf_counter(), s)))
    out, frame, warm = Path(spec["out"]), spec["frame"], spec["warm"]
    t0 = time.perf_counter()
    render(warm, out.with_name(out.stem + "_warm.png"))
    res: dict[str, Any] = {"first_s": time.perf_counter() - t0, "build_s": build_s, "runs": []}
    for _ in range(2):
        scene.frame_set(warm)
        marks.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        render(frame, out)
        t1, cpu = time.perf_counter(), time.process_time() - c0
        sample = next((t for t, s in marks if "| Sample" in s), t0)
        done = next((t for t, s in marks if s.endswith("| Finished")), t1)
        res["runs"].append({"frame_s": t1 - t0, "cpu_s": cpu, "sync_s": sample - t0,
                            "trace_s": done - sample, "rest_s": t1 - done})
    res.update(min(res["runs"], key=lambda r: r["cpu_s"]))
    res["objects"] = len(scene.objects)  # and the instances Cycles gets, GN ones included
    res["instances"] = sum(1 for _ in bpy.context.evaluated_depsgraph_get().object_instances)
    return res


def simple(struct: Any) -> dict[str, Any]:
    """Every writable bool/int/float/string/enum property of an RNA struct, JSON-safe."""
    keys = [p.identifier for p in struct.bl_rna.properties
            if not p.is_readonly and p.type not in ("POINTER", "COLLECTION")]
    return json.loads(json.dumps({k: getattr(struct, k) for k in keys}, default=lambda v:
                                 sorted(v) if isinstance(v, set) else list(v)))


def apply(struct: Any, values: dict[str, Any]) -> list[str]:
    """Set what ``simple`` read where it differs; returns the properties Blender refused."""
    now, refused = simple(struct), []
    for key, value in values.items():
        try:
            if key not in ("name", "filepath") and now.get(key) != value:
                setattr(struct, key, set(value) if isinstance(getattr(struct, key), set)
                        else value)
        except (AttributeError, TypeError, ValueError, KeyError):
            refused.append(key)
    return refused


def run_nnrender(spec: dict[str, Any]) -> dict[str, Any]:
    config, plan = start(spec)
    from nnrender.blender.build import build
    from nnrender.blender.render import render_to

    t0, without = time.perf_counter(), spec["without"]
    built = build(plan, config.render.engine)
    scene = built.scene
    doomed = (built.edge_objects if "edges" in without else []) + (
        built.layer_objects if "maps" in without else [])
    doomed += [o for o in scene.objects if ("labels" in without and "nnrender_label" in o)
               or ("overlay" in without and o.name.startswith(OVERLAY_PREFIXES))]
    for o in doomed:  # --variants (the demo has no overlay scene of its own)
        bpy.data.objects.remove(o, do_unlink=True)
    if "bloom" in without:
        scene.compositing_node_group, scene.render.use_compositing = None, False
    res = timed(lambda f, p: render_to(built, f, p), spec, scene, time.perf_counter() - t0)
    deps = bpy.context.evaluated_depsgraph_get()
    m, d = (cam := scene.camera.evaluated_get(deps)).matrix_world, cam.data
    camera = {"data": {k: getattr(d, k) for k in CAMERA}, "matrix": [list(r) for r in m],
              "dof": {k: getattr(d.dof, k) for k in DOF}}
    if d.dof.focus_object is not None:  # as a distance along the view
        to = d.dof.focus_object.evaluated_get(deps).matrix_world.translation
        camera["dof"]["focus_distance"] = (to - m.translation).dot(-m.col[2].xyz)
    bg = scene.world.node_tree.nodes["Background"].inputs
    res["settings"] = {name: simple(attrgetter(name)(scene)) for name in STRUCTS}
    res["settings"].update(
        frames=[scene.frame_start, scene.frame_end], epoch=float(scene.get("epoch", 0.0)),
        camera=camera, world={"color": list(scene.world.color), "background": list(
            bg["Color"].default_value), "strength": bg["Strength"].default_value})
    return res


BOX_VERTS = [(x, y, z) for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)]
BOX_FACES = [(2, 0, 1, 3), (4, 6, 7, 5), (0, 4, 5, 1), (6, 2, 3, 7), (0, 2, 6, 4), (1, 5, 7, 3)]
BOX_UV = np.tile([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], (6, 1))  # face corners


def mesh(name: str, verts: Any, faces: Any = None, uv: Any = None) -> Any:
    """A mesh; without ``faces``, one quad from ``verts`` = (x0, y0, x1, y1[, z])."""
    if faces is None:
        x0, y0, x1, y1, z = (*verts, 0.0)[:5]
        verts, faces = [(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)], [(0, 1, 2, 3)]
    me = bpy.data.meshes.new(name)
    me.from_pydata(verts, [], faces, shade_flat=False)  # smooth, as nnrender's meshes
    if uv is not None:
        me.uv_layers.new(name="UVMap").data.foreach_set("uv", np.ravel(uv).astype(np.float32))
    return me


def image(name: str, rgba: np.ndarray) -> Any:
    img = bpy.data.images.new(name, rgba.shape[1], rgba.shape[0], alpha=True)
    img.colorspace_settings.name, img.alpha_mode = "sRGB", "STRAIGHT"
    img.pixels.foreach_set((rgba[::-1].astype(np.float32) / 255.0).ravel())
    return img


def material(name: str, color: Any = (1, 1, 1), strength: float = 1.0, alpha: float = 1.0,
             img: Any = None, kind: str = "emission", smooth: bool = False) -> Any:
    """Emission of a colour or ``img`` (Closest look-ups unless ``smooth``); ``kind``
    principled: Principled, the image as base and emission colour; glow: emission over
    transparent at ``alpha``; edges: glow coloured by curve attributes edge_color, edge_alpha."""
    mat = bpy.data.materials.new(name)
    mat.cycles.emission_sampling = "NONE"  # glowing, lighting nothing: nnrender's choice
    (nt := mat.node_tree).nodes.clear()
    add, link = nt.nodes.new, nt.links.new
    if img is not None:
        tex = add("ShaderNodeTexImage")
        tex.image, tex.extension = img, "EXTEND"
        tex.interpolation = "Linear" if smooth else "Closest"
    pbr = kind == "principled"
    em = add("ShaderNodeBsdfPrincipled" if pbr else "ShaderNodeEmission")
    em.inputs["Emission Strength" if pbr else "Strength"].default_value = strength
    for socket in ("Base Color", "Emission Color") if pbr else ("Color",):
        em.inputs[socket].default_value = (color[0], color[1], color[2], 1.0)
        if img is not None:
            link(tex.outputs["Color"], em.inputs[socket])
    if pbr:
        em.inputs["Roughness"].default_value = 0.45
    shader = em.outputs[0]
    if kind in ("glow", "edges"):
        mix = add("ShaderNodeMixShader")
        link(add("ShaderNodeBsdfTransparent").outputs[0], mix.inputs[1])
        link(shader, mix.inputs[2])
        mix.inputs["Fac"].default_value, shader = alpha, mix.outputs[0]
        for attr, out, into in ((("edge_color", "Color", em.inputs["Color"]),
                                 ("edge_alpha", "Fac", mix.inputs[0])) if kind == "edges" else ()):
            node = add("ShaderNodeAttribute")
            node.attribute_name = attr
            link(node.outputs[out], into)
    link(shader, add("ShaderNodeOutputMaterial").inputs["Surface"])
    return mat


def obj(name: str, data: Any, mat: Any = None, parent: Any = None,
        location: Any = (0, 0, 0)) -> Any:
    if mat is not None:
        data.materials.append(mat)
    o = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(o)
    o.parent, o.location = parent, location
    return o


def text(name: str, spot: Any, mat: Any, parent: Any = None, location: Any = None) -> Any:
    """A text object (Blender's default font) for a plan Label or ScreenText."""
    curve = bpy.data.curves.new(name, type="FONT")
    curve.body, curve.size = spot.text, spot.size
    curve.align_x, curve.align_y = spot.align_x.upper(), spot.align_y.upper()
    return obj(name, curve, mat, parent, location)


def hair(name: str, points: np.ndarray, radius: Any, mat: Any, poly: bool = False,
         parent: Any = None) -> Any:
    """Hair curves (Catmull-Rom, or ``poly`` lines) of ``points`` (curves, S, 3)."""
    data = bpy.data.hair_curves.new(name)
    data.add_curves([points.shape[1]] * points.shape[0])
    if poly:
        data.set_types(type="POLY")
    data.position_data.foreach_set("vector", points.astype(np.float32).ravel())
    radius = np.broadcast_to(radius, points.shape[:2]).astype(np.float32).ravel()
    data.attributes.new("radius", "FLOAT", "POINT").data.foreach_set("value", radius)
    return obj(name, data, mat, parent)


def fade(frame: int, start: int, end: int, frames: int) -> float:
    """A caption's or plate's opacity at ``frame`` (0: hidden), fading over ``frames``."""
    shown = float(start <= frame <= end)
    return shown * float(np.interp(frame, [start, start + frames, end - frames, end],
                                   [0, 1, 1, 0]) if frames > 0 else 1.0)


def add_maps(plan: Any, frame: int, value: float) -> None:
    """A box per map, its image (the tile of the frame's epoch blend) and material."""
    blocks = [plan.atlas.blend(value, p) for p in range(len(plan.atlas.layout.pages))]
    for lp in plan.layers:
        centers, sizes = lp.at(frame)
        for j, (x, y, w, h) in enumerate(lp.tiles.tolist()):
            name = f"{lp.name}_{j:04d}"
            mat = material(name, strength=float(plan.look.emission), kind="principled",
                           img=image(name, blocks[lp.page][y:y + h, x:x + w]))
            obj(name, mesh(name, BOX_VERTS, BOX_FACES, BOX_UV), mat,
                location=centers[j]).scale = sizes[j]


def add_edges(plan: Any, frame: int, value: float) -> None:
    """A hair Curves object per edge group, as the frame shows it."""
    bundle = float(keyed(plan.bundle_keys, frame)) if plan.bundle_keys else float(plan.bundle)
    mats: dict[float, Any] = {}
    for g in plan.edges:
        w, present = g.weight_at(value), g.presence_at(value)
        keep = present > 0
        w, present, lo = w[keep], present[keep], min(g.min_radius, g.radius)
        alpha = np.clip(g.opacity * (g.alpha_floor + (1 - g.alpha_floor) * np.abs(w))
                        * present, 0, 1)
        rgb = np.where((w < 0)[:, None], np.asarray(g.negative), np.asarray(g.positive))
        if g.emission not in mats:
            mats[g.emission] = material(f"edges_{len(mats)}", strength=g.emission, kind="edges")
        attrs = hair(f"edges_{g.name}", g.at(bundle)[keep], (present * (
            lo + (g.radius - lo) * np.abs(w)))[:, None], mats[g.emission]).data.attributes
        attrs.new("edge_alpha", "FLOAT", "CURVE").data.foreach_set("value", alpha)
        rgba = np.concatenate([rgb, np.ones((len(w), 1))], 1).astype(np.float32)
        attrs.new("edge_color", "FLOAT_COLOR", "CURVE").data.foreach_set("color", rgba.ravel())


def add_overlay(plan: Any, frame: int, cam: Any, mat: Any, color: Any) -> None:
    """Captions, colour bar, inset and plates parented to the camera (through an empty
    that keeps them on screen while the camera zooms), at the plan's overlay depth."""
    ov, depth, pin = plan.overlay, plan.overlay.depth, cam
    if ov.root_scale is not None and plan.camera.track is not None:
        pin = obj("overlay_root", None, parent=cam)
        sx, sz = (float(np.interp(frame, plan.camera.track.frames, ov.root_scale[:, k]))
                  for k in (0, 1))
        pin.scale = (sx, sx, sz)
    spots = []  # (name, ScreenText, material)
    for i, (cap, spot) in enumerate(zip(plan.captions, ov.captions, strict=True)):
        if (a := fade(frame, cap.frame_start, cap.frame_end, cap.fade)) > 0:
            spots.append((f"caption_{i}", spot, material(f"caption_{i}", color, alpha=a,
                                                         kind="glow") if cap.fade else mat))
    if (leg := plan.legend) is not None:
        grad = image("legend", np.asarray(leg.colors, np.uint8)[None])
        obj("legend_bar", mesh("legend_bar", leg.bar, uv=[0, .5, 1, .5, 1, .5, 0, .5]),
            material("legend", img=grad, smooth=True), pin, (0, 0, -depth))
        spots += [(f"legend_text_{j}", spot, mat) for j, spot in enumerate(leg.texts)]
    if (plot := ov.inset) is not None:
        x0, y0, x1, y1 = plot.box  # the frame, open as Cycles draws nnrender's cyclic one
        box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        k = int(np.clip(frame - plot.frames[0], 0, len(plot.frames) - 1))
        half = plot.marker_size / 2
        for i, (line, c) in enumerate(zip([box, *plot.lines], [None, *plot.colors],
                                          strict=True)):
            m = mat if c is None else material(f"inset_{i}", c)
            pts = np.concatenate([line, np.full((len(line), 1), -depth)], 1)
            hair(f"inset_line_{i}", pts[None], plot.line_width / (2 if i else 4), m, True, pin)
            if c is not None:
                obj(f"inset_marker_{i}", mesh(f"inset_marker_{i}", (-half, -half, half, half)),
                    m, pin, (*plot.markers[k, i - 1], -depth * 0.999))
        spots += [(f"inset_text_{j}", spot, mat) for j, spot in enumerate(plot.texts)]
    for name, spot, m in spots:
        text(name, spot, m, pin, (spot.x, spot.y, -depth))
    for i, plate in enumerate(ov.plates):
        if (a := fade(frame, plate.frame_start, plate.frame_end, plate.fade)) > 0:
            obj(f"plate_{i}", mesh(f"plate_{i}", (*plate.box, -depth * 1.002)), material(
                f"plate_{i}", plan.look.background, alpha=plate.opacity * a, kind="glow"), pin)


def add_stage(plan: Any, settings: dict[str, Any], without: list[str]) -> Any:
    """A's camera; the plan's lights (area: size = side; point, spot: diameter) aimed at
    the target; the world; bloom as a compositor Glare node (strength <= 1 here)."""
    from mathutils import Matrix, Vector

    cs, scene = settings["camera"], bpy.context.scene
    data = bpy.data.cameras.new("camera")
    for target, values in ((data, cs["data"]), (data.dof, cs["dof"])):
        for k, v in values.items():
            setattr(target, k, v)
    scene.camera = cam = obj("camera", data)
    cam.matrix_world, target = Matrix(cs["matrix"]), Vector(plan.camera.target)
    for light in plan.lights:
        ld = bpy.data.lights.new(light.name, light.kind.upper())
        ld.energy, ld.color = light.energy, light.color
        setattr(ld, *(("size", light.size) if ld.type == "AREA" else
                      ("shadow_soft_size", light.size / 2)))
        lo = obj(light.name, ld, location=light.position)
        lo.rotation_euler = (target - Vector(light.position)).to_track_quat("-Z", "Y").to_euler()
    scene.world = bpy.data.worlds.new("world")
    scene.world.color = settings["world"]["color"][:3]
    bg = scene.world.node_tree.nodes["Background"].inputs
    bg["Color"].default_value = settings["world"]["background"]
    bg["Strength"].default_value = settings["world"]["strength"]
    if (b := plan.bloom) is not None and "bloom" not in without:
        ng = bpy.data.node_groups.new("compositor", "CompositorNodeTree")
        ng.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        rl, glare, out = (ng.nodes.new(f"{kind}") for kind in (
            "CompositorNodeRLayers", "CompositorNodeGlare", "NodeGroupOutput"))
        for k, v in (("Type", "Bloom"), ("Quality", "Medium"), ("Threshold", b.threshold),
                     ("Size", b.size), ("Strength", min(b.strength, 1.0))):
            glare.inputs[k].default_value = v
        ng.links.new(rl.outputs["Image"], glare.inputs["Image"])
        ng.links.new(glare.outputs["Image"], out.inputs[0])
        scene.compositing_node_group = ng
    return cam


def run_handbuilt(spec: dict[str, Any]) -> dict[str, Any]:
    _, plan = start(spec)
    settings = json.loads(Path(spec["settings"]).read_text(encoding="utf-8"))["settings"]
    frame, without, t0 = spec["frame"], spec["without"], time.perf_counter()
    value = float(plan.story.value(frame))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = settings["render"]["engine"]
    scene.frame_start, scene.frame_end = settings["frames"]
    cam = add_stage(plan, settings, without)
    if "maps" not in without:
        add_maps(plan, frame, value)
    if "edges" not in without:
        add_edges(plan, frame, value)
    color = tuple(float(c) for c in plan.look.label_color)
    label_mat = material("label", color)
    for i, label in enumerate(plan.labels if "labels" not in without else []):
        track = text(f"label_{i}", label, label_mat, location=label.position).constraints.new(
            "TRACK_TO")
        track.target, track.track_axis = cam, "TRACK_Z"
        track.up_axis = "UP_X" if label.vertical else "UP_Y"
    if "overlay" not in without:
        add_overlay(plan, frame, cam, label_mat, color)
    refused = [k for name in STRUCTS for k in apply(attrgetter(name)(scene), settings[name])]

    def render(f: int, path: Path) -> None:  # as render_to, without its temporary name
        scene.frame_set(f)
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)

    res = timed(render, spec, scene, time.perf_counter() - t0)
    res["notes"] = [f"settings Blender refused: {refused}"] if refused else []
    if abs(value - settings["epoch"]) > 1e-4:
        res["notes"].append(f"epoch {value:.4f}, A's scene shows {settings['epoch']:.4f}")
    return res


def spawn(spec: dict[str, Any], work: Path) -> dict[str, Any]:
    path = work / f"{Path(spec['out']).stem}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    done = path.with_suffix(".result.json")
    if proc.returncode != 0 or not done.is_file():
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        return {"error": f"exit code {proc.returncode}: {tail}"}
    return {**json.loads(done.read_text(encoding="utf-8")), "png": spec["out"],
            "result": str(done)}


def row(variant: str, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    def pair(key: str, digits: int = 2) -> str:
        return f"{a[key]:.{digits}f} / {b[key]:.{digits}f}"

    return [variant, f"{a['frame_s']:.2f}", f"{b['frame_s']:.2f}",
            f"{a['frame_s'] / b['frame_s']:.2f}", pair("cpu_s", 1),
            f"{a['cpu_s'] / b['cpu_s']:.2f}", pair("sync_s"), pair("trace_s"), pair("rest_s"),
            pair("first_s", 1), pair("build_s"), f"{a['objects']} ({a['instances']})",
            f"{b['objects']} ({b['instances']})",
            f"{psnr(read_png(Path(a['png'])), read_png(Path(b['png']))):.1f}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="final", help="quality preset (default final)")
    parser.add_argument("--resolution", help="WxH over the preset's, e.g. 640x360")
    parser.add_argument("--samples", type=int, help="samples over the preset's")
    parser.add_argument("--variants", nargs="+", default=["full"], help=f"full, or parts "
                        f"left out of both scenes, joined by commas: {', '.join(PARTS)}")
    parser.add_argument("--rounds", type=int, default=1, help="pairs run; each side's best")
    parser.add_argument("--demo-dump", type=Path, help="the real demo dump")
    parser.add_argument("--keep", type=Path, help="copy frames and results (JSON) here")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        spec = json.loads(args.one.read_text(encoding="utf-8"))
        result = run_nnrender(spec) if spec["role"] == "A" else run_handbuilt(spec)
        args.one.with_suffix(".result.json").write_text(json.dumps(result), encoding="utf-8")
        return 0
    variants = {v: [] if v == "full" else v.split(",") for v in args.variants}
    if bad := {p for v in variants.values() for p in v} - set(PARTS):
        parser.error(f"unknown parts {sorted(bad)} (known: {', '.join(PARTS)})")
    dump, what = demo_dump(args.demo_dump, DEFAULT_DUMPS)
    render: dict[str, Any] = {"samples": args.samples} if args.samples else {}
    if args.resolution:
        render["resolution"] = [int(n) for n in args.resolution.lower().split("x")]
    frame = SCENES["demo"].frame
    base = {"scene": SCENES["demo"].scene, "dump": str(dump), "frame": frame, "warm": frame - 1,
            "preset": args.preset, "overrides": {"render": render, **extra(dump)}}
    work = Path(tempfile.mkdtemp(prefix="nnrender-bench-handbuilt-"))
    rows, notes, settings, pairs = [], [], None, {}
    try:
        for name, without in variants.items():
            runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
            for r in range(args.rounds):
                print(f"{name}: round {r + 1} ...", file=sys.stderr, flush=True)
                out = str(work / f"{name.replace(',', '+')}_{r}")
                runs["A"].append(spawn({**base, "role": "A", "without": without,
                                        "out": out + "_A.png"}, work))
                if "error" not in runs["A"][-1]:
                    runs["B"].append(spawn({**base, "role": "B", "without": without, "out":
                                            out + "_B.png", "settings": runs["A"][-1]["result"]},
                                           work))
            a, b = (best(runs[k]) if runs[k] else {"error": "not run"} for k in "AB")
            if err := next((x["error"] for x in (a, b) if "error" in x), None):
                rows.append([name] + ["-"] * (len(HEAD) - 2) + ["error"])
                notes.append(f"{name}: {err}")
            else:
                rows.append(row(name, a, b))
                settings, pairs[name] = settings or a["settings"], (a, b)
                notes += [f"{name}: {n}" for n in b["notes"]]
        if args.keep is not None:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    r, c = (settings["render"], settings["cycles"]) if settings else ({}, {})
    print(f"\nnnrender vs a hand-built scene: {what}, scenes/demo.yaml frame {frame}, {args.preset}"
          f", {r.get('resolution_x')}x{r.get('resolution_y')}, {c.get('samples')} spp, denoise "
          f"{c.get('use_denoising') and c.get('denoising_quality')}; best (CPU) of 2 frame changes")
    print(format_table(HEAD, rows) + "".join(f"\n{n}" for n in notes))
    if "full" in pairs:
        (a, b), rt = pairs["full"], GOAL_RATIO
        print(f"goal nnrender <= {rt}x hand-built: {a['cpu_s'] / b['cpu_s']:.2f}x in CPU time "
              f"({a['frame_s'] / b['frame_s']:.2f}x wall): "
              f"{'PASS' if a['cpu_s'] <= rt * b['cpu_s'] else 'MISS'}")
    return 1 if any(x[-1] == "error" for x in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
