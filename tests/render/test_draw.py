"""Stroke drawing: centred sub-pixel lines, NaN gaps, odd widths."""
from __future__ import annotations

import numpy as np
import pytest

from render.draw import InkLayer, calibration_pulse_mm, finite_runs, thickness_px


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
    assert all(thickness_px(w, ppm) % 2 == 1 for w in (0.1, 0.3, 0.5) for ppm in (2.8, 7.9, 23.6))
    assert thickness_px(0.3, 200 / 25.4) == 3 and thickness_px(0.2, 72 / 25.4) == 1


def test_calibration_pulse_is_1_mv_by_200_ms():
    pulse = calibration_pulse_mm(30.0, 50.0, gain_mm_mv=10.0, speed_mm_s=25.0)
    assert pulse[:, 1].min() == 40.0 and pulse[:, 1].max() == 50.0
    assert pulse[3, 0] - pulse[2, 0] == pytest.approx(5.0)  # 0.2 s x 25 mm/s
