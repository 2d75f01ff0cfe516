import math

import numpy as np
import pytest

from nnrender.layout.atlas import (
    MAX_SIDE,
    AtlasPlan,
    downsample,
    fill_layer,
    plan_atlas,
)
from nnrender.layout.srgb import scaled_table
from nnrender.layout.srgb import to_linear as _to_linear
from nnrender.layout.srgb import to_srgb as _to_srgb

DEMO_SHAPES = [(1, 28, 28), (32, 28, 28), (32, 14, 14), (64, 7, 7), (120, 1, 1), (10, 1, 1)]


def _rects(layout, shapes):
    return [layout.cell_rects(i, c) for i, (c, _, _) in enumerate(shapes)]


def _check_pages(lay, shapes, max_side=MAX_SIDE):
    """Every page within max_side, every tile (with border) inside its block, no overlaps."""
    used = [np.zeros((p.block_h, p.block_w), dtype=int) for p in lay.pages]
    for i, rects in enumerate(_rects(lay, shapes)):
        page = lay.pages[lay.layer_page[i]]
        for x, y, w, h in rects:
            assert x >= 1 and y >= 1 and x + w + 1 <= page.block_w and y + h + 1 <= page.block_h
            used[lay.layer_page[i]][y - 1:y + h + 1, x - 1:x + w + 1] += 1
    for p, u in zip(lay.pages, used, strict=True):
        assert u.max() <= 1, "tiles (with their borders) overlap"
        assert p.width <= max_side and p.height <= max_side
        assert p.grid_cols * p.grid_rows >= lay.epochs


def _random_tiles(lay, shapes, rng):
    """Per epoch, per layer: random uint8 tiles of the layer's downsampled size."""
    out = []
    for _ in range(lay.epochs):
        per_layer = []
        for i, (c, _, _) in enumerate(shapes):
            tw, th = lay.tile_size[i]
            per_layer.append(rng.integers(0, 256, (c, th - 2, tw - 2, 4), dtype=np.uint8))
        out.append(per_layer)
    return out


def _old_blend(blocks, epochs, value):
    """The blend as plan.AtlasPlan did it before the pages (whole block at once)."""
    lo = int(math.floor(value))
    hi = min(lo + 1, epochs - 1)
    t = value - lo
    return _to_srgb(_to_linear(blocks[lo]) * (1 - t) + _to_linear(blocks[hi]) * t)


def test_tiles_do_not_overlap_and_fit():
    lay = plan_atlas(DEMO_SHAPES, epochs=5, max_tile=64)
    _check_pages(lay, DEMO_SHAPES)
    assert lay.grid_cols * lay.grid_rows >= 5
    assert lay.width <= MAX_SIDE and lay.height <= MAX_SIDE


def test_small_networks_get_exactly_one_page():
    for epochs in (1, 2, 9, 30):
        lay = plan_atlas(DEMO_SHAPES, epochs=epochs, max_tile=64)
        assert len(lay.pages) == 1
        assert lay.layer_page == [0] * len(DEMO_SHAPES)
        assert lay.factor == [1] * len(DEMO_SHAPES)
        # the page-0 compatibility properties
        page = lay.pages[0]
        assert (lay.block_w, lay.block_h, lay.width, lay.height) == (
            page.block_w, page.block_h, page.width, page.height)


def test_plan_is_deterministic():
    shapes = [(300, 20, 20), (64, 40, 30), (5, 3, 9)] * 4
    a = plan_atlas(shapes, 3, 64, budget_px=400_000, max_side=512)
    b = plan_atlas(shapes, 3, 64, budget_px=400_000, max_side=512)
    assert a == b


def test_huge_networks_shrink_tiles_to_fit():
    shapes = [(4096, 112, 112)] * 4
    lay = plan_atlas(shapes, epochs=4, max_tile=128)
    assert all(p.width <= MAX_SIDE and p.height <= MAX_SIDE for p in lay.pages)
    assert lay.factor[0] > 1
    assert lay.total_px <= 48_000_000


