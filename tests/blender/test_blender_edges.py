"""Connections in the built scene: one hair Curves object per edge group, its Geometry Nodes
mix of straight/bundled points by the keyed Bundle input and of per-epoch weights by the keyed
Epoch input, checked on the evaluated curves against the plan's own numpy model
(``EdgeGroup.at``, ``EdgeGroup.weight_at``, ``EpochTimeline.value``, ``keyed``); and the
receptive-field frustum mesh and outline.
"""

from __future__ import annotations

import dataclasses

import bpy
import numpy as np
import pytest

from nnrender.blender import edges as edges_mod
from nnrender.blender.build import build
from nnrender.blender.nodes import socket_id
from nnrender.blender.scene import BuiltScene
from nnrender.edges.groups import EdgeGroup, FieldPlan
from nnrender.plan import ScenePlan
from nnrender.plan.dressing import field_look
from nnrender.timeline.epochs import keyed

pytestmark = pytest.mark.blender

SAMPLES = 8
BUNDLE_KEYS = [(1.0, 0.0), (20.0, 1.0), (40.0, 0.5)]  # frames 1: 0, 20: 1, >= 40: 0.5


# ------------------------------------------------------------------ synthetic plan data


def _group(plan: ScenePlan, source: str, target: str, n: int, seed: int,
           positive=(1.0, 0.45, 0.12), negative=(0.15, 0.45, 1.0)) -> EdgeGroup:
    """Edges between random cell centres of two layers: straight lines, and a stand-in
    bundling that pulls every inner point towards the middle of the group."""
    layers = {lp.name: lp for lp in plan.layers}
    a, b = layers[source].centers, layers[target].centers
    rng = np.random.default_rng(seed)
    p0 = a[rng.integers(0, len(a), n)].astype(np.float32)
    p1 = b[rng.integers(0, len(b), n)].astype(np.float32)
    t = np.linspace(0.0, 1.0, SAMPLES, dtype=np.float32)[None, :, None]
    straight = p0[:, None] + t * (p1 - p0)[:, None]
    middle = (p0.mean(axis=0) + p1.mean(axis=0)) / 2
    pull = 4 * t * (1 - t)  # 0 at both ends: endpoints stay put
    bundled = straight + pull * (middle - (p0 + p1)[:, None] / 2)
    epochs = plan.timeline.count
    w = rng.uniform(-1, 1, (n, epochs)).astype(np.float32)
    w[::4, 0] = 0.0  # absent at epoch 0, there at epoch 1
    w[1::5, 1] = 0.0  # there at epoch 0, absent at epoch 1
    w[2] = 0.0  # never drawn
    return EdgeGroup(f"{source}->{target}", "dense", source, target,
                     straight.astype(np.float32), bundled.astype(np.float32), w,
                     radius=0.05, min_radius=0.01, opacity=0.8, positive=positive,
                     negative=negative)


def _field(plan: ScenePlan) -> FieldPlan:
    """Two frustum segments: a cell's -X face on conv2 -> pool1 -> conv1, the rectangle
    shrinking towards the output side."""
    layers = {lp.name: lp for lp in plan.layers}
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)

    def rect(name: str, scale: float) -> np.ndarray:
        lp = layers[name]
        c, s = lp.centers[0], lp.sizes[0]
        out = np.repeat(c[None], 4, axis=0).astype(np.float64)
        out[:, 0] -= s[0] / 2
        out[:, 1] += corners[:, 0] * s[1] / 2 * scale
        out[:, 2] += corners[:, 1] * s[2] / 2 * scale
        return out

    quads = np.array([[rect("conv2", 0.3), rect("pool1", 0.6)],
                      [rect("pool1", 0.6), rect("conv1", 1.0)]], dtype=np.float32)
    return FieldPlan("conv2", 0, (1, 1), quads, [("conv2", "pool1"), ("pool1", "conv1")],
                     [(0, 1, 0, 1), (0, 3, 0, 3)], (1.0, 0.85, 0.35), 0.25)


@pytest.fixture(scope="module")
def edge_plan(plan: ScenePlan) -> ScenePlan:
    groups = [_group(plan, "conv2", "pool2", 60, 0),
              _group(plan, "dense1", "output", 40, 1, positive=(0.9, 0.1, 0.1))]
    # the field's looks (outline radius, emission) are the plan's, as make_plan sets them
    return dataclasses.replace(plan, edges=groups,
                               frustum=field_look(_field(plan), plan.look, plan.camera),
                               bundle=0.25, bundle_keys=BUNDLE_KEYS)


