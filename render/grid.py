"""The ECG grid raster (1 mm minor, 5 mm major), built from separable 1-D coverage and cached.

Hand-written rather than drawn line by line with OpenCV: a page has ~500 grid lines, and the grid
is separable, so exact anti-aliased coverage per pixel row/column plus one broadcast composite is
both faster and exact at any DPI. Pages with the same geometry and colours reuse the cached raster.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .paper import GRID_COLORS

MINOR_WIDTH_MM = 0.08
MAJOR_WIDTH_MM = 0.18
DOT_MINOR_MM = 0.30
DOT_MAJOR_MM = 0.50
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


@lru_cache(maxsize=6)
def grid_page(height_px: int, width_px: int, px_per_mm: float, box_mm: tuple[float, float, float, float],
              color: str, style: str, paper_rgb: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Blank page with the grid inside box_mm = (left, top, right, bottom); returns (rgb, mask).

    Both arrays are read-only (shared by the cache): copy before drawing on them.
    """
    page = np.empty((height_px, width_px, 3), np.uint8)
    page[:] = paper_rgb
    mask = np.zeros((height_px, width_px), np.uint8)
    colors = GRID_COLORS[color]
    if colors is not None:
        left, top, right, bottom = (v * px_per_mm for v in box_mm)
        img = page.astype(np.float32)
        inside_x = ((np.arange(width_px) >= left - 1) & (np.arange(width_px) <= right + 1)).astype(np.float32)
        inside_y = ((np.arange(height_px) >= top - 1) & (np.arange(height_px) <= bottom + 1)).astype(np.float32)
        total = np.zeros((height_px, width_px), np.float32)
        for every, rgb, line_mm, dot_mm in ((1, colors[0], MINOR_WIDTH_MM, DOT_MINOR_MM),
                                            (5, colors[1], MAJOR_WIDTH_MM, DOT_MAJOR_MM)):
            w_mm = line_mm if style == "lines" else dot_mm
            cx = _coverage(width_px, left, px_per_mm, w_mm * px_per_mm, left, right, every)
            cy = _coverage(height_px, top, px_per_mm, w_mm * px_per_mm, top, bottom, every)
            if style == "lines":
                alpha = np.maximum(cx[None, :] * inside_y[:, None], cy[:, None] * inside_x[None, :])
            else:
                alpha = cy[:, None] * cx[None, :]
            img += (np.asarray(rgb, np.float32) - img) * alpha[..., None]
            np.maximum(total, alpha, out=total)
        page = np.clip(img + 0.5, 0, 255).astype(np.uint8)
        mask[total >= 0.3] = 255
    page.setflags(write=False)
    mask.setflags(write=False)
    return page, mask
