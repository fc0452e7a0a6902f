"""random_spec: seeded, varied, valid."""
from __future__ import annotations

import numpy as np
import pytest

from render import random_spec


def test_same_generator_state_same_specs():
    a = [random_spec(np.random.default_rng(5), degrade_strength=None) for _ in range(2)]
    assert a[0] == a[1]


def test_specs_vary_and_respect_restrictions():
    rng = np.random.default_rng(1)
    specs = [random_spec(rng, degrade_strength=None) for _ in range(200)]
    assert len({layout.name for layout, _, _ in specs}) >= 7
    assert len({style.grid_color for _, style, _ in specs}) >= 6
    assert {style.paper_speed_mm_s for _, style, _ in specs} == {25.0, 50.0}
    only = [random_spec(rng, layouts=["6x2"], dpi=96, degrade_strength=None) for _ in range(5)]
    assert {(layout.name, style.dpi) for layout, style, _ in only} == {("6x2", 96)}


def test_bad_arguments():
    with pytest.raises(TypeError, match="Generator"):
        random_spec(5)
    with pytest.raises(ValueError, match="no known layout"):
        random_spec(np.random.default_rng(0), layouts=["7x7"])


def test_mix_is_weighted_like_clinical_archives():
    rng = np.random.default_rng(3)
    specs = [random_spec(rng, degrade_strength=None) for _ in range(1000)]
    three_by_four = np.mean([layout.name.startswith(("3x4", "cabrera")) for layout, _, _ in specs])
    assert three_by_four > 0.78
    assert np.mean([style.grid_color == "none" for _, style, _ in specs]) < 0.04
    assert np.mean([style.grid_style == "thermal" for _, style, _ in specs]) > 0.12
    assert np.mean([style.label_font == "DejaVuSerif-Bold" for _, style, _ in specs]) > 0.5
    assert min(style.label_size_mm for _, style, _ in specs) >= 3.5


def test_random_degradations_mostly_frame_and_capture_like_real_scans():
    rng = np.random.default_rng(4)
    specs = [random_spec(rng)[2] for _ in range(400)]
    captured = [s for s in specs if s.enabled()]
    assert np.mean([s.camera is not None for s in captured]) > 0.75
    assert np.mean([s.framing is not None for s in captured]) > 0.7
    assert np.mean([s.black_white is not None for s in captured]) < 0.1