def test_networks_too_big_for_a_page_split_into_pages():
    shapes = [(40, 16, 16), (30, 16, 16), (100, 8, 8), (64, 12, 10), (200, 4, 4), (7, 1, 1)]
    lay = plan_atlas(shapes, epochs=3, max_tile=64, max_side=256)
    assert len(lay.pages) >= 2
    assert lay.factor == [1] * len(shapes), "pages, not lost resolution"
    assert sorted(set(lay.layer_page)) == list(range(len(lay.pages)))
    assert lay.layer_page == sorted(lay.layer_page), "consecutive layers share a page"
    _check_pages(lay, shapes, max_side=256)
    for page in range(len(lay.pages)):
        assert lay.layers_on(page)


def test_a_layer_too_big_for_a_page_alone_is_shrunk():
    shapes = [(4, 8, 8), (400, 32, 32), (4, 8, 8)]
    lay = plan_atlas(shapes, epochs=2, max_tile=64, max_side=256)
    assert lay.factor[1] > 1 and lay.factor[0] == lay.factor[2] == 1
    _check_pages(lay, shapes, max_side=256)


def test_budget_respected_and_the_costliest_layer_shrinks_first():
    shapes = [(8, 16, 16), (256, 64, 64), (16, 16, 16)]
    budget = 400_000
    lay = plan_atlas(shapes, epochs=2, max_tile=64, budget_px=budget)
    assert lay.total_px <= budget
    assert lay.factor[1] > 1
    assert lay.factor[0] == lay.factor[2] == 1, "small layers keep their resolution"
    # a tighter budget shrinks everything but never below 1 px
    tight = plan_atlas(shapes, epochs=2, max_tile=64, budget_px=60_000)
    assert tight.total_px <= 60_000
    assert all(tw >= 3 and th >= 3 for tw, th in tight.tile_size)
    assert tight.factor[1] >= tight.factor[0]


def test_max_tile_still_caps_the_side():
    lay = plan_atlas([(2, 100, 50)], epochs=1, max_tile=25)
    assert lay.factor == [4]
    assert lay.tile_size == [(13 + 2, 25 + 2)]


def test_impossible_atlases_raise_a_clear_error():
    with pytest.raises(ValueError, match="atlas page even at 1 px"):
        plan_atlas([(2, 4, 4), (1000, 4, 4)], epochs=1, max_tile=64, max_side=32)
    with pytest.raises(ValueError, match="budget of 1,000 px even at 1 px"):
        plan_atlas([(1000, 1, 1)], epochs=1, max_tile=64, budget_px=1000)
    with pytest.raises(ValueError):
        plan_atlas([], epochs=1, max_tile=64)


def test_fill_layer_places_tiles_with_borders():
    shapes = [(3, 2, 2)]
    lay = plan_atlas(shapes, epochs=1, max_tile=8)
    block = np.zeros((lay.block_h, lay.block_w, 4), np.uint8)
    rgba = np.arange(3 * 2 * 2 * 4, dtype=np.uint8).reshape(3, 2, 2, 4)
    fill_layer(block, lay, 0, rgba)
    for k, (x, y, w, h) in enumerate(lay.cell_rects(0, 3)):
        np.testing.assert_array_equal(block[y:y + h, x:x + w], rgba[k])
        np.testing.assert_array_equal(block[y - 1, x:x + w], rgba[k][0])  # edge copied
        np.testing.assert_array_equal(block[y + h, x:x + w], rgba[k][-1])
        np.testing.assert_array_equal(block[y:y + h, x - 1], rgba[k][:, 0])
        np.testing.assert_array_equal(block[y:y + h, x + w], rgba[k][:, -1])
        np.testing.assert_array_equal(block[y - 1, x - 1], rgba[k][0, 0])  # corner


def test_fill_layer_rejects_the_wrong_tile_size():
    lay = plan_atlas([(3, 4, 4)], epochs=1, max_tile=8)
    block = np.zeros((lay.block_h, lay.block_w, 4), np.uint8)
    with pytest.raises(ValueError, match="tiles of 2x2"):
        fill_layer(block, lay, 0, np.zeros((3, 2, 2, 4), np.uint8))


