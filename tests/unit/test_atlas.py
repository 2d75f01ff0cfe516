import numpy as np

from nnrender.layout.atlas import MAX_SIDE, downsample, fill_layer, plan_atlas


def _rects(layout, shapes):
    return [layout.cell_rects(i, c) for i, (c, _, _) in enumerate(shapes)]


def test_tiles_do_not_overlap_and_fit():
    shapes = [(1, 28, 28), (32, 28, 28), (32, 14, 14), (64, 7, 7), (120, 1, 1), (10, 1, 1)]
    lay = plan_atlas(shapes, epochs=5, max_tile=64)
    used = np.zeros((lay.block_h, lay.block_w), dtype=int)
    for rects in _rects(lay, shapes):
        for x, y, w, h in rects:
            assert x >= 1 and y >= 1 and x + w + 1 <= lay.block_w and y + h + 1 <= lay.block_h
            used[y - 1:y + h + 1, x - 1:x + w + 1] += 1
    assert used.max() == 1, "tiles (with their borders) overlap"
    assert lay.grid_cols * lay.grid_rows >= 5
    assert lay.width <= MAX_SIDE and lay.height <= MAX_SIDE


def test_huge_networks_shrink_tiles_to_fit():
    shapes = [(4096, 112, 112)] * 4
    lay = plan_atlas(shapes, epochs=4, max_tile=128)
    assert lay.width <= MAX_SIDE and lay.height <= MAX_SIDE
    assert lay.factor[0] > 1


def test_fill_layer_places_tiles_with_borders():
    shapes = [(3, 2, 2)]
    lay = plan_atlas(shapes, epochs=1, max_tile=8)
    block = np.zeros((lay.block_h, lay.block_w, 4), np.uint8)
    rgba = np.arange(3 * 2 * 2 * 4, dtype=np.uint8).reshape(3, 2, 2, 4)
    fill_layer(block, lay, 0, rgba)
    for k, (x, y, w, h) in enumerate(lay.cell_rects(0, 3)):
        np.testing.assert_array_equal(block[y:y + h, x:x + w], rgba[k])
        np.testing.assert_array_equal(block[y - 1, x:x + w], rgba[k][0])  # edge copied


def test_downsample_block_mean():
    maps = np.arange(2 * 4 * 6, dtype=float).reshape(2, 4, 6)
    out = downsample(maps, 2)
    assert out.shape == (2, 2, 3)
    assert out[0, 0, 0] == np.mean(maps[0, :2, :2])
    assert downsample(np.ones((1, 5, 5)), 2).shape == (1, 3, 3)
