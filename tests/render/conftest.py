"""Fixtures for tiny renders of a synthetic network.

``--regen-refs`` (declared in tests/conftest.py) or ``NNRENDER_REGEN_REFS=1`` rewrites the
reference images instead of comparing against them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnrender.plan import ScenePlan

REFS = Path(__file__).parent / "refs"


@pytest.fixture(scope="session")
def regen_refs(request: pytest.FixtureRequest) -> bool:
    flag = bool(request.config.getoption("--regen-refs", default=False))
    return flag or os.environ.get("NNRENDER_REGEN_REFS", "") not in ("", "0")


@dataclass
class Region:
    """A named pixel box of a frame: rows r0..r1, columns c0..c1 (ends exclusive)."""

    name: str
    box: tuple[int, int, int, int]


class Images:
    """Pixel helpers for the render tests (a fixture, so no test imports conftest)."""

    @staticmethod
    def load(path: Path) -> np.ndarray:
        """(h, w, 3) float in 0..1."""
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0

    @staticmethod
    def save(img: np.ndarray, path: Path) -> None:
        """8-bit RGB PNG without Blender's metadata, so a reference's bytes stay stable."""
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rint(img * 255).astype(np.uint8), "RGB").save(path, optimize=True)

    @staticmethod
    def srgb(lin: np.ndarray) -> np.ndarray:
        lin = np.clip(np.asarray(lin, dtype=np.float64), 0, 1)
        return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)

    @staticmethod
    def linear(s: np.ndarray) -> np.ndarray:
        return np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)

    @staticmethod
    def check_ref(img: np.ndarray, name: str, regen: bool, plan: ScenePlan | None = None,
                  frame: int | None = None, out: Path | None = None) -> None:
        """Compare with ``refs/<name>`` (or rewrite it); see ``compare`` for the limits. On a
        failure the actual, reference and difference images are written to ``out`` (the
        test's ``tmp_path``) and named in the message."""
        path = REFS / name
        if regen:
            Images.save(img, path)
            return
        if not path.is_file():
            pytest.fail(f"no reference {path}; create it with: pytest tests/render --regen-refs")
        ref = Images.load(path)
        assert img.shape == ref.shape, f"{name}: size {img.shape} vs reference {ref.shape}"
        regions = [] if plan is None else Images.regions(plan, frame, img.shape[1],
                                                          img.shape[0])
        problems = Images.compare(img, ref, regions, Images.srgb(
            plan.look.background) if plan is not None else None)
        if not problems:
            return
        where = ""
        if out is not None:
            stem = Path(name).stem
            out.mkdir(parents=True, exist_ok=True)
            Images.save(img, out / f"{stem}.actual.png")
            Images.save(ref, out / f"{stem}.reference.png")
            Images.save(Images.diff_image(img, ref, [r for r in regions
                                                     if any(r.name in p for p in problems)]),
                        out / f"{stem}.diff.png")
            where = (f"\n  actual:     {out / f'{stem}.actual.png'}"
                     f"\n  reference:  {out / f'{stem}.reference.png'}"
                     f"\n  difference: {out / f'{stem}.diff.png'} (x4, failing regions in red)")
        pytest.fail(f"{name} differs from its reference:\n  " + "\n  ".join(problems) + where
                    + "\nif the change is intended, rerun with --regen-refs", pytrace=False)

    @staticmethod
    def compare(img: np.ndarray, ref: np.ndarray, regions: list[Region] | None = None,
                background: np.ndarray | None = None) -> list[str]:
        """What differs, as lines (empty: a match). Per pixel the largest channel difference.

        Whole image: mean under 3/255, 99th percentile under 40/255, and at most 0.25% of
        the pixels off by more than 40/255 (a few noisy or edge pixels may flip, not an area).
        Each region (a layer's, label's or caption's projected box) on its own: its mean
        difference under 35% of how far the reference region is from the background (at
        least 4/255), so erasing a small thing (a caption, one label, a 10-neuron column)
        fails even where it is too small to move the whole-image figures."""
        diff = np.abs(img - ref).max(axis=-1)
        out = []
        mean, p99 = float(diff.mean()), float(np.percentile(diff, 99))
        over = int((diff > 40 / 255).sum())
        if mean >= 3 / 255:
            out.append(f"mean difference {mean * 255:.2f}/255 (limit 3)")
        if p99 >= 40 / 255:
            out.append(f"99th percentile {p99 * 255:.1f}/255 (limit 40)")
        if over > 0.0025 * diff.size:
            out.append(f"{over} pixels off by more than 40/255 (limit "
                       f"{int(0.0025 * diff.size)})")
        for region in regions or []:
            r0, r1, c0, c1 = region.box
            if r1 <= r0 or c1 <= c0:
                continue
            d = diff[r0:r1, c0:c1]
            if background is None:
                signal = 1.0
            else:
                signal = float(np.abs(ref[r0:r1, c0:c1] - background).max(axis=-1).mean())
            limit = max(4 / 255, 0.35 * signal)
            if float(d.mean()) > limit:
                out.append(f"{region.name} (rows {r0}-{r1}, columns {c0}-{c1}): mean "
                           f"difference {d.mean() * 255:.1f}/255 (limit {limit * 255:.1f})")
        return out

    @staticmethod
    def diff_image(img: np.ndarray, ref: np.ndarray, failed: list[Region]) -> np.ndarray:
        """The per-pixel difference x4 in grey, with the failing regions outlined in red."""
        d = np.clip(4 * np.abs(img - ref).max(axis=-1), 0, 1)
        out = np.repeat(d[..., None], 3, axis=-1)
        for region in failed:
            r0, r1, c0, c1 = region.box
            r1, c1 = max(r0, r1 - 1), max(c0, c1 - 1)
            out[r0, c0:c1 + 1] = out[r1, c0:c1 + 1] = (1, 0, 0)
            out[r0:r1 + 1, c0] = out[r0:r1 + 1, c1] = (1, 0, 0)
        return out

    @staticmethod
    def regions(plan: ScenePlan, frame: int | None, width: int, height: int) -> list[Region]:
        """Pixel boxes of what a frame shows, from the plan: every layer (its cells at that
        frame), every label, the caption shown at that frame and the legend."""
        from nnrender.layout.camera import basis, offset_direction
        from nnrender.layout.labels import text_extent

        tl, cam = plan.timeline, plan.camera
        frame = tl.last_frame if frame is None else frame
        span = max(tl.last_frame - tl.first_frame, 1)
        az = cam.azimuth_start + (cam.azimuth_end - cam.azimuth_start) * (
            (frame - tl.first_frame) / span)
        view = cam.view(az, width, height)

        def box(points: np.ndarray, name: str) -> Region:
            x, y, _ = view.project(points)
            cols, rows = width / 2 + x, height / 2 - y
            return Region(name, (max(0, int(np.floor(rows.min()))),
                                 min(height, int(np.ceil(rows.max())) + 1),
                                 max(0, int(np.floor(cols.min()))),
                                 min(width, int(np.ceil(cols.max())) + 1)))

        out = []
        for lp in plan.layers:
            centers, sizes = lp.at(frame)
            shown = np.any(sizes > 0, axis=1)
            if not shown.any():
                continue
            lo = (centers[shown] - sizes[shown] / 2).min(axis=0)
            hi = (centers[shown] + sizes[shown] / 2).max(axis=0)
            corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                                for z in (lo[2], hi[2])])
            out.append(box(corners, f"layer {lp.name}"))
        right, up, _ = basis(offset_direction(az, cam.elevation))
        for label in plan.labels:
            w, h = text_extent(label.text, label.size)
            p = np.asarray(label.position, dtype=np.float64)
            out.append(box(np.array([p - right * w / 2, p + right * w / 2,
                                     p - right * w / 2 + up * h, p + right * w / 2 + up * h]),
                           f"label {label.layer}"))
        # captions and legend: pinned to the screen where the plan's overlay puts them
        ov = plan.overlay
        scale = (width / 2) / ov.half_w  # pixels per overlay unit

        def screen_box(name: str, x0: float, y0: float, x1: float, y1: float) -> Region:
            """Overlay units (x right, y up from the centre) to a pixel box, 1 px margin."""
            cols = width / 2 + np.array([x0, x1]) * scale
            rows = height / 2 - np.array([y1, y0]) * scale
            return Region(name, (max(0, int(rows[0]) - 1), min(height, int(np.ceil(rows[1])) + 1),
                                 max(0, int(cols[0]) - 1), min(width, int(np.ceil(cols[1])) + 1)))

        def text_box(spot) -> tuple[float, float, float, float]:
            w, h = text_extent(spot.text, spot.size)
            x0 = {"left": spot.x, "center": spot.x - w / 2, "right": spot.x - w}[spot.align_x]
            y0 = spot.y if spot.align_y == "bottom" else spot.y - h
            return x0, y0, x0 + w, y0 + h

        for cap, spot in zip(plan.captions, ov.captions, strict=True):
            if cap.frame_start <= frame <= cap.frame_end:
                out.append(screen_box(f"caption {cap.text!r}", *text_box(spot)))
        leg = plan.legend
        if leg is not None:
            boxes = np.array([leg.bar, *(text_box(t) for t in leg.texts)])
            out.append(screen_box("legend", boxes[:, 0].min(), boxes[:, 1].min(),
                                  boxes[:, 2].max(), boxes[:, 3].max()))
        return out
    @staticmethod
    def curve_mask(plan: ScenePlan, curves: np.ndarray, width: int, height: int, grow: int,
                   azimuth: float | None = None) -> np.ndarray:
        """Pixels within ``grow`` of where polylines ``curves`` ((S, 3) or (N, S, 3)) project,
        each segment densified so the mask has no gaps."""
        cam = plan.camera
        view = cam.view(cam.azimuth_start if azimuth is None else azimuth, width, height)
        pts = np.asarray(curves, dtype=np.float64).reshape(-1, np.shape(curves)[-2], 3)
        t = np.linspace(0.0, 1.0, 64)[None, None, :, None]
        dense = (pts[:, :-1, None] * (1 - t) + pts[:, 1:, None] * t).reshape(-1, 3)
        x, y, _ = view.project(dense)
        col = np.floor(width / 2 + x).astype(int)
        row = np.floor(height / 2 - y).astype(int)
        ok = (col >= 0) & (col < width) & (row >= 0) & (row < height)
        mask = np.zeros((height, width), dtype=bool)
        mask[row[ok], col[ok]] = True
        for _ in range(grow):
            m = mask.copy()
            m[1:] |= mask[:-1]
            m[:-1] |= mask[1:]
            m[:, 1:] |= mask[:, :-1]
            m[:, :-1] |= mask[:, 1:]
            mask = m
        return mask

    @staticmethod
    def foreground(img: np.ndarray, plan: ScenePlan, tol: float = 10 / 255) -> np.ndarray:
        """Pixels that differ from the world colour (the network, its labels, captions)."""
        bg = Images.srgb(plan.look.background)
        return np.abs(img - bg).max(axis=-1) > tol


@pytest.fixture(scope="session")
def images() -> type[Images]:
    return Images


@pytest.fixture(scope="session")
def tiny_plan(plan_factory):
    """Factory: a plan of the synthetic dump at 96x54, 4 samples, with config overrides."""
    return plan_factory(4)
