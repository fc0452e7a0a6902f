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
MIN_LINE_PX = 0.7  # keep the grid visible at 72 DPI


def _coverage(n_px: int, origin_px: float, period_px: float, width_px: float, lo_px: float,
              hi_px: float, every: int = 1) -> np.ndarray:
    """Fraction of each pixel (centred on its index) covered by lines at origin + k*period.

    Only lines with k % every == 0 inside [lo_px, hi_px] count; a pixel sees its nearest line.
    """
    idx = np.arange(n_px, dtype=np.float64)
    step = period_px * every
    k = np.round((idx - origin_px) / step)
    centre = origin_px + k * step
    half = max(width_px, MIN_LINE_PX) / 2
    cov = np.minimum(idx + 0.5, centre + half) - np.maximum(idx - 0.5, centre - half)
    cov = np.clip(cov, 0.0, 1.0)
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


def _layer(h: int, w: int, px_per_mm: float, box_px, width_mm: float, every: int, style: str) -> np.ndarray:
    """Quantised coverage (0..LEVELS-1, uint8) of one grid layer (minor: every=1, major: every=5)."""
    left, top, right, bottom = box_px
    cx = _coverage(w, left, px_per_mm, width_mm * px_per_mm, left, right, every)
    cy = _coverage(h, top, px_per_mm, width_mm * px_per_mm, top, bottom, every)
    inside_x = (np.arange(w) >= left - 1) & (np.arange(w) <= right + 1)
    inside_y = (np.arange(h) >= top - 1) & (np.arange(h) <= bottom + 1)
    qx = np.round(cx * (LEVELS - 1)).astype(np.uint8)
    qy = np.round(cy * (LEVELS - 1)).astype(np.uint8)
    if style == "lines":
        vertical = qx[None, :] * inside_y.astype(np.uint8)[:, None]  # x-lines, only rows in the box
        horizontal = qy[:, None] * inside_x.astype(np.uint8)[None, :]
        return np.maximum(vertical, horizontal)
    dots = np.multiply.outer(qy.astype(np.uint16), qx.astype(np.uint16)) // (LEVELS - 1)
    return dots.astype(np.uint8)


@lru_cache(maxsize=6)
def grid_page(height_px: int, width_px: int, px_per_mm: float, box_mm: tuple[float, float, float, float],
              color: str, style: str, paper_rgb: tuple[int, int, int], minor_line_mm: float = MINOR_WIDTH_MM,
              minor_contrast: float = 1.0, major_contrast: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Blank page with the grid inside box_mm = (left, top, right, bottom); returns (rgb, mask).

    Both arrays are read-only (shared by the cache): copy before drawing on them. The two layers'
    coverages index a colour LUT, so compositing is three cv2.LUT calls instead of float maths.
    """
    colors = GRID_COLORS[color]
    if colors is None:
        page = np.empty((height_px, width_px, 3), np.uint8)
        page[:] = paper_rgb
        mask = np.zeros((height_px, width_px), np.uint8)
    else:
        box_px = tuple(v * px_per_mm for v in box_mm)
        if style == "thermal":
            minor = _layer(height_px, width_px, px_per_mm, box_px, THERMAL_DOT_MM, 1, "dots")
            major = _layer(height_px, width_px, px_per_mm, box_px, THERMAL_MAJOR_MM, 5, "lines")
        else:
            minor = _layer(height_px, width_px, px_per_mm, box_px,
                           minor_line_mm if style == "lines" else DOT_MINOR_MM, 1, style)
            major = _layer(height_px, width_px, px_per_mm, box_px,
                           MAJOR_WIDTH_MM if style == "lines" else DOT_MAJOR_MM, 5, style)
        index = minor * np.uint8(LEVELS) + major
        minor_rgb = colors[0] if minor_contrast == 1.0 else _darker(paper_rgb, colors[0], minor_contrast)
        major_rgb = colors[1] if major_contrast == 1.0 else _darker(paper_rgb, colors[1], major_contrast)
        luts = _colour_luts(tuple(paper_rgb), minor_rgb, major_rgb)
        page = cv2.merge([cv2.LUT(index, lut) for lut in luts])
        mask = np.where(np.maximum(minor, major) >= int(0.3 * (LEVELS - 1)) + 1, np.uint8(255), np.uint8(0))
    page.setflags(write=False)
    mask.setflags(write=False)
    return page, mask
