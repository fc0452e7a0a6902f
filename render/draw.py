"""Polylines onto the page with OpenCV: anti-aliased, sub-pixel exact (4 fractional bits)."""
from __future__ import annotations

import cv2
import numpy as np

SHIFT_BITS = 4  # cv2 fixed-point: coordinates are stored in 1/16 px
_SCALE = 1 << SHIFT_BITS


def finite_rows(points: np.ndarray) -> np.ndarray:
    """Boolean per row of an (n, 2) array: both coordinates finite. Two column tests instead of
    np.isfinite(points).all(axis=1), whose reduction over the 2-wide axis is ~20x slower (0.4 ms
    for 20k trace points, paid several times per page)."""
    return np.isfinite(points[:, 0]) & np.isfinite(points[:, 1])


def finite_runs(points_px: np.ndarray) -> list[np.ndarray]:
    """Split an (n, 2) polyline at non-finite points (signal gaps stay gaps)."""
    ok = finite_rows(points_px)
    if ok.all():
        return [points_px]
    edges = np.diff(np.r_[0, ok.astype(np.int8), 0])
    return [points_px[a:b] for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def thickness_px(width_mm: float, px_per_mm: float) -> int:
    """Odd stroke width in px (odd keeps the stroke centred on the exact sub-pixel line).

    Rounds up from 1.7 px: a 1-px anti-aliased stroke reads as much fainter than ink on paper.
    """
    return 2 * int(width_mm * px_per_mm / 2 + 0.15) + 1


def stroke_opacity(width_mm: float, px_per_mm: float) -> float:
    """Opacity of the `thickness_px` stroke: 1, except that a line under 1 px wide (a trace at a
    training-size DPI: 0.2-0.45 mm at 72 DPI is 0.57-1.27 px) drawn 1 px wide keeps its true
    ink. Full opacity there made traces ~1.3x darker than a 200-DPI page shrunk to 256 px."""
    return float(min(1.0, width_mm * px_per_mm)) if thickness_px(width_mm, px_per_mm) == 1 else 1.0


def fixed_point_runs(points_px: np.ndarray) -> list[np.ndarray]:
    """cv2 fixed-point int32 runs of a polyline (NaN gaps split it; a lone point becomes a dot)."""
    runs = [np.round(r * _SCALE).astype(np.int32) for r in finite_runs(points_px) if len(r)]
    return [r if len(r) > 1 else np.repeat(r, 2, axis=0) for r in runs]


def clip_box(box, hw) -> tuple[slice, slice, slice, slice] | None:
    """(page rows, page cols, patch rows, patch cols) of the part of an [x0, y0, x1, y1] patch
    box that lies inside an image of shape `hw`; None when none of it does."""
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, hw[1]), min(y1, hw[0])
    if cx0 >= cx1 or cy0 >= cy1:
        return None
    return slice(cy0, cy1), slice(cx0, cx1), slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0)


TILE_PX = 32  # ink is blended per run of 32 x 32 tiles that hold any: ~14 % of a 3x4 page


