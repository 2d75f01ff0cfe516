"""``nnrender.figure``: the pure parts (sizes, projection, label placement, tile maps) and the
files it writes from a synthetic dump (SVG text per label, PDF text, identical bytes)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import nnrender
from nnrender.errors import NNRenderError
from nnrender.figure import labels as labels_mod
from nnrender.figure import palette
from nnrender.figure.options import COLUMN_WIDTHS, FigureOptions, output_format, parse_width
from nnrender.figure.project import Curves, Faces, Tiles, project
from nnrender.figure.shapes import is_shapes_only, mark_shapes_only, zero_inputs
from nnrender.figure.tiles import fit_to, unit_transform, warp
from nnrender.model.ir import Dump
from nnrender.plan.types import Label

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def demo_fig(dump_path):
    return nnrender.figure(dump_path)


def test_widths_and_formats() -> None:
    assert parse_width("3.5in") == pytest.approx(3.5)
    assert parse_width("8.89cm") == pytest.approx(3.5, abs=1e-3)
    assert parse_width("88.9 mm") == pytest.approx(3.5, abs=1e-3)
    assert parse_width("252pt") == pytest.approx(3.5)
    assert parse_width("2") == 2.0
    assert FigureOptions().with_cli(columns=1).width == COLUMN_WIDTHS[1] == 3.5
    assert FigureOptions().with_cli(columns=2).width == 7.16
    for bad in ("0in", "-3cm", "wide", ""):
        with pytest.raises(NNRenderError):
            parse_width(bad)
    with pytest.raises(NNRenderError):
        FigureOptions().with_cli(columns=3)
    from pathlib import Path

    assert output_format(None, None) == "pdf"
    assert output_format(None, Path("a/fig.SVG")) == "svg"
    assert output_format("png", Path("fig.pdf")) == "png"
    with pytest.raises(NNRenderError, match="unknown format"):
        output_format("jpg", None)
    with pytest.raises(NNRenderError, match="unknown format"):
        output_format(None, Path("fig.eps"))


def test_type_colours_are_stable_and_distinct() -> None:
    types = ["InputLayer", "Conv2D", "BatchNormalization", "Conv2D", "Add", "Mystery", "Dense"]
    colours = palette.type_colors(types)
    assert list(colours) == ["InputLayer", "Conv2D", "BatchNormalization", "Add", "Mystery",
                             "Dense"]
    assert len(set(colours.values())) == len(colours)
    assert palette.type_colors(types) == colours
    assert palette.family("MaxPooling2D") == "pool" and palette.family("Mystery") == "other"


def test_tile_maps_put_row_zero_at_the_top() -> None:
    # a face 10 wide, 20 tall, lower left at (5, 5)
    corners = np.array([[5.0, 5.0], [15.0, 5.0], [5.0, 25.0]])
    t = unit_transform(corners)
    assert np.allclose(t.transform([[0, 0], [1, 0], [0, 1]]), [[5, 25], [15, 25], [5, 5]])
    img = np.zeros((2, 2, 3), np.uint8)
    img[0, 0] = 255  # top left
    patch, x0, y0 = warp(img, t.get_matrix())
    assert (x0, y0) == (5, 5) and patch.shape == (20, 10, 4)
    # Agg takes a patch with its bottom row first: the top-left pixel is in the last rows
    assert patch[-1, 0, 0] == 255 and patch[0, 0, 0] == 0 and patch[-1, -1, 0] == 0
    big = np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3)
    assert fit_to(big, 20, 20).shape == (22, 22, 3)  # block means by whole factors
    assert fit_to(big, 100, 100) is big  # never enlarged


def test_projection_paints_far_to_near(dump_path, config) -> None:
    from nnrender.plan import make_plan

    config.camera.projection = "orthographic"
    plan = make_plan(Dump(dump_path), config)
    proj = project(plan)
    depths = [it.depth for it in proj.items]
    assert depths == sorted(depths, reverse=True)
    tiles = sum(len(it.what.images) for it in proj.items if isinstance(it.what, Tiles))
    maps = sum(int(np.any(lp.sizes > 0, axis=1).sum()) for lp in plan.layers
               if lp.role == "maps")
    assert tiles >= maps - 3 * len(plan.layers)  # every map but ellipsis dots has its tile
    assert any(isinstance(it.what, Faces) for it in proj.items)
    assert any(isinstance(it.what, Curves) for it in proj.items) == bool(plan.edges)
    assert len(proj.cell_boxes) == len(proj.cell_layers) > 0
    arch = project(plan, activations=False)
    assert not any(isinstance(it.what, Tiles) for it in arch.items)
    assert arch.types[0] == plan.layers[0].type


def _measure(text: str, size: float) -> tuple[float, float]:
    lines = text.split("\n")
    return 0.6 * size * max(map(len, lines)), 1.2 * size * len(lines)


def test_labels_never_overlap_and_follow_priority() -> None:
    labels = [Label(f"layer{i}\n8×8×{i}", (float(i), 0.0, 0.0), 1.0, f"l{i}")
              for i in range(12)]
    rank = [4.0 if i in (0, 11) else 1.0 for i in range(12)]

    def to_page(world: np.ndarray) -> np.ndarray:
        return np.asarray(world)[:, :2] * 4.0  # 4 pt apart: some labels must be hidden

    placed, hidden = labels_mod.place(labels, rank, [False] * 12, to_page, np.zeros((0, 4)),
                                      [], _measure, 8.0, 7.0)
    boxes = np.array([p.box for p in placed])
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            apart = (boxes[a, 2] <= boxes[b, 0] or boxes[b, 2] <= boxes[a, 0]
                     or boxes[a, 3] <= boxes[b, 1] or boxes[b, 3] <= boxes[a, 1])
            assert apart, (placed[a].text, placed[b].text)
    assert hidden > 0 and hidden + len(placed) == 12
    shown = {p.layer for p in placed}
    assert {"l0", "l11"} <= shown  # inputs and outputs first
    forced, _ = labels_mod.place(labels, rank, [True] * 12, to_page, np.zeros((0, 4)), [],
                                 _measure, 8.0, 7.0)
    assert len(forced) == 12


def test_token_labels_shrink_to_their_pitch() -> None:
    labels = [Label(f"tok{i}", (float(i), 0.0, 0.0), 1.0, "emb", kind="token", vertical=True)
              for i in range(6)]

    def to_page(world: np.ndarray) -> np.ndarray:
        return np.asarray(world)[:, :2] * 5.0

    placed, _ = labels_mod.place(labels, [1.0] * 6, [False] * 6, to_page, np.zeros((0, 4)),
                                 [], _measure, 8.0, 7.0)
    assert len(placed) == 6 and all(p.rotation == 90 and p.size <= 0.85 * 5.0 for p in placed)


def test_svg_has_a_text_element_per_visible_label(demo_fig, tmp_path) -> None:
    path = nnrender.figure.save(demo_fig, tmp_path / "fig.svg")
    root = ET.parse(path).getroot()
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    placed = demo_fig.nnrender_labels
    assert placed
    for label in placed:
        for line in label.text.split("\n"):
            assert line in texts, line
    assert root.get("width", "").endswith("pt")
    assert float(root.get("width")[:-2]) == pytest.approx(7.16 * 72)


def test_pdf_text_holds_the_layer_names(demo_fig, tmp_path) -> None:
    from pypdf import PdfReader

    path = nnrender.figure.save(demo_fig, tmp_path / "fig.pdf")
    text = PdfReader(path).pages[0].extract_text()
    for label in demo_fig.nnrender_labels:
        assert label.text.split("\n")[0] in text
    assert "activation" in text  # the colour bar's title is text too
    data = path.read_bytes()
    assert b"/FontFile2" in data  # TrueType, embedded


def test_same_inputs_same_bytes(dump_path, tmp_path) -> None:
    for fmt in ("pdf", "svg"):
        a = nnrender.figure.save(nnrender.figure(dump_path), tmp_path / f"a.{fmt}")
        b = nnrender.figure.save(nnrender.figure(dump_path), tmp_path / f"b.{fmt}")
        assert a.read_bytes() == b.read_bytes(), fmt
        assert b"CreationDate" not in a.read_bytes()


def test_shapes_only_dump_draws_an_architecture(dump_path, tmp_path) -> None:
    import shutil

    copy = tmp_path / "shapes"
    shutil.copytree(dump_path, copy)
    mark_shapes_only(copy)
    dump = Dump(copy)
    assert is_shapes_only(dump.manifest)
    assert not np.any(dump.activations(0, 1))
    fig = nnrender.figure(copy, columns=1)
    svg = nnrender.figure.save(fig, tmp_path / "arch.svg")
    texts = ["".join(t.itertext()) for t in ET.parse(svg).getroot().iter(f"{SVG}text")]
    assert "Conv2D" in texts and "Dense" in texts  # the legend of the types
    assert fig.get_size_inches()[0] == pytest.approx(3.5)
    assert zero_inputs([[8, None]]).shape == (1, 8, 32)
    assert [x.shape for x in zero_inputs([[2], [3]])] == [(1, 2), (1, 3)]


def test_package_is_callable_and_figures_are_editable(dump_path, tmp_path) -> None:
    fig = nnrender.figure(dump_path, width="80mm", dpi=150)
    assert fig.get_size_inches()[0] == pytest.approx(80 / 25.4)
    ax = fig.axes[0]
    ax.annotate("look here", (10, 10))  # page points from the lower left
    out = nnrender.figure.save(fig, tmp_path / "fig.png")
    from PIL import Image

    with Image.open(out) as im:
        assert im.size[0] == round(80 / 25.4 * 150)