@pytest.fixture
def edge_scene(edge_plan: ScenePlan, scenes) -> BuiltScene:
    return scenes.get(edge_plan, "cycles")


# ------------------------------------------------------------------ reading bpy


def _edge_objects(built: BuiltScene) -> list[bpy.types.Object]:
    return [o for o in built.edge_objects if "nnrender_edges" in o]


def _by_group(built: BuiltScene, group: EdgeGroup) -> bpy.types.Object:
    return next(o for o in _edge_objects(built) if o["nnrender_edges"] == group.name)


def _read(collection, key: str, n: int, width: int = 1, dtype=np.float32) -> np.ndarray:
    out = np.empty(n * width, dtype=dtype)
    collection.foreach_get(key, out)
    return out.reshape(n, width) if width > 1 else out


def _evaluated(built: BuiltScene, obj: bpy.types.Object, frame: int) -> dict[str, np.ndarray]:
    built.scene.frame_set(frame)
    data = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    n, p = len(data.curves), len(data.points)
    return {
        "curves": n,
        "points": p,
        "position": _read(data.position_data, "vector", p, 3),
        "weight": _read(data.attributes[edges_mod.WEIGHT_ATTR].data, "value", n)
        if n else np.zeros(0),
        "radius": _read(data.attributes["radius"].data, "value", p) if p else np.zeros(0),
    }


def _input(obj: bpy.types.Object, name: str) -> float:
    mod = obj.modifiers["edges"]
    return float(mod[socket_id(mod.node_group, name)])


def _mid_blend(plan: ScenePlan) -> int:
    tl = plan.timeline
    return tl.frame_of_epoch(0) + tl.hold_frames - 1 + (tl.blend_frames + 1) // 2


# ------------------------------------------------------------------ the curves data


def test_one_curves_object_per_group(edge_scene: BuiltScene, edge_plan: ScenePlan) -> None:
    objs = _edge_objects(edge_scene)
    assert len(objs) == len(edge_plan.edges)
    assert all(o.type == "CURVES" for o in objs)
    for group in edge_plan.edges:
        obj = _by_group(edge_scene, group)
        assert obj.name == f"edges_{group.name}"
        assert obj["nnrender_kind"] == group.kind
        assert obj.name in edge_scene.scene.collection.objects
        data = obj.data
        assert isinstance(data, bpy.types.Curves)
        assert len(data.curves) == group.count
        assert len(data.points) == group.count * group.samples
        offsets = _read(data.curve_offset_data, "value", group.count + 1, dtype=np.int32)
        np.testing.assert_array_equal(offsets, np.arange(group.count + 1) * group.samples)
        domains = {a.name: (a.domain, a.data_type) for a in data.attributes}
        assert domains["straight"] == ("POINT", "FLOAT_VECTOR")
        assert domains["bundled"] == ("POINT", "FLOAT_VECTOR")
        n = group.count * group.samples
        np.testing.assert_array_equal(_read(data.attributes["straight"].data, "vector", n, 3),
                                      group.straight.reshape(-1, 3))
        np.testing.assert_array_equal(_read(data.attributes["bundled"].data, "vector", n, 3),
                                      group.bundled.reshape(-1, 3))
        for e in range(group.weights.shape[1]):
            assert domains[f"w_{e}"] == ("CURVE", "FLOAT")
            np.testing.assert_array_equal(
                _read(data.attributes[f"w_{e}"].data, "value", group.count),
                group.weights[:, e])


def test_groups_share_one_node_group_per_epoch_count(edge_scene: BuiltScene,
                                                     edge_plan: ScenePlan) -> None:
    groups = {o.modifiers["edges"].node_group for o in _edge_objects(edge_scene)}
    assert len(groups) == 1
    ng = groups.pop()
    assert ng.name == f"nnrender_edges_e{edge_plan.timeline.count}"
    names = {i.name for i in ng.interface.items_tree if i.item_type == "SOCKET"
             and i.in_out == "INPUT"}
    assert {"Epoch", "Bundle", "Radius", "Min Radius"} <= names
    for group in edge_plan.edges:
        obj = _by_group(edge_scene, group)
        assert _input(obj, "Radius") == pytest.approx(group.radius)
        assert _input(obj, "Min Radius") == pytest.approx(group.min_radius)