def test_fill_and_rects_round_trip_on_every_page():
    shapes = [(40, 16, 16), (30, 16, 16), (101, 8, 8), (64, 12, 10), (200, 4, 4), (7, 1, 1)]
    lay = plan_atlas(shapes, epochs=3, max_tile=64, max_side=256)
    assert len(lay.pages) >= 2
    tiles = _random_tiles(lay, shapes, np.random.default_rng(0))
    atlas = AtlasPlan.empty(lay)
    assert [b.shape for b in atlas.blocks] == [(3, p.block_h, p.block_w, 4) for p in lay.pages]
    for e in range(3):
        for i in range(len(shapes)):
            atlas.fill(e, i, tiles[e][i])
    for e in range(3):
        for i, rects in enumerate(_rects(lay, shapes)):
            block = atlas.blocks[lay.layer_page[i]][e]
            for k, (x, y, w, h) in enumerate(rects):
                np.testing.assert_array_equal(block[y:y + h, x:x + w], tiles[e][i][k])


def test_image_and_blend_per_page():
    shapes = [(40, 16, 16), (30, 16, 16), (101, 8, 8), (64, 12, 10)]
    lay = plan_atlas(shapes, epochs=3, max_tile=64, max_side=200)
    assert len(lay.pages) >= 2
    atlas = AtlasPlan.empty(lay)
    rng = np.random.default_rng(1)
    for b in atlas.blocks:
        b[...] = rng.integers(0, 256, b.shape, dtype=np.uint8)
    for page, p in enumerate(lay.pages):
        img = atlas.image(page)
        assert img.shape == (p.height, p.width, 4)
        for e in range(3):
            x, y = lay.block_origin(e, page)
            np.testing.assert_array_equal(img[y:y + p.block_h, x:x + p.block_w],
                                          atlas.blocks[page][e])
        for value in (0.0, 0.25, 1.5, 2.0, 1.999):
            np.testing.assert_array_equal(atlas.blend(value, page),
                                          _old_blend(atlas.blocks[page], 3, value))


def test_blend_in_slices_matches_the_whole_block(monkeypatch):
    import nnrender.layout.atlas as atlas_mod

    lay = plan_atlas([(50, 30, 30)], epochs=2, max_tile=64)
    atlas = AtlasPlan.empty(lay)
    atlas.blocks[0][...] = np.random.default_rng(2).integers(0, 256, atlas.blocks[0].shape,
                                                             dtype=np.uint8)
    monkeypatch.setattr(atlas_mod, "_BLEND_CHUNK_PX", 1000)  # many ragged slices
    np.testing.assert_array_equal(atlas.blend(0.4), _old_blend(atlas.blocks[0], 2, 0.4))


def test_one_epoch_image_is_a_view_not_a_copy():
    lay = plan_atlas(DEMO_SHAPES, epochs=1, max_tile=64)
    atlas = AtlasPlan.empty(lay)
    img = atlas.image()
    assert np.shares_memory(img, atlas.blocks[0])
    assert not img.flags.writeable


def test_downsample_block_mean():
    maps = np.arange(2 * 4 * 6, dtype=float).reshape(2, 4, 6)
    out = downsample(maps, 2)
    assert out.shape == (2, 2, 3)
    assert out[0, 0, 0] == np.mean(maps[0, :2, :2])
    assert downsample(np.ones((1, 5, 5)), 2).shape == (1, 3, 3)


def test_downsampled_maps_match_the_planned_tiles():
    shapes = [(3, 37, 23), (2, 224, 224)]
    lay = plan_atlas(shapes, epochs=1, max_tile=16)
    for i, (c, h, w) in enumerate(shapes):
        out = downsample(np.zeros((c, h, w)), lay.factor[i])
        tw, th = lay.tile_size[i]
        assert out.shape == (c, th - 2, tw - 2)


