"""Stroke drawing: centred sub-pixel lines, NaN gaps, odd widths."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from render.draw import InkLayer, calibration_pulse_mm, finite_rows, finite_runs, thickness_px


@pytest.mark.parametrize("y", [20.0, 20.25, 20.5, 20.8])
@pytest.mark.parametrize("width", [1, 3, 5])
def test_stroke_is_centred_on_the_subpixel_line(y, width):
    img = np.full((40, 80, 3), 255, np.uint8)
    layer = InkLayer((40, 80), width)
    layer.add(np.array([[5.0, y], [75.0, y]]))
    layer.blend_into(img, (0, 0, 0))
    ink = 255 - img[:, 20:60, 0].astype(float)
    centre = (ink * np.arange(40)[:, None]).sum(0) / ink.sum(0)
    assert np.abs(centre - y).max() < 0.2


def test_gaps_split_runs_and_widths_are_odd():
    pts = np.array([[0, 0], [1, 1], [np.nan, 2], [3, 3], [4, np.nan], [5, 5], [6, 6.0]])
    assert [len(r) for r in finite_runs(pts)] == [2, 1, 2]
    odd = np.array([[0, 0], [np.inf, 1], [2, -np.inf], [np.nan, np.nan], [4, 4.0]])
    assert finite_rows(odd).tolist() == np.isfinite(odd).all(axis=1).tolist() == [True, False, False, False, True]
    assert all(thickness_px(w, ppm) % 2 == 1 for w in (0.1, 0.3, 0.5) for ppm in (2.8, 7.9, 23.6))
    assert thickness_px(0.3, 200 / 25.4) == 3 and thickness_px(0.2, 72 / 25.4) == 1


def test_calibration_pulse_is_1_mv_by_200_ms():
    pulse = calibration_pulse_mm(30.0, 50.0, gain_mm_mv=10.0, speed_mm_s=25.0)
    assert pulse[:, 1].min() == 40.0 and pulse[:, 1].max() == 50.0
    assert pulse[3, 0] - pulse[2, 0] == pytest.approx(5.0)  # 0.2 s x 25 mm/s


def _reference_blend(img: np.ndarray, cov: np.ndarray, rgb) -> np.ndarray:
    a = cov.astype(np.float64)[..., None] / 255.0
    return np.round(img * (1.0 - a) + np.asarray(rgb, np.float64) * a).astype(np.uint8)


@pytest.mark.parametrize("rgb", [(0, 0, 0), (10, 20, 80)])
def test_tiled_blend_equals_per_pixel_blend(rgb):
    """Ink is blended per run of tiles that hold any: every inked pixel must be reached (the
    rectangles cover all nonzero coverage, without overlap) and blended like a per-pixel blend."""
    from render.draw import ink_rectangles

    rng = np.random.default_rng(0)
    h, w = 203, 331  # not multiples of the tile: the partial last band and column count too
    layer = InkLayer((h, w), 3)
    x = np.linspace(-5, w + 5, 800)
    layer.add(np.stack([x, 100 + 60 * np.sin(x / 17.0)], axis=1))
    layer.add(np.array([[w - 2.0, 0.0], [w - 2.0, h - 1.0]]))  # ink in the last partial tiles
    img = rng.integers(120, 256, (h, w, 3), dtype=np.uint8)
    cov = cv2.dilate(layer.coverage, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    expected = _reference_blend(img, cov, rgb)
    layer.blend_into(img, rgb)
    assert np.abs(img.astype(int) - expected).max() <= 1
    covered = np.zeros((h, w), int)
    for y0, y1, x0, x1 in ink_rectangles(cov):
        covered[y0:y1, x0:x1] += 1
    assert covered.max() == 1 and (covered[cov > 0] == 1).all()


def test_stamped_text_is_not_widened_and_joins_the_one_blend():
    layer = InkLayer((40, 60), 5)
    patch = np.zeros((6, 8), np.uint8)
    patch[2:4, 3:5] = 255
    layer.stamp(patch, 50, -2)  # partly off the page: clipped, not an error
    layer.stamp(patch, 10, 10)
    img = np.full((40, 60, 3), 255, np.uint8)
    layer.blend_into(img, (0, 0, 0))
    dark = img[..., 0] < 255
    assert dark[12:14, 13:15].all() and dark.sum() == 4 + 4  # exactly the patch pixels, both stamps
    assert dark[0:2, 53:55].all()


def test_training_size_strokes_and_grid_keep_the_ink_of_a_full_page_shrunk():
    """A page drawn at a training size (72 DPI) is as dark as a 200-DPI page area-shrunk to that
    size: sub-pixel traces and grid lines keep their true ink instead of a full-darkness pixel."""
    import render
    from render.draw import stroke_opacity, thickness_px
    assert thickness_px(0.3, 72 / 25.4) == 1 and stroke_opacity(0.3, 72 / 25.4) == pytest.approx(0.3 * 72 / 25.4)
    assert stroke_opacity(0.3, 200 / 25.4) == 1.0
    t = np.arange(5000) / 500.0
    sig = np.stack([np.sin(2 * np.pi * 1.2 * t) * 0.8 for _ in range(12)]).astype(np.float32)
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    small = render.render(sig, 500.0, leads, layout="3x4+1R", style="classic", seed=0, out_size=(181, 256),
                          trace_points=False).image
    big = render.render(sig, 500.0, leads, layout="3x4+1R", style="classic", seed=0, trace_points=False).image
    big = cv2.resize(big, (256, 181), interpolation=cv2.INTER_AREA)
    darkness = lambda im: 255.0 - cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).mean()  # noqa: E731
    assert darkness(small) == pytest.approx(darkness(big), rel=0.15)
