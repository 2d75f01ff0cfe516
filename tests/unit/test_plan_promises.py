"""README promises about connections and per-layer settings, checked through ``make_plan``
on a synthetic dump with weights (pure: no bpy, no TensorFlow).

- ``edges.select: weight_activation`` ranks by |w| x the source's mean activation;
- ``edges.refine: true`` tightens the bundles, nothing else;
- edges between layers on different rows of a wrapped network are left out, with a warning;
- per-layer entries in ``layout.layers`` and ``edges.layers``: later entries win.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from nnrender.config.load import load_config, per_layer
from nnrender.edges import bundle as bundle_mod
from nnrender.model.ir import Dump
from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.plan import ScenePlan, make_plan

TOP_K = 2
# weighted layer -> its inbound layer, in cnn_layers()
WEIGHTED = {"conv1": "input", "conv2": "pool1", "dense1": "flatten", "output": "dense1"}


@pytest.fixture(scope="module")
def weighted(tmp_path_factory) -> Dump:
    path = write_synthetic(tmp_path_factory.mktemp("pdump") / "dump", cnn_layers(), epochs=3,
                           count=2, with_weights=True)
    return Dump(path)


def _plan(dump: Dump, scene: Path | None = None, **sections) -> ScenePlan:
    config, _ = load_config(scene, {"render": {"resolution": [320, 180]}, **sections})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_plan(dump, config)


def _pairs(group, epoch: int) -> set[tuple[int, int]]:
    on = group.weights[:, epoch] != 0
    return set(zip(group.src_index[on].tolist(), group.dst_index[on].tolist(), strict=True))


def _top_k(scores: np.ndarray, k: int) -> set[tuple[int, int]]:
    """The k largest scores of every column, by a plain sort."""
    return {(int(s), j) for j in range(scores.shape[1])
            for s in np.argsort(-scores[:, j], kind="stable")[:k]}


def _strength(dump: Dump, epoch: int, target: str) -> np.ndarray:
    """Signed (inputs, outputs) connection strength, computed here from the kernel: the
    dense kernel itself; for a conv, sum |w| over the window with the sign of sum w."""
    kernel = dump.weights(epoch, target)[0].astype(np.float64)
    if kernel.ndim == 2:
        return kernel
    mag = np.abs(kernel).sum(axis=(0, 1))
    return np.where(kernel.sum(axis=(0, 1)) < 0, -mag, mag)


def _mean_activation(dump: Dump, epoch: int, layer: str) -> np.ndarray:
    """Mean |activation| of each of the layer's neurons/maps over inputs and pixels."""
    names = [info.name for info in dump.manifest.layers]
    act = np.abs(dump.activations(epoch, names.index(layer)).astype(np.float64))
    return act.mean(axis=tuple(range(act.ndim - 1)))


# ------------------------------------------------------------ select: weight_activation


@pytest.mark.parametrize("target", ["output", "conv2"])
def test_weight_activation_ranks_by_weight_times_source_activation(weighted: Dump,
                                                                   target: str) -> None:
    source = WEIGHTED[target]
    by_w = {g.target: g for g in _plan(weighted, edges={"top_k": TOP_K}).edges}[target]
    by_wa = {g.target: g for g in _plan(weighted, edges={
        "top_k": TOP_K, "select": "weight_activation"}).edges}[target]
    assert (by_wa.source, by_w.source) == (source, source)
    scores = []
    differ = 0
    for e in range(3):
        strength = _strength(weighted, e, target)
        score = np.abs(strength) * _mean_activation(weighted, e, source)[:, None]
        scores.append(score)
        expected_w, expected_wa = _top_k(np.abs(strength), TOP_K), _top_k(score, TOP_K)
        assert _pairs(by_w, e) == expected_w
        assert _pairs(by_wa, e) == expected_wa
        # the difference is exactly the one the activations predict
        assert _pairs(by_wa, e) - _pairs(by_w, e) == expected_wa - expected_w
        differ += len(expected_wa - expected_w)
    assert differ > 0, "the activations must change some choices for this to test anything"
    # values: sign of the weight x the score, over the largest score drawn at any epoch
    src, dst = by_wa.src_index, by_wa.dst_index
    picked = np.stack([np.where(by_wa.weights[:, e] != 0, scores[e][src, dst], 0.0)
                       for e in range(3)], axis=1)
    signs = np.stack([np.sign(_strength(weighted, e, target)[src, dst]) for e in range(3)],
                     axis=1)
    np.testing.assert_allclose(by_wa.weights, signs * picked / picked.max(), rtol=1e-4,
                               atol=1e-6)


# ------------------------------------------------------------ refine


def test_refine_changes_the_bundles_only(weighted: Dump) -> None:
    plain = _plan(weighted, edges={"top_k": TOP_K})
    refined = _plan(weighted, edges={"top_k": TOP_K, "refine": True})
    assert [g.name for g in refined.edges] == [g.name for g in plain.edges]
    assert len(plain.edges) == 4
    for a, b in zip(plain.edges, refined.edges, strict=True):
        # the same edges, weights and straight shapes
        np.testing.assert_array_equal(a.src_index, b.src_index)
        np.testing.assert_array_equal(a.dst_index, b.dst_index)
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.straight, b.straight)
        # the same endpoints, other bundled curves in between
        np.testing.assert_array_equal(b.bundled[:, 0], a.bundled[:, 0])
        np.testing.assert_array_equal(b.bundled[:, -1], a.bundled[:, -1])
        moved = np.linalg.norm(b.bundled[:, 1:-1] - a.bundled[:, 1:-1], axis=-1)
        assert moved.max() > 0.05, a.name
        # ...the library's density refinement of these very edges
        again = bundle_mod.bundle(a.straight[:, 0], a.straight[:, -1], samples=a.samples,
                                  refine=True, seed=refined.seed)
        np.testing.assert_allclose(b.bundled, again, atol=1e-4)


