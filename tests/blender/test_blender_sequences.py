"""Token strips, attention maps and edges, folded blocks and token labels in bpy.data."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from mathutils import Vector

from nnrender.config.load import load_config
from nnrender.model.ir import Dump, DumpWriter, LayerInfo
from nnrender.model.synthetic import activation, vit_layers, write_synthetic
from nnrender.plan import ScenePlan, make_plan

pytestmark = pytest.mark.blender


@pytest.fixture(scope="module")
def seq_plan(tmp_path_factory: pytest.TempPathFactory) -> ScenePlan:
    layers = vit_layers(blocks=3)
    layers.append(LayerInfo("video", "ConvLSTM2D", [4, 6, 6, 3], inbound=["image"]))
    dump = write_synthetic(tmp_path_factory.mktemp("seq") / "d", layers, epochs=2,
                           with_weights=True)
    config, _ = load_config(None, {"render": {"resolution": [96, 54], "samples": 1},
                                   "layout": {"collapse": "repeats"}})
    return make_plan(Dump(dump), config)


@pytest.fixture(scope="module")
def text_plan(tmp_path_factory: pytest.TempPathFactory) -> ScenePlan:
    layers = [LayerInfo("ids", "InputLayer", [5]),
              LayerInfo("embed", "Embedding", [5, 8], inbound=["ids"])]
    ids = np.array([[1, 2, 3, 0, 0]], dtype=np.int32)
    writer = DumpWriter(tmp_path_factory.mktemp("text") / "d")
    writer.add_epoch(0, [ids.astype(np.float32), activation([5, 8], 1, 0, 1)])
    dump = writer.finish({"name": "t"}, layers, {"count": 1, "vocab": ["_", "a", "b", "c"]},
                         input_arrays={"inputs": ids})
    config, _ = load_config(None, {"render": {"resolution": [96, 54], "samples": 1}})
    return make_plan(Dump(dump), config)


def test_every_block_is_instanced_cell_by_cell(seq_plan: ScenePlan, scenes,
                                              instance_counts) -> None:
    roles = {lp.role for lp in seq_plan.layers}
    assert {"tokens", "attention", "volume", "maps", "vector"} <= roles
    scenes.get(seq_plan, "cycles")
    counts = instance_counts()
    assert counts == {f"layer_{lp.name}": len(lp.centers) for lp in seq_plan.layers}
    # the folded blocks are not in the scene at all
    assert "layer_t0_mha" in counts and "layer_t1_mha" not in counts
    attention = bpy.data.objects["layer_t0_mha/attention"]
    assert attention["nnrender_layer"] == "t0_mha/attention"


def test_attention_edges_and_the_badge(seq_plan: ScenePlan, scenes) -> None:
    scenes.get(seq_plan, "cycles")
    groups = [g for g in seq_plan.edges if g.kind == "attention"]
    assert groups
    for g in groups:
        obj = next(o for o in bpy.data.objects if o.get("nnrender_edges") == g.name)
        assert obj.type == "CURVES" and len(obj.data.curves) == g.count
        assert obj["nnrender_kind"] == "attention"
    badges = [o for o in bpy.data.objects if o.get("nnrender_label") == "badge"]
    assert [o.data.body for o in badges] == ["×3"]


def test_token_labels_read_upwards_under_their_tokens(text_plan: ScenePlan, scenes) -> None:
    scenes.get(text_plan, "cycles")
    tokens = [o for o in bpy.data.objects if o.get("nnrender_label") == "token"]
    assert [o.data.body for o in tokens] == ["a", "b", "c", "_", "_"]
    bpy.context.view_layer.update()
    for obj in tokens:
        assert obj.data.align_x == "RIGHT"
        assert obj.constraints[0].up_axis == "UP_X"
        # the text runs along local +X, which the constraint turns upwards
        up = obj.matrix_world.to_3x3() @ Vector((1, 0, 0))
        assert up.normalized().z > 0.8