def test_positions_mix_straight_and_bundled_by_the_keyed_bundle(
        edge_scene: BuiltScene, edge_plan: ScenePlan) -> None:
    group = edge_plan.edges[0]
    obj = _by_group(edge_scene, group)
    s = group.samples
    for frame in (1, 10, 20, 30, 60):
        strength = float(keyed(BUNDLE_KEYS, frame))
        ev = _evaluated(edge_scene, obj, frame)
        assert _input(obj, "Bundle") == pytest.approx(strength, abs=1e-5)
        w = group.weight_at(float(edge_plan.timeline.value(frame)))
        kept = np.abs(w) > 0
        pos = ev["position"].reshape(-1, s, 3)
        assert len(pos) == kept.sum()
        np.testing.assert_allclose(pos, group.at(strength)[kept], atol=1e-5)
        # the ends never move
        np.testing.assert_allclose(pos[:, [0, -1]], group.straight[kept][:, [0, -1]],
                                   atol=1e-5)
    # the three plain strengths, exactly
    for frame, strength in ((1, 0.0), (20, 1.0), (60, 0.5)):
        ev = _evaluated(edge_scene, obj, frame)
        kept = np.abs(group.weight_at(float(edge_plan.timeline.value(frame)))) > 0
        ref = {0.0: group.straight, 1.0: group.bundled}.get(
            strength, (group.straight + group.bundled) / 2)
        np.testing.assert_allclose(ev["position"].reshape(-1, s, 3), ref[kept], atol=1e-5)


def test_weights_and_radius_follow_the_epochs(edge_scene: BuiltScene,
                                              edge_plan: ScenePlan) -> None:
    tl = edge_plan.timeline
    frames = [tl.frame_of_epoch(0), tl.frame_of_epoch(1), _mid_blend(edge_plan),
              tl.frame_of_epoch(2), tl.last_frame]
    value = float(tl.value(_mid_blend(edge_plan)))
    assert 0.2 < value < 0.8, "the mid-blend frame blends"
    for group in edge_plan.edges:
        obj = _by_group(edge_scene, group)
        for frame in frames:
            epoch = float(tl.value(frame))
            ev = _evaluated(edge_scene, obj, frame)
            assert _input(obj, "Epoch") == pytest.approx(epoch, abs=1e-4)
            w = group.weight_at(epoch)
            present = group.presence_at(epoch)
            kept = present > 0
            # a curve not drawn at either neighbouring epoch is not drawn at all
            assert ev["curves"] == kept.sum()
            assert ev["points"] == kept.sum() * group.samples
            np.testing.assert_allclose(ev["weight"], w[kept], atol=1e-4)
            radius = (group.min_radius + (group.radius - group.min_radius)
                      * np.abs(w[kept])) * present[kept]
            np.testing.assert_allclose(ev["radius"].reshape(-1, group.samples),
                                       np.repeat(radius[:, None], group.samples, axis=1),
                                       rtol=1e-4, atol=1e-6)
            # at an epoch every drawn curve is at least min_radius; between epochs a
            # leaving one thins out towards 0
            if float(epoch).is_integer():
                assert np.all(ev["radius"] >= group.min_radius * (1 - 1e-5))
    # epoch 0 hides the curves that appear at epoch 1, and the other way round
    group = edge_plan.edges[0]
    obj = _by_group(edge_scene, group)
    n0 = _evaluated(edge_scene, obj, tl.frame_of_epoch(0))["curves"]
    n1 = _evaluated(edge_scene, obj, tl.frame_of_epoch(1))["curves"]
    assert n0 == (group.weights[:, 0] != 0).sum() < group.count
    assert n1 == (group.weights[:, 1] != 0).sum() < group.count


def test_epoch_keys_match_the_scene_epoch(edge_scene: BuiltScene,
                                          edge_plan: ScenePlan) -> None:
    scene = edge_scene.scene
    obj = _edge_objects(edge_scene)[0]
    for frame in range(edge_plan.timeline.first_frame, edge_plan.timeline.last_frame + 1, 3):
        scene.frame_set(frame)
        assert _input(obj, "Epoch") == pytest.approx(float(scene["epoch"]), abs=1e-6)


def test_static_bundle_without_keys(edge_plan: ScenePlan, scenes) -> None:
    plan = dataclasses.replace(edge_plan, bundle=0.4, bundle_keys=[], frustum=None)
    built = scenes.get(plan, "cycles")
    group = plan.edges[1]
    obj = _by_group(built, group)
    anim = obj.animation_data
    assert anim is not None and anim.action is not None
    paths = {fc.data_path for bag in (s.channelbags for s in anim.action.layers[0].strips)
             for b in bag for fc in b.fcurves}
    ng = obj.modifiers["edges"].node_group
    assert f'modifiers["edges"]["{socket_id(ng, "Epoch")}"]' in paths
    assert f'modifiers["edges"]["{socket_id(ng, "Bundle")}"]' not in paths, (
        "no bundle fcurve without bundle keys")
    for frame in (1, 50):
        ev = _evaluated(built, obj, frame)
        assert _input(obj, "Bundle") == pytest.approx(0.4)
        kept = np.abs(group.weight_at(float(plan.timeline.value(frame)))) > 0
        np.testing.assert_allclose(ev["position"].reshape(-1, group.samples, 3),
                                   group.at(0.4)[kept], atol=1e-5)
    assert built.scene.objects.get(edges_mod.FIELD_NAME) is None