# ------------------------------------------------------------ wrapped rows


def _rows(plan: ScenePlan) -> dict[str, int]:
    """Row of each layer, read off the geometry: a sequential network's next row starts
    again at the left (x goes back) and sits wholly below the one before."""
    rows, row = {}, 0
    lo_z = None
    prev = None
    for lp in plan.layers:
        lo = (lp.centers - lp.sizes / 2).min(axis=0)
        hi = (lp.centers + lp.sizes / 2).max(axis=0)
        if prev is not None:
            back = lo[0] < prev[1][0]
            below = hi[2] < lo_z
            assert back == below, f"{lp.name}: x goes back {back}, wholly below {below}"
            if back:
                row += 1
                lo_z = lo[2]
        lo_z = lo[2] if lo_z is None else min(lo_z, lo[2])
        rows[lp.name] = row
        prev = (lo, hi)
    return rows


@pytest.mark.parametrize("wrap", [3, 4])
def test_edges_across_wrapped_rows_are_left_out_with_a_warning(weighted: Dump,
                                                               wrap: int) -> None:
    plan = _plan(weighted, layout={"wrap": wrap}, edges={"top_k": TOP_K})
    rows = _rows(plan)
    assert max(rows.values()) == wrap - 1
    crossing = {t for t, s in WEIGHTED.items() if rows[s] != rows[t]}
    assert crossing, "some weighted pair must cross rows for this to test anything"
    assert {g.target for g in plan.edges} == set(WEIGHTED) - crossing
    for g in plan.edges:
        assert rows[g.source] == rows[g.target], g.name
    saved = plan.to_json()["warnings"]
    for t in crossing:
        note = f"edges: {WEIGHTED[t]}->{t} not drawn: the layers sit on different rows"
        assert saved.count(note) == 1, saved
    assert sum("different rows" in w for w in saved) == len(crossing)
    # one row: every weighted pair drawn, no such warning
    line = _plan(weighted, layout={"wrap": "none"}, edges={"top_k": TOP_K})
    assert {g.target for g in line.edges} == set(WEIGHTED)
    assert not [w for w in line.warnings if "different rows" in w]


# ------------------------------------------------------------ later entries win


def _scene(tmp_path: Path, dump: Dump, body: str) -> Path:
    path = tmp_path / "scene.yaml"
    path.write_text(f"dump: {dump.path}\n{body}", encoding="utf-8")
    return path


def _shown(plan: ScenePlan) -> dict[str, int]:
    return {lp.name: int((lp.sources >= 0).sum()) for lp in plan.layers}


@pytest.mark.parametrize(("body", "conv1", "conv2"), [
    ('layout:\n  layers:\n    "conv*": {show: 2}\n    conv1: {show: 3}\n', 3, 2),
    ('layout:\n  layers:\n    conv1: {show: 3}\n    "conv*": {show: 2}\n', 2, 2),
])
def test_layout_layers_later_entries_win(weighted: Dump, tmp_path: Path, body: str,
                                         conv1: int, conv2: int) -> None:
    plan = _plan(weighted, _scene(tmp_path, weighted, body))
    shown = _shown(plan)
    assert (shown["conv1"], shown["conv2"]) == (conv1, conv2)
    assert shown["pool1"] == 16 and shown["dense1"] == 64  # other layers untouched


@pytest.mark.parametrize(("body", "conv1", "conv2"), [
    ('edges:\n  top_k: 2\n  layers:\n    "conv*": {top_k: 1}\n    conv2: {top_k: 3}\n', 1, 3),
    ('edges:\n  top_k: 2\n  layers:\n    conv2: {top_k: 3}\n    "conv*": {top_k: 1}\n', 1, 1),
])
def test_edges_layers_later_entries_win(weighted: Dump, tmp_path: Path, body: str,
                                        conv1: int, conv2: int) -> None:
    plan = _plan(weighted, _scene(tmp_path, weighted, body))
    per_epoch = {g.target: (g.weights != 0).sum(axis=0).tolist() for g in plan.edges}
    # conv1 has 16 maps fed by 1 input map, conv2 32 maps fed by 16; top_k per target
    assert per_epoch["conv1"] == [min(conv1, 1) * 16] * 3
    assert per_epoch["conv2"] == [conv2 * 32] * 3
    assert per_epoch["output"] == [2 * 10] * 3  # no entry: the section's top_k


def test_per_layer_merges_keys_of_every_matching_entry(weighted: Dump, tmp_path: Path) -> None:
    """Later entries win key by key: a key only an earlier entry sets is kept."""
    scene = _scene(tmp_path, weighted, 'layout:\n  layers:\n'
                   '    "conv*": {show: 2, colormap: magma}\n'
                   '    conv1: {show: 3}\n'
                   '    "*1": {colormap: gray}\n')
    config, _ = load_config(scene)
    names = [info.name for info in weighted.manifest.layers]
    merged = dict(zip(names, per_layer(config.layout.layers, names, "layout.layers", scene),
                      strict=True))
    assert merged["conv1"] == {"show": 3, "colormap": "gray"}
    assert merged["conv2"] == {"show": 2, "colormap": "magma"}
    assert merged["pool1"] == merged["dense1"] == {"colormap": "gray"}
    assert merged["input"] == merged["output"] == {}
