"""Paper style spec: sizes, validation, gains, presets."""
from __future__ import annotations

import pytest

from render.paper import STYLE_PRESETS, PaperStyle, get_style


def test_page_sizes_follow_paper_orientation_and_dpi():
    s = PaperStyle(paper="letter", orientation="landscape", dpi=200)
    assert s.page_size_mm == (279.4, 215.9) and s.page_size_px == (1700, 2200)
    p = PaperStyle(paper="a4", orientation="portrait", dpi=300)
    assert p.page_size_mm == (210.0, 297.0) and p.page_size_px == (3508, 2480)
    assert p.px_per_mm == pytest.approx(300 / 25.4)


def test_limb_and_chest_gain_differ_per_lead():
    s = PaperStyle(limb_gain_mm_mv=10.0, chest_gain_mm_mv=5.0)
    assert s.gain_for("II") == 10.0 and s.gain_for("aVR") == 10.0 and s.gain_for("-aVR") == 10.0
    assert s.gain_for("V1") == 5.0 and s.gain_for("v6") == 5.0


@pytest.mark.parametrize("kw", [dict(dpi=71), dict(dpi=601), dict(paper_speed_mm_s=30.0),
                                dict(limb_gain_mm_mv=15.0), dict(grid_color="purple"),
                                dict(grid_style="hatched"), dict(font="Comic"), dict(paper="legal")])
def test_invalid_styles_raise(kw):
    with pytest.raises(ValueError, match="paper style"):
        PaperStyle(**kw)


def test_presets_round_trip_and_dpi_override():
    for name, style in STYLE_PRESETS.items():
        assert PaperStyle.from_dict(style.to_dict()) == style
        assert get_style(name) == style
    assert get_style("pink", dpi=96).dpi == 96 and get_style(None).name == "classic"


def test_later_fields_at_default_stay_out_of_the_dict():
    assert "label_font" not in PaperStyle().to_dict()
    thermal = STYLE_PRESETS["thermal"]
    d = thermal.to_dict()
    assert d["grid_style"] == "thermal" and d["label_font"] == "DejaVuSerif-Bold"
    assert PaperStyle.from_dict(d) == thermal
    with pytest.raises(ValueError, match="separator_style"):
        PaperStyle(separator_style="wavy")