def test_materials_colour_by_sign_and_fade_with_weight(edge_scene: BuiltScene,
                                                       edge_plan: ScenePlan) -> None:
    scene = edge_scene.scene
    assert scene.cycles_curves.shape == "RIBBONS"
    assert scene.cycles.transparent_max_bounces >= 16
    assert scene.render.hair_type == "STRIP"
    mats = []
    for group in edge_plan.edges:
        obj = _by_group(edge_scene, group)
        assert len(obj.data.materials) == 2
        mat = obj.data.materials[0]
        assert obj.data.materials[1] == mat, "the shader picks the colour: one material"
        mats.append(mat)
        nodes = mat.node_tree.nodes
        attrs = [n for n in nodes if n.bl_idname == "ShaderNodeAttribute"]
        assert sorted((a.attribute_type, a.attribute_name) for a in attrs) == [
            ("GEOMETRY", edges_mod.PRESENT_ATTR), ("GEOMETRY", edges_mod.WEIGHT_ATTR)]
        assert any(n.bl_idname == "ShaderNodeBsdfTransparent" for n in nodes)
        assert any(n.bl_idname == "ShaderNodeEmission" for n in nodes)
        picks = [n for n in nodes if n.bl_idname == "ShaderNodeMix"]
        colors = {tuple(round(c, 5) for c in s.default_value[:3]) for p in picks
                  for s in p.inputs if s.identifier in ("A_Color", "B_Color")}
        assert colors == {tuple(round(c, 5) for c in group.positive),
                          tuple(round(c, 5) for c in group.negative)}
        assert mat.cycles.emission_sampling == "NONE"
    assert mats[0] != mats[1], "different colours, different materials"


# ------------------------------------------------------------------ receptive field


def test_field_mesh_is_the_frustum_sides(edge_scene: BuiltScene, edge_plan: ScenePlan) -> None:
    field = edge_plan.frustum
    assert field is not None
    segments = len(field.quads)
    obj = edge_scene.scene.objects[edges_mod.FIELD_NAME]
    assert obj in edge_scene.edge_objects
    mesh = obj.data
    assert len(mesh.polygons) == 4 * segments
    co = _read(mesh.vertices, "co", len(mesh.vertices), 3)
    np.testing.assert_allclose(co, field.quads.reshape(-1, 3), atol=1e-6)
    corners = field.quads.reshape(segments, 8, 3)
    for i, poly in enumerate(mesh.polygons):
        seg = i // 4
        verts = co[list(poly.vertices)]
        # every side joins two neighbouring corners of one end to the same two of the other
        ends = [np.flatnonzero(np.all(np.isclose(corners[seg], v, atol=1e-6), axis=1))[0]
                for v in verts]
        near, far = sorted(e for e in ends if e < 4), sorted(e - 4 for e in ends if e >= 4)
        assert near == far and len(near) == 2
        assert (near[1] - near[0]) in (1, 3)
    mat = mesh.materials[0]
    assert tuple(mat.diffuse_color[:3]) == pytest.approx(field.color)
    assert mat.diffuse_color[3] == pytest.approx(field.opacity)

    lines = edge_scene.scene.objects[edges_mod.FIELD_LINES]
    data = lines.data
    assert lines.type == "CURVES"
    assert len(data.curves) == 6 * segments  # 4 corner lines + 2 rectangles a segment
    assert len(data.points) == 18 * segments  # rectangles closed by their first corner
    assert "cyclic" not in data.attributes  # Cycles ignores it on hair curves
    pts_all = _read(data.position_data, "vector", len(data.points), 3)
    for c in data.curves:
        if c.points_length == 5:
            first = c.first_point_index
            np.testing.assert_array_equal(pts_all[first], pts_all[first + 4])
    kinds = _read(data.attributes["curve_type"].data, "value", len(data.curves), dtype=np.int8)
    assert set(kinds.tolist()) == {1}, "poly lines (0 = Catmull-Rom would round corners)"
    pts = _read(data.position_data, "vector", len(data.points), 3)
    assert np.isin(pts.round(5), field.quads.reshape(-1, 3).round(5)).all()
    radius = _read(data.attributes["radius"].data, "value", len(data.points))
    side = np.linalg.norm(field.quads[0, 0, 1] - field.quads[0, 0, 0])
    assert 0 < radius.max() < 0.2 * side


