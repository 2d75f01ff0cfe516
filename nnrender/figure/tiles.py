"""Activation tiles as one matplotlib artist per layer: each tile is embedded in a PDF or SVG
as its own small image, mapped onto its box face by an affine transform and downsampled to
the output dpi first; raster output (PNG) warps it onto the pixel grid here, nearest pixel
(activations stay crisp).

One artist draws a layer's tiles through the renderer directly: an ``AxesImage`` per tile
costs about a millisecond to create, and ResNet-50 has thousands.
"""

from __future__ import annotations

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backend_bases import RendererBase
from matplotlib.transforms import Affine2D, Transform

INCH = 72.0


def fit_to(image: np.ndarray, width_px: float, height_px: float) -> np.ndarray:
    """The tile block-averaged by whole factors until it has no more pixels than
    ``width_px`` x ``height_px`` allow (it is never enlarged)."""
    h, w = image.shape[:2]
    fy = max(1, int(h // max(height_px, 1.0)))
    fx = max(1, int(w // max(width_px, 1.0)))
    if fx == 1 and fy == 1:
        return image
    h2, w2 = -(-h // fy), -(-w // fx)
    padded = np.pad(image.astype(np.float32), ((0, h2 * fy - h), (0, w2 * fx - w), (0, 0)),
                    mode="edge")
    out = padded.reshape(h2, fy, w2, fx, -1).mean(axis=(1, 3))
    return np.rint(out).astype(np.uint8)


def unit_transform(corners: np.ndarray) -> Affine2D:
    """The affine map of the unit square onto a face: (0, 0) its top-left corner (image
    row 0, column 0), (1, 0) the top-right, (0, 1) the bottom-left (matplotlib's
    convention for images drawn with a transform). ``corners``: bottom-left, bottom-right,
    top-left."""
    bl, br, tl = (np.asarray(c, dtype=np.float64) for c in corners)
    ex, ey = br - bl, bl - tl  # along a row, down the rows
    return Affine2D(np.array([[ex[0], ey[0], tl[0]], [ex[1], ey[1], tl[1]], [0, 0, 1]]))


def warp(image: np.ndarray, unit: np.ndarray) -> tuple[np.ndarray, int, int] | None:
    """The tile resampled onto device pixels by ``unit`` (3x3, the unit square to device
    pixels, y up): an RGBA patch (row 0 at the bottom), transparent outside the face, and the
    device position of its lower-left corner."""
    h, w = image.shape[:2]
    sq = np.array([[0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=np.float64)
    dev = sq @ unit.T
    x0, y0 = np.floor(dev[:, :2].min(axis=0)).astype(int)
    x1, y1 = np.ceil(dev[:, :2].max(axis=0)).astype(int)
    if x1 <= x0 or y1 <= y0:
        return None
    inv = np.linalg.inv(unit)
    ys = np.arange(y0, y1) + 0.5  # bottom row first, as Agg takes a patch at (x0, y0)
    xs = np.arange(x0, x1) + 0.5
    gx, gy = np.meshgrid(xs, ys)
    u = inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2]
    v = inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    if not inside.any():
        return None
    col = np.clip((u * w).astype(int), 0, w - 1)
    row = np.clip((v * h).astype(int), 0, h - 1)
    out = np.zeros((*gx.shape, 4), dtype=np.uint8)
    out[..., :3] = image[row, col, :3]
    out[..., 3] = np.where(inside, 255, 0)
    return out, int(x0), int(y0)


class TilesArtist(Artist):
    """A layer's tiles: ``images`` (h, w, 3) uint8 and their faces' ``corners`` (n, 3, 2):
    bottom-left, bottom-right, top-left, in the coordinates ``transform`` maps to the
    page."""

    def __init__(self, images: list[np.ndarray], corners: np.ndarray, transform: Transform,
                 **kwargs: object) -> None:
        super().__init__()
        self.set(**kwargs)
        self.images = images
        self.corners = np.asarray(corners, dtype=np.float64)
        self.set_transform(transform)

    def draw(self, renderer: RendererBase) -> None:
        if not self.get_visible() or not self.images:
            return
        renderer.open_group("tiles", self.get_gid())
        gc = renderer.new_gc()
        gc.set_alpha(1.0)
        trans = self.get_transform()
        device = trans.transform(self.corners.reshape(-1, 2)).reshape(-1, 3, 2)
        vector = renderer.option_scale_image()
        # a PDF or SVG is drawn in points, its images at the dpi asked of savefig
        dpi = float(getattr(renderer, "image_dpi", None) or self.get_figure(root=True).dpi)
        per_inch = INCH if vector else float(self.get_figure(root=True).dpi)
        for image, corners in zip(self.images, device, strict=True):
            bl, br, tl = corners
            w_in = np.linalg.norm(br - bl) / per_inch
            h_in = np.linalg.norm(tl - bl) / per_inch
            if vector:
                fitted = fit_to(image, w_in * dpi, h_in * dpi)
                renderer.draw_image(gc, 0, 0, np.ascontiguousarray(fitted),
                                    unit_transform(corners))
            else:
                made = warp(image, unit_transform(corners).get_matrix())
                if made is not None:
                    patch, x0, y0 = made
                    renderer.draw_image(gc, x0, y0, patch)
        gc.restore()
        renderer.close_group("tiles")
        self.stale = False
