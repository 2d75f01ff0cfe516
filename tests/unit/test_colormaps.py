import numpy as np

from nnrender import colormaps


def test_luts_are_256_rgb_and_monotone_in_lightness():
    for name in colormaps.NAMES:
        lut = colormaps.lut(name)
        assert lut.shape == (256, 3) and lut.dtype == np.uint8
    v = colormaps.lut("viridis").astype(float)
    lum = v @ [0.2126, 0.7152, 0.0722]
    assert np.all(np.diff(lum) > -1.0)
    assert tuple(v[0].astype(int)) == (68, 1, 84)  # viridis starts dark purple


def test_apply_clips():
    out = colormaps.apply("gray", np.array([-1.0, 0.0, 0.5, 1.0, 2.0]))
    assert out[0].tolist() == out[1].tolist() == [0, 0, 0]
    assert out[-1].tolist() == out[-2].tolist() == [255, 255, 255]
