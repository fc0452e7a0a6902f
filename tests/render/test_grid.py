"""Grid raster: lines on exact mm positions, major every 5 mm, cached read-only pages."""
from __future__ import annotations

import numpy as np
import pytest

from render.grid import _coverage, grid_page


@pytest.mark.parametrize("px_per_mm", [72 / 25.4, 200 / 25.4, 600 / 25.4])
def test_coverage_is_exact_box_filter(px_per_mm):
    width = 0.18 * px_per_mm
    cov = _coverage(400, 10.3, px_per_mm, width, 0, 400)
    # each line's coverage integrates to its true width (a line under the visible minimum is spread
    # to it at lower coverage, keeping its ink) and sits on its mm position
    k = np.arange(int((390 - 10.3) / px_per_mm))
    centres = 10.3 + k * px_per_mm
    half = int(np.ceil(max(width, 0.7) / 2 + 0.5))
    for c in centres[1:-1]:
        win = slice(int(round(c)) - half, int(round(c)) + half + 1)
        idx = np.arange(400)[win]
        assert cov[win].sum() == pytest.approx(width, abs=1e-5)
        assert (cov[win] > 0).sum() >= 1 and cov[win].max() <= width / max(width, 0.7) + 1e-6
        assert (cov[win] * idx).sum() / cov[win].sum() == pytest.approx(c, abs=0.35)  # sub-pixel


def test_major_lines_every_5_mm_and_cache():
    ppm = 200 / 25.4
    page, mask = grid_page(400, 600, ppm, (5.0, 5.0, 70.0, 45.0), "red", "lines", (255, 255, 255))
    assert page.shape == (400, 600, 3) and not page.flags.writeable
    row = page[200].astype(int).sum(axis=1)
    darkest = np.argsort(row)[:14]  # the major columns are the darkest
    mm = darkest / ppm - 5.0
    assert np.all(np.abs(mm / 5 - np.round(mm / 5)) < 0.15)
    assert grid_page(400, 600, ppm, (5.0, 5.0, 70.0, 45.0), "red", "lines", (255, 255, 255))[0] is page
    assert (page[:30] == 255).all()  # outside the grid box: paper only
    assert mask.dtype == np.uint8 and 0.05 < (mask > 0).mean() < 0.6


def test_no_grid_and_dots():
    plain, mask = grid_page(50, 60, 4.0, (1, 1, 14, 11), "none", "lines", (250, 250, 240))
    assert (plain == [250, 250, 240]).all() and not mask.any()
    dots, _ = grid_page(200, 200, 8.0, (1, 1, 24, 24), "blue", "dots", (255, 255, 255))
    lines, _ = grid_page(200, 200, 8.0, (1, 1, 24, 24), "blue", "lines", (255, 255, 255))
    assert (dots < 250).any(axis=2).mean() < (lines < 250).any(axis=2).mean()


def test_thermal_grid_has_minor_dots_and_solid_major_lines():
    ppm = 8.0
    page, _ = grid_page(240, 240, ppm, (1, 1, 29, 29), "grey", "thermal", (255, 255, 255))
    grey = page.mean(axis=2)
    major_x = int(round((1 + 5) * ppm))
    minor_x = int(round((1 + 2) * ppm))
    between_y = int(round((1 + 2.5) * ppm))  # half-way between two minor rows
    assert grey[between_y, major_x] < 235  # major lines are continuous
    assert grey[between_y, minor_x] > 250  # minor columns are dots, not lines
    assert grey[int(round(3 * ppm)), minor_x] < 245  # ...with a dot at each 1 mm intersection


def test_minor_contrast_darkens_minor_lines_only():
    args = (200, 200, 8.0, (1, 1, 24, 24), "red", "lines", (255, 255, 255))
    plain, _ = grid_page(*args)
    dark, _ = grid_page(*args, 0.12, 1.6)
    minor_x, major_x = int(round(3 * 8.0)), int(round(6 * 8.0))
    assert dark[100, minor_x].astype(int).sum() < plain[100, minor_x].astype(int).sum() - 30
    assert np.array_equal(dark[100, major_x], plain[100, major_x])


@pytest.mark.parametrize("style", ["lines", "dots", "thermal"])
@pytest.mark.parametrize("px_per_mm", [72 / 25.4, 121 / 25.4, 200 / 25.4])
def test_page_built_from_distinct_rows_equals_every_pixel_composited(style, px_per_mm):
    """grid_page composites only the distinct rows and gathers them: it must equal compositing
    every pixel of the page (the two layers' levels -> colour LUT)."""
    from render.grid import LEVELS, _colour_luts, _darker, grid_levels
    from render.paper import GRID_COLORS

    h, w, box_mm = 300, 420, (5.0, 9.0, 50.0, 35.0)
    page, mask = grid_page.__wrapped__(h, w, px_per_mm, box_mm, "red", style, (252, 250, 246), 0.12, 2.5, 1.3)
    minor, major = grid_levels(h, w, px_per_mm, tuple(v * px_per_mm for v in box_mm), style, 0.12)
    minor_rgb, major_rgb = (_darker((252, 250, 246), c, k) for c, k in zip(GRID_COLORS["red"], (2.5, 1.3)))
    luts = _colour_luts((252, 250, 246), minor_rgb, major_rgb)
    index = minor * LEVELS + major
    expected = np.stack([lut[index] for lut in luts], axis=2)
    assert minor.shape == (h, w) and np.array_equal(page, expected)
    assert np.array_equal(mask > 0, np.maximum(minor, major) > int(0.3 * (LEVELS - 1)))
    assert len(np.unique(page.reshape(h, -1), axis=0)) < 60  # few distinct rows: the point of the gather
