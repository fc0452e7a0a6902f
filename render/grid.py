"""The ECG grid raster (1 mm minor, 5 mm major), built from separable 1-D coverage and cached.

Hand-written rather than drawn line by line with OpenCV: a page has ~500 grid lines, and the grid
is separable, so exact anti-aliased coverage per pixel row/column plus one broadcast composite is
both faster and exact at any DPI. Pages with the same geometry and colours reuse the cached raster.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .paper import GRID_COLORS

MINOR_WIDTH_MM = 0.08
MAJOR_WIDTH_MM = 0.18
DOT_MINOR_MM = 0.30
DOT_MAJOR_MM = 0.50
THERMAL_DOT_MM = 0.22   # thermal paper: small 1 mm dots between thin solid 5 mm lines
THERMAL_MAJOR_MM = 0.12
MIN_LINE_PX = 0.7  # keep the grid visible at 72 DPI (spread to this width, with its ink kept)


def _coverage(n_px: int, origin_px: float, period_px: float, width_px: float, lo_px: float,
              hi_px: float, every: int = 1) -> np.ndarray:
    """Fraction of each pixel (centred on its index) covered by lines at origin + k*period.

    Only lines with k % every == 0 inside [lo_px, hi_px] count; a pixel sees its nearest line.
    """
    idx = np.arange(n_px, dtype=np.float64)
    step = period_px * every
    k = np.round((idx - origin_px) / step)
    centre = origin_px + k * step
    drawn = max(width_px, MIN_LINE_PX)
    half = drawn / 2
    cov = np.minimum(idx + 0.5, centre + half) - np.maximum(idx - 0.5, centre - half)
    # a line thinner than MIN_LINE_PX is spread to it at proportionally lower coverage, so it
    # carries the ink of its true width: at training sizes (72-100 DPI) the full-darkness spread
    # made the grid ~2x darker than a 200-DPI page area-shrunk to the same size (mean grey 231.5
    # vs 240.8 on a classic 3x4+1R page at 256 px), which is what a shrunk real scan looks like
    cov = np.clip(cov, 0.0, 1.0) * (width_px / drawn)
    cov[(centre < lo_px - 1e-6) | (centre > hi_px + 1e-6)] = 0.0
    return cov.astype(np.float32)


LEVELS = 16  # anti-aliasing levels per grid layer; plenty for 0.1-0.2 mm lines


def _darker(paper_rgb, rgb, contrast: float) -> tuple[int, int, int]:
    """A grid colour with its darkness against the paper scaled by `contrast` (clipped)."""
    return tuple(int(np.clip(round(p - (p - c) * contrast), 0, 255)) for p, c in zip(paper_rgb, rgb))


@lru_cache(maxsize=16)
def _colour_luts(paper_rgb, minor_rgb, major_rgb) -> tuple[np.ndarray, ...]:
    """Per channel: 256-entry LUT from (minor level * 16 + major level) to the composited colour."""
    a_minor = (np.arange(256) // LEVELS) / (LEVELS - 1)
    a_major = (np.arange(256) % LEVELS) / (LEVELS - 1)
    luts = []
    for paper, minor, major in zip(paper_rgb, minor_rgb, major_rgb):
        under = paper + (minor - paper) * a_minor
        luts.append(np.clip(under + (major - under) * a_major + 0.5, 0, 255).astype(np.uint8))
    return tuple(luts)


def _axis_levels(n_px: int, px_per_mm: float, lo_px: float, hi_px: float, width_mm: float,
                 every: int) -> np.ndarray:
    """Quantised coverage (0..LEVELS-1, uint8) along one axis of one grid layer."""
    cov = _coverage(n_px, lo_px, px_per_mm, width_mm * px_per_mm, lo_px, hi_px, every)
    return np.round(cov * (LEVELS - 1)).astype(np.uint8)


def _layer(qy: np.ndarray, inside_y: np.ndarray, qx: np.ndarray, inside_x: np.ndarray, style: str) -> np.ndarray:
    """One grid layer (minor: every=1, major: every=5) at the given rows: its value at (y, x)
    depends only on (qy, inside_y) of the row and (qx, inside_x) of the column."""
    if style == "lines":
        vertical = qx[None, :] * inside_y.astype(np.uint8)[:, None]  # x-lines, only rows in the box
        horizontal = qy[:, None] * inside_x.astype(np.uint8)[None, :]
        return np.maximum(vertical, horizontal)
    dots = np.multiply.outer(qy.astype(np.uint16), qx.astype(np.uint16)) // (LEVELS - 1)
    return dots.astype(np.uint8)


def _layer_widths(style: str, minor_line_mm: float) -> tuple[tuple[float, str], tuple[float, str]]:
    """(width mm, drawing style) of the minor and the major layer."""
    if style == "thermal":
        return (THERMAL_DOT_MM, "dots"), (THERMAL_MAJOR_MM, "lines")
    if style == "lines":
        return (minor_line_mm, "lines"), (MAJOR_WIDTH_MM, "lines")
    return (DOT_MINOR_MM, style), (DOT_MAJOR_MM, style)


def grid_levels(height_px: int, width_px: int, px_per_mm: float, box_px, style: str, minor_line_mm: float,
                rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(minor, major) coverage levels of the grid at the page rows `rows` (default: every row)."""
    left, top, right, bottom = box_px
    rows = np.arange(height_px) if rows is None else np.asarray(rows)
    inside_x = (np.arange(width_px) >= left - 1) & (np.arange(width_px) <= right + 1)
    inside_y = ((rows >= top - 1) & (rows <= bottom + 1))
    layers = []
    for (width_mm, kind), every in zip(_layer_widths(style, minor_line_mm), (1, 5)):
        qx = _axis_levels(width_px, px_per_mm, left, right, width_mm, every)
        qy = _axis_levels(height_px, px_per_mm, top, bottom, width_mm, every)[rows]
        layers.append(_layer(qy, inside_y, qx, inside_x, kind))
    return layers[0], layers[1]