# ------------------------------------------------------------------ Workbench, determinism


def _tubes(built: BuiltScene, obj: bpy.types.Object, frame: int) -> bpy.types.Mesh:
    """The mesh the As Mesh branch makes of ``obj``'s curves (an instance of its geometry)."""
    built.scene.frame_set(frame)
    dg = bpy.context.evaluated_depsgraph_get()
    return next(inst.object.data for inst in dg.object_instances
                if inst.is_instance and inst.object.type == "MESH"
                and inst.parent.original == obj)


@pytest.mark.parametrize("engine", ["workbench", "eevee"])
def test_eevee_and_workbench_get_tubes_with_a_material_per_sign(engine, edge_plan: ScenePlan,
                                                                scenes) -> None:
    built = scenes.get(edge_plan, engine)
    tl = edge_plan.timeline
    objs = _edge_objects(built)
    assert len(objs) == len(edge_plan.edges)
    for group in edge_plan.edges:
        obj = _by_group(built, group)
        mats = list(obj.data.materials)
        if engine == "workbench":  # plain colours, the first for w > 0
            assert [tuple(m.diffuse_color[:3]) for m in mats] == [
                pytest.approx(group.positive), pytest.approx(group.negative)]
            assert all(m.diffuse_color[3] == 1.0 for m in mats)
        else:
            assert mats[0] == mats[1] and mats[0].use_backface_culling
        for frame in (tl.frame_of_epoch(0), _mid_blend(edge_plan)):
            w = group.weight_at(float(tl.value(frame)))
            kept = w[np.abs(w) > 0]
            mesh = _tubes(built, obj, frame)
            # 3 vertices around every control point, 3 quads along every segment
            assert len(mesh.vertices) == 3 * group.samples * len(kept)
            assert len(mesh.polygons) == 3 * (group.samples - 1) * len(kept)
            index = _read(mesh.polygons, "material_index", len(mesh.polygons), dtype=np.int32)
            np.testing.assert_array_equal(index, np.repeat(kept < 0, 3 * (group.samples - 1)))
            weight = _read(mesh.attributes[edges_mod.WEIGHT_ATTR].data, "value",
                           len(mesh.vertices))
            np.testing.assert_allclose(weight, np.repeat(kept, 3 * group.samples), atol=1e-4)


def test_same_plan_same_scene(edge_plan: ScenePlan, scenes) -> None:
    def snapshot() -> list:
        built = build(edge_plan, "cycles")
        out = []
        for obj in built.edge_objects:
            out.append(obj.name)
            data = obj.data
            if isinstance(data, bpy.types.Curves):
                for attr in sorted(data.attributes, key=lambda a: a.name):
                    key = "vector" if attr.data_type == "FLOAT_VECTOR" else "value"
                    width = 3 if key == "vector" else 1
                    n = len(attr.data)
                    dtype = bool if attr.data_type == "BOOLEAN" else np.float32
                    out.append((attr.name, _read(attr.data, key, n, width, dtype).tobytes()))
        return out

    first = snapshot()
    scenes.forget()
    assert snapshot() == first
    scenes.forget()


# ------------------------------------------------------------------ a real plan


def test_a_planned_network_has_its_curves_in_bpy_data(tmp_path_factory, scenes) -> None:
    """The whole path: a dump with weights -> plan -> bpy.data; every curve the plan holds
    (the demo's conv and dense connections) is in a Curves block, and at the last frame the
    evaluated curves are exactly the ones with a weight at the last epoch."""
    import warnings

    from nnrender.config.load import load_config
    from nnrender.model.ir import Dump
    from nnrender.model.synthetic import cnn_layers, write_synthetic
    from nnrender.plan import make_plan

    path = write_synthetic(tmp_path_factory.mktemp("wdump") / "dump", cnn_layers(), epochs=3,
                           with_weights=True)
    config, _ = load_config(None, {"render": {"resolution": [96, 54]}, "edges": {"top_k": 2}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = make_plan(Dump(path), config)
    built = scenes.get(plan, "cycles")
    objs = _edge_objects(built)
    assert sorted(o["nnrender_edges"] for o in objs) == sorted(g.name for g in plan.edges)
    assert sum(len(o.data.curves) for o in objs) == sum(g.count for g in plan.edges) > 100
    last = plan.timeline.last_frame
    for group in plan.edges:
        ev = _evaluated(built, _by_group(built, group), last)
        assert len(ev["weight"]) == int(np.count_nonzero(group.weights[:, -1]))
