"""Vector export through ecg-plot: SVG/PDF files with one trace path per panel; clear refusals."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import render
from render import LayoutSpec, PaperStyle


def test_svg_3x4_rhythm_has_a_path_per_panel(synthetic_record, tmp_path):
    sig, fs, leads = synthetic_record
    out = render.export_vector(sig, fs, leads, tmp_path / "page.svg", layout="3x4+1R", style="pink")
    root = ET.parse(out).getroot()
    paths = [el for el in root.iter() if el.tag.endswith("path")]
    texts = {el.text for el in root.iter() if el.tag.endswith("text")}
    assert len(paths) >= 13  # 12 panels + rhythm (+ calibration pulses)
    assert {"I", "aVR", "V6"} <= texts
    assert root.attrib["width"].endswith("mm")


def test_pdf_and_strips(synthetic_record, tmp_path):
    sig, fs, leads = synthetic_record
    out = render.export_vector(sig, fs, leads, tmp_path / "strip.pdf", layout="2x1")
    assert out.read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("layout, style, match", [
    ("3x4+3R", None, "cannot be drawn"),
    ("cabrera-3x4", None, "cannot be drawn"),
    ("3x4", PaperStyle(chest_gain_mm_mv=5.0), "one gain"),
])
def test_unsupported_combinations_say_why(synthetic_record, tmp_path, layout, style, match):
    sig, fs, leads = synthetic_record
    with pytest.raises(ValueError, match=match):
        render.export_vector(sig, fs, leads, tmp_path / "x.svg", layout=layout, style=style)


def test_missing_lead_is_named(synthetic_record, tmp_path):
    sig, fs, leads = synthetic_record
    with pytest.raises(ValueError, match="needs leads"):
        render.export_vector(sig[:2], fs, leads[:2], tmp_path / "x.svg",
                             layout=LayoutSpec("x", (), ("V1",)))