def test_fill_layer_takes_strided_tiles_too():
    shapes = [(7, 3, 5)]
    lay = plan_atlas(shapes, epochs=1, max_tile=8)
    rgba = np.random.default_rng(3).integers(0, 256, (7, 3, 5, 4), dtype=np.uint8)
    fast = np.zeros((lay.block_h, lay.block_w, 4), np.uint8)
    fill_layer(fast, lay, 0, rgba)  # contiguous: copied as whole pixels
    strided = np.zeros_like(fast)
    fill_layer(strided, lay, 0, np.ascontiguousarray(rgba[:, :, ::-1])[:, :, ::-1])
    np.testing.assert_array_equal(fast, strided)
    np.testing.assert_array_equal(fast[1:4, 1:6], rgba[0])


def _srgb_formula(lin: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1, in float64: linear 0..1 -> encoded 0..1."""
    lin = np.clip(np.asarray(lin, dtype=np.float64), 0, 1)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def _linear_formula(enc: np.ndarray) -> np.ndarray:
    enc = np.asarray(enc, dtype=np.float64)
    return np.where(enc <= 0.04045, enc / 12.92, ((enc + 0.055) / 1.055) ** 2.4)


def test_srgb_tables_follow_the_formula_for_every_byte():
    """The lookup tables behind the Workbench blend, against the sRGB formula itself."""
    every = np.arange(256, dtype=np.uint8)
    rgba = np.stack([every, every, every, every], axis=-1)
    lin = _to_linear(rgba)
    expected = np.repeat(_linear_formula(every / 255.0)[:, None], 3, axis=1)
    np.testing.assert_allclose(lin[:, :3], expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(lin[:, 3], every / 255.0, atol=1e-7)  # alpha stays linear
    # every byte survives the round trip; and each byte's own linear value (from the
    # formula, not the table) encodes back to it
    np.testing.assert_array_equal(_to_srgb(lin), rgba)
    exact = np.repeat(_linear_formula(every / 255.0)[:, None], 4, axis=1).astype(np.float32)
    exact[:, 3] = every / 255.0
    np.testing.assert_array_equal(_to_srgb(exact), rgba)
    # between bytes: the table's encoding is the formula's, rounded, to within one step
    grid = np.linspace(0, 1, 40_001, dtype=np.float32)
    probe = np.repeat(grid[:, None], 4, axis=1)
    want = np.rint(255 * _srgb_formula(grid))
    got = _to_srgb(probe)[:, 0].astype(np.float64)
    assert np.abs(got - want).max() <= 1
    assert (got == want).mean() > 0.99


def test_scaled_table_is_a_multiply_in_linear_light():
    """The Workbench wave's darkening table against the formulas: byte -> linear x factor
    -> byte, for every byte and a few factors (1 keeps every byte)."""
    every = np.arange(256)
    np.testing.assert_array_equal(scaled_table(1.0), every)
    for factor in (0.1, 0.37, 0.8):
        want = np.rint(255 * _srgb_formula(_linear_formula(every / 255.0) * factor))
        assert np.abs(scaled_table(factor).astype(np.float64) - want).max() <= 1


def test_blend_matches_an_independent_linear_mix():
    """``AtlasPlan.blend`` (tables, row slices) against float64 sRGB maths on its blocks."""
    shapes = [(3, 5, 7), (10, 1, 1)]
    lay = plan_atlas(shapes, epochs=3, max_tile=64)
    atlas = AtlasPlan.empty(lay)
    rng = np.random.default_rng(7)
    for e, per_layer in enumerate(_random_tiles(lay, shapes, rng)):
        for i, tiles in enumerate(per_layer):
            atlas.fill(e, i, tiles)
    blocks = atlas.blocks[0].astype(np.float64) / 255.0
    for value in (0.0, 0.25, 0.5, 1.0, 1.7, 2.0):
        lo = int(np.floor(value))
        hi = min(lo + 1, 2)
        t = value - lo
        mixed = (1 - t) * _linear_formula(blocks[lo][..., :3]) + t * _linear_formula(
            blocks[hi][..., :3])
        want = np.rint(255 * _srgb_formula(mixed))
        got = atlas.blend(value)[..., :3].astype(np.float64)
        assert np.abs(got - want).max() <= 1, value
        alpha = np.rint(255 * ((1 - t) * blocks[lo][..., 3] + t * blocks[hi][..., 3]))
        assert np.abs(atlas.blend(value)[..., 3] - alpha).max() <= 1
