"""Inputs for a dump (pure numpy + Pillow): images resized, converted and scaled for the
model, .npy arrays with or without a batch axis, sklearn digits; bad files are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnrender.errors import ModelError
from nnrender.model.inputs import load_inputs

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402


def _one_line(exc: pytest.ExceptionInfo[ModelError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.startswith("nnrender: error: ")
    return text


@pytest.fixture
def rgb_png(tmp_path: Path) -> Path:
    """A 20x10 (W x H) image: left half pure red, right half pure blue."""
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :10, 0] = 255
    arr[:, 10:, 2] = 255
    path = tmp_path / "rb.png"
    Image.fromarray(arr).save(path)
    return path


def test_image_resized_and_scaled(rgb_png: Path, tmp_path: Path) -> None:
    x = load_inputs([rgb_png], [5, 10, 3])
    assert x.shape == (1, 5, 10, 3) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    np.testing.assert_allclose(x[0, :, 0], [[1, 0, 0]] * 5, atol=1e-6)  # still red on the left
    np.testing.assert_allclose(x[0, :, -1], [[0, 0, 1]] * 5, atol=1e-6)
    np.testing.assert_allclose(load_inputs([rgb_png], [5, 10, 3], scale="-1-1"), x * 2 - 1,
                               atol=1e-6)
    np.testing.assert_allclose(load_inputs([rgb_png], [5, 10, 3], scale="0-255"), x * 255,
                               atol=1e-4)
    caffe = load_inputs([rgb_png], [5, 10, 3], scale="imagenet-caffe")
    np.testing.assert_allclose(caffe[0, 0, 0], [-103.939, -116.779, 255 - 123.68], atol=1e-3)
    # same size: untouched pixels; JPEG works too; two files make a batch of two
    jpg = tmp_path / "rb.jpg"
    Image.open(rgb_png).save(jpg, quality=95)
    both = load_inputs([rgb_png, jpg], [None, None, 3])
    assert both.shape == (2, 10, 20, 3)
    assert np.abs(both[1] - both[0]).mean() < 0.05  # JPEG blurs the colour edge only


def test_grey_and_channel_conversion(rgb_png: Path, tmp_path: Path) -> None:
    grey = load_inputs([rgb_png], [10, 20, 1])
    assert grey.shape == (1, 10, 20, 1)
    # Pillow's L = 0.299 R + 0.587 G + 0.114 B
    assert grey[0, 0, 0, 0] == pytest.approx(76 / 255, abs=1e-6)
    assert grey[0, 0, -1, 0] == pytest.approx(29 / 255, abs=1e-6)
    no_axis = load_inputs([rgb_png], [10, 20])
    assert no_axis.shape == (1, 10, 20)
    # a grey image fed to an RGB model: three equal channels
    gpath = tmp_path / "g.png"
    Image.fromarray(np.full((4, 4), 128, np.uint8)).save(gpath)
    rgb = load_inputs([gpath], [4, 4, 3])
    np.testing.assert_allclose(rgb[0], 128 / 255, atol=1e-6)
    with pytest.raises(ModelError) as exc:
        load_inputs([gpath], [4, 4, 4])
    text = _one_line(exc)
    assert str(gpath) in text and "4 channels" in text
    with pytest.raises(ModelError) as exc:
        load_inputs([gpath], [16])
    assert str(gpath) in _one_line(exc)


def test_resize_modes(tmp_path: Path) -> None:
    arr = np.zeros((10, 20), np.uint8)
    arr[:, 5:15] = 255  # white centre square, black sides
    path = tmp_path / "wide.png"
    Image.fromarray(arr).save(path)
    crop = load_inputs([path], [10, 10, 1], resize="crop")
    np.testing.assert_allclose(crop, 1.0, atol=1e-6)  # the centre square only
    fit = load_inputs([path], [10, 10, 1], resize="fit")
    assert fit[0, :2].max() == 0 and fit[0, -2:].max() == 0  # letterbox bars
    stretch = load_inputs([path], [10, 10, 1])
    assert stretch[0, 5, 0, 0] == 0 and stretch[0, 5, 5, 0] > 0.9
    with pytest.raises(ModelError):
        load_inputs([path], [10, 10, 1], resize="zoom")
    with pytest.raises(ModelError):
        load_inputs([path], [10, 10, 1], scale="0-2")


def test_npy_with_and_without_batch(tmp_path: Path) -> None:
    one = tmp_path / "one.npy"
    np.save(one, np.ones((6, 6, 1), np.float32))
    many = tmp_path / "many.npy"
    np.save(many, np.zeros((3, 6, 6), np.float64))  # no channel axis
    x = load_inputs([one, many], [6, 6, 1])
    assert x.shape == (4, 6, 6, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], 1.0)
    np.testing.assert_array_equal(x[1:], 0.0)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 5, 5, 1)))
    with pytest.raises(ModelError) as exc:
        load_inputs([wrong], [6, 6, 1])
    text = _one_line(exc)
    assert str(wrong) in text and "(2, 5, 5, 1)" in text and "(N, 6, 6, 1)" in text


def test_bad_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    bad_npy = tmp_path / "bad.npy"
    bad_npy.write_bytes(b"not numpy")
    truncated = tmp_path / "cut.jpg"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "full.jpg")
    truncated.write_bytes((tmp_path / "full.jpg").read_bytes()[:100])
    for path in (missing, corrupt, text_file, bad_npy, truncated, tmp_path / "no.npy"):
        with pytest.raises(ModelError) as exc:
            load_inputs([path], [8, 8, 1])
        assert str(path) in _one_line(exc)
    with pytest.raises(ModelError):
        load_inputs([], [8, 8, 1])


def test_digits(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    ref = load_digits().images[:3] / 16.0
    x = load_inputs(["digits:3"], [8, 8, 1])
    assert x.shape == (3, 8, 8, 1)
    np.testing.assert_allclose(x[..., 0], ref, atol=1e-6)
    assert load_inputs(["digits:2"], [8, 8]).shape == (2, 8, 8)
    flat = load_inputs(["digits:2"], [64])
    np.testing.assert_allclose(flat, ref[:2].reshape(2, 64), atol=1e-6)
    big = load_inputs(["digits:2"], [16, 16, 3], scale="-1-1")
    assert big.shape == (2, 16, 16, 3) and big.min() >= -1 and big.max() <= 1
    np.testing.assert_array_equal(big[..., 0], big[..., 2])
    npy = tmp_path / "a.npy"
    np.save(npy, np.zeros((8, 8)))
    assert load_inputs([npy, "digits:1"], [8, 8, 1]).shape == (2, 8, 8, 1)
    for spec in ("digits:0", "digits:x", "digits:5000"):
        with pytest.raises(ModelError) as exc:
            load_inputs([spec], [8, 8, 1])
        assert spec in _one_line(exc)
    with pytest.raises(ModelError):
        load_inputs(["digits:2"], [10])