def ink_rectangles(coverage: np.ndarray, tile: int = TILE_PX) -> list[list[int]]:
    """Disjoint [y0, y1, x0, x1] boxes that together hold every nonzero pixel of `coverage`:
    per band of `tile` rows, each horizontal run of tiles with ink.

    Traces fill a few percent of a page; finding the ink pixels one by one (cv2.findNonZero plus a
    fancy-indexed blend) cost ~10 ms at 200 DPI, tile maxima and dense blends cost ~2 ms."""
    h, w = coverage.shape
    full_h, full_w = h // tile * tile, w // tile * tile
    bands = coverage[:full_h].reshape(h // tile, tile, w).max(axis=1)
    if full_h < h:
        bands = np.vstack([bands, coverage[full_h:].max(axis=0, keepdims=True)])
    tiles = bands[:, :full_w].reshape(len(bands), w // tile, tile).max(axis=2)
    if full_w < w:
        tiles = np.hstack([tiles, bands[:, full_w:].max(axis=1, keepdims=True)])
    edges = np.diff((tiles > 0).astype(np.int8), axis=1, prepend=0, append=0)
    starts, stops = np.argwhere(edges == 1), np.argwhere(edges == -1)  # row-major: runs pair up
    y0 = starts[:, 0] * tile
    return np.stack([y0, np.minimum(y0 + tile, h), starts[:, 1] * tile,
                     np.minimum(stops[:, 1] * tile, w)], axis=1).tolist()


def blend_ink(region: np.ndarray, cov: np.ndarray, rgb: tuple[int, int, int]) -> None:
    """In place: region = region * (1 - a) + rgb * a with a = cov / 255 (OpenCV, rounded)."""
    kept = cv2.multiply(region, cv2.cvtColor(cv2.bitwise_not(cov), cv2.COLOR_GRAY2RGB), scale=1 / 255.0)
    if any(rgb):
        ink = tuple(float(c) for c in rgb) + (0.0,)
        kept = cv2.add(kept, cv2.multiply(cv2.cvtColor(cov, cv2.COLOR_GRAY2RGB), ink, scale=1 / 255.0))
    region[:] = kept


class InkLayer:
    """Collects every trace-coloured stroke and text patch, then inks them in one pass.

    Thick anti-aliased cv2 lines cost ~15x more than 1-px ones, so strokes are drawn 1 px wide
    with LINE_AA into a coverage layer and widened by a grey dilation with an odd elliptical
    kernel (keeps the soft edges and the centre line). Text (same ink) is stamped in after the
    dilation, where it overlaps a stroke the darker coverage wins; the layer is then blended
    once into the page, tile run by tile run.
    """

    def __init__(self, hw: tuple[int, int], thickness: int, stroke_opacity: float = 1.0):
        """``stroke_opacity`` < 1 fades the strokes (not the stamped text): a 1-px stroke for a
        line whose true width is under 1 px carries that width's ink (see `stroke_opacity`)."""
        self.coverage = np.zeros(hw, np.uint8)
        self.patches: list[tuple[np.ndarray, int, int]] = []
        self.thickness = int(thickness)
        self.stroke_opacity = float(stroke_opacity)

    def add(self, points_px: np.ndarray, mask: np.ndarray | None = None) -> None:
        runs = fixed_point_runs(points_px)
        if not runs:
            return
        cv2.polylines(self.coverage, runs, False, 255, 1, cv2.LINE_AA, SHIFT_BITS)
        if mask is not None:
            cv2.polylines(mask, runs, False, 255, self.thickness, cv2.LINE_8, SHIFT_BITS)

    def stamp(self, alpha: np.ndarray, x0: int, y0: int) -> None:
        """Add an alpha patch (e.g. rendered text) with its top-left pixel at (x0, y0); it is not
        widened like the strokes, and the part outside the page is dropped."""
        self.patches.append((alpha, int(x0), int(y0)))

    def _stamp_patches(self, cov: np.ndarray) -> None:
        for alpha, x0, y0 in self.patches:
            clip = clip_box((x0, y0, x0 + alpha.shape[1], y0 + alpha.shape[0]), cov.shape)
            if clip is not None:
                rows, cols, prow, pcol = clip
                region = cov[rows, cols]
                np.maximum(region, alpha[prow, pcol], out=region)

    def blend_into(self, image: np.ndarray, rgb: tuple[int, int, int]) -> None:
        cov = self.coverage
        if self.thickness > 1:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (self.thickness, self.thickness))
            cov = cv2.dilate(cov, kernel)
        if self.stroke_opacity < 1.0:
            cov = cv2.convertScaleAbs(cov, alpha=self.stroke_opacity)  # a new array: rounded, saturating
        elif self.patches and self.thickness == 1:
            cov = cov.copy()  # add() may be called again after blending
        self._stamp_patches(cov)
        for y0, y1, x0, x1 in ink_rectangles(cov):
            blend_ink(image[y0:y1, x0:x1], cov[y0:y1, x0:x1], rgb)


def calibration_pulse_mm(right_mm: float, baseline_mm: float, gain_mm_mv: float,
                         speed_mm_s: float) -> np.ndarray:
    """1 mV x 200 ms rectangular pulse ending 1 mm left of `right_mm`, as an (6, 2) mm polyline."""
    b = right_mm - 1.0
    a = b - 0.2 * speed_mm_s
    top = baseline_mm - gain_mm_mv
    return np.array([[a - 2.0, baseline_mm], [a, baseline_mm], [a, top], [b, top], [b, baseline_mm],
                     [right_mm, baseline_mm]], np.float64)
