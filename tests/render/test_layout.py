"""Layout presets and panel placement in mm."""
from __future__ import annotations

import pytest

from render.layout import LAYOUT_PRESETS, LayoutSpec, PlotArea, get_layout, place_panels, row_seconds


def area(speed=25.0, n=5000, fs=500.0, right=273.0):
    return PlotArea(6.0, 30.0, right, 202.0, 16.0, speed, fs, n)


def test_3x4_columns_are_consecutive_slices_and_rhythm_is_full():
    panels = place_panels(LAYOUT_PRESETS["3x4+1R"], area())
    grid = [p for p in panels if not p.is_rhythm]
    assert len(grid) == 12 and [p.lead for p in grid[:4]] == ["I", "aVR", "V1", "V4"]
    for row in range(3):
        cols = sorted((p for p in grid if p.row == row), key=lambda p: p.column)
        assert [(p.start, p.stop) for p in cols] == [(0, 1250), (1250, 2500), (2500, 3750), (3750, 5000)]
        for a, b in zip(cols, cols[1:]):  # one continuous time axis per row
            assert b.x_mm == pytest.approx(a.x_mm + a.width_mm)
    rhythm = [p for p in panels if p.is_rhythm]
    assert [(p.lead, p.start, p.stop) for p in rhythm] == [("II", 0, 5000)]
    assert all(p.baseline_mm == int(p.baseline_mm) for p in panels)  # on grid lines
    assert len({p.baseline_mm for p in panels}) == 4


def test_fast_paper_shows_less_time_to_fit_the_page():
    a = area(speed=50.0)
    assert row_seconds(LAYOUT_PRESETS["3x4"], a) == pytest.approx((273.0 - 16.0) / 50.0)
    panels = place_panels(LAYOUT_PRESETS["3x4"], a)
    assert max(p.x_mm + p.width_mm for p in panels) <= 273.0 + 1e-9


def test_short_signal_limits_time_and_simultaneous_mode_repeats_it():
    spec = LayoutSpec("sim", (("I", "V1"),), (), time_mode="simultaneous")
    panels = place_panels(spec, area(n=2000))
    assert [(p.start, p.stop) for p in panels] == [(0, 1000), (0, 1000)]
    assert panels[1].x_mm > panels[0].x_mm


def test_any_lead_order_and_dict_round_trip():
    spec = LayoutSpec("mine", (("V6", "I"), ("aVF", "V2")), ("V1", "II"), seconds=8.0, separators=False)
    assert spec.leads == ("V6", "I", "aVF", "V2", "V1", "II")
    assert get_layout(spec.to_dict()) == spec
    for preset in LAYOUT_PRESETS.values():
        assert LayoutSpec.from_dict(preset.to_dict()) == preset


@pytest.mark.parametrize("kw, match", [
    (dict(grid=(("I", "II"), ("III",))), "same number of columns"),
    (dict(grid=(), rhythm=()), "no leads"),
    (dict(time_mode="later"), "time_mode"),
    (dict(seconds=0), "seconds"),
])
def test_invalid_layouts_say_why(kw, match):
    with pytest.raises(ValueError, match=match):
        LayoutSpec("bad", **kw)


def test_row_pitch_packs_rows_and_ends_the_grid_under_the_last_row():
    import numpy as np

    import render
    t = np.arange(5000) / 500.0
    sig = np.stack([np.sin(2 * np.pi * 1.2 * t) * 0.5 for _ in range(12)])
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    style = render.PaperStyle(dpi=100, row_pitch_mm=30.0)
    r = render.render(sig, 500.0, leads, layout="3x4+1R", style=style)
    tops = sorted({round(p["cell_quad"][0][1] / r.truth["px_per_mm"], 3) for p in r.truth["panels"]})
    assert np.allclose(np.diff(tops), 30.0, atol=0.01)
    # below the grid (5 mm under the last row) the page is plain paper up to the footer
    last_bottom_mm = max(np.asarray(p["cell_quad"])[:, 1].max() for p in r.truth["panels"]) / r.truth["px_per_mm"]
    y = int((last_bottom_mm + 8) * r.truth["px_per_mm"])
    assert (r.image[y, 50:-50] == 255).all()