def distinct_rows(height_px: int, px_per_mm: float, box_px, style: str, minor_line_mm: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(one page row per distinct row of the grid, index of each page row into them).

    A grid row is fixed by its horizontal-line levels and whether it lies in the box, so a page
    has only a few dozen different rows: the raster is built for those and gathered, which is
    several times cheaper than compositing every pixel (random styles rarely hit the cache)."""
    top, bottom = box_px[1], box_px[3]
    ys = np.arange(height_px)
    keys = [(ys >= top - 1) & (ys <= bottom + 1)]
    for (width_mm, _), every in zip(_layer_widths(style, minor_line_mm), (1, 5)):
        keys.append(_axis_levels(height_px, px_per_mm, top, bottom, width_mm, every))
    _, first, inverse = np.unique(np.stack(keys, axis=1).astype(np.uint8), axis=0, return_index=True,
                                  return_inverse=True)
    return first, inverse.reshape(-1)


@lru_cache(maxsize=6)
def grid_page(height_px: int, width_px: int, px_per_mm: float, box_mm: tuple[float, float, float, float],
              color: str, style: str, paper_rgb: tuple[int, int, int], minor_line_mm: float = MINOR_WIDTH_MM,
              minor_contrast: float = 1.0, major_contrast: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Blank page with the grid inside box_mm = (left, top, right, bottom); returns (rgb, mask).

    Both arrays are read-only (shared by the cache): copy before drawing on them. The two layers'
    coverages index a colour LUT, so compositing is three cv2.LUT calls instead of float maths,
    and only on the page's distinct rows (`distinct_rows`), which are then gathered.
    """
    colors = GRID_COLORS[color]
    if colors is None:
        page = np.empty((height_px, width_px, 3), np.uint8)
        page[:] = paper_rgb
        mask = np.zeros((height_px, width_px), np.uint8)
    else:
        box_px = tuple(v * px_per_mm for v in box_mm)
        first, inverse = distinct_rows(height_px, px_per_mm, box_px, style, minor_line_mm)
        minor, major = grid_levels(height_px, width_px, px_per_mm, box_px, style, minor_line_mm, first)
        index = minor * np.uint8(LEVELS) + major
        minor_rgb = colors[0] if minor_contrast == 1.0 else _darker(paper_rgb, colors[0], minor_contrast)
        major_rgb = colors[1] if major_contrast == 1.0 else _darker(paper_rgb, colors[1], major_contrast)
        luts = _colour_luts(tuple(paper_rgb), minor_rgb, major_rgb)
        rows_rgb = cv2.merge([cv2.LUT(index, lut) for lut in luts])
        rows_mask = np.where(np.maximum(minor, major) >= int(0.3 * (LEVELS - 1)) + 1, np.uint8(255), np.uint8(0))
        page, mask = np.take(rows_rgb, inverse, axis=0), np.take(rows_mask, inverse, axis=0)
    page.setflags(write=False)
    mask.setflags(write=False)
    return page, mask
