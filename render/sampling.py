"""Draw a realistic (layout, paper style, degradation) triple from a seeded generator.

Weights follow what printed ECGs in clinical archives look like, checked against the 52 real
scans in ../shared/data/scans:
* layout: all 52 real pages are 3x4 variants (most 3x4+1R with lead II below, some 3x4+3R or a
  plain 3x4); 6x2 and 12x1 come from some vendors and Holter/stress exports, single strips
  (1x1/2x1) from rhythm printouts. So ~84 % 3x4 variants, ~12 % 6x2/12x1, ~4 % strips: the
  rare formats stay often enough for a model to learn them without skewing what it sees most;
* paper: 25 mm/s and 10 mm/mV; red/pink/orange stocks and grey thermal paper (about a third of
  the real pages: 1 mm dots, solid 5 mm lines, dotted column separators); a grid-less page is
  rare (2 %: every real page has a grid); minor lines drawn dark and wide enough to survive
  downsampling (real minor-line contrast ~36 grey levels at 2.5 px/mm);
* text: lead labels in bold serif of 3.5-5 mm (DejaVu Serif Bold) on most pages.
* ink: black or grey traces (no real print here has blue ink).
"""
from __future__ import annotations

import numpy as np

from .layout import LAYOUT_PRESETS, LayoutSpec
from .paper import PaperStyle

_LAYOUT_WEIGHTS = {"3x4+1R": 0.46, "3x4": 0.12, "3x4+2R": 0.04, "3x4+3R": 0.14, "cabrera-3x4": 0.04,
                   "6x2": 0.07, "6x2+1R": 0.02, "12x1": 0.03, "1x1": 0.02, "2x1": 0.02}
# grid stocks of the real scans: magenta-pink (hue ~172) and red/orange (0-15) carry almost all
# the colour, one is green and none blue; their saturated pixels have no green/blue/purple hue
_GRID_WEIGHTS = {"red": 0.28, "pink": 0.32, "orange": 0.08, "green": 0.02, "blue": 0.01, "grey": 0.27,
                 "none": 0.02}
_LABEL_FONTS = {"DejaVuSerif-Bold": 0.65, "DejaVuSans-Bold": 0.15, "DejaVuSans": 0.12, "DejaVuSerif": 0.08}
_TEXT_FONTS = {"DejaVuSerif": 0.45, "DejaVuSans": 0.4, "DejaVuSansMono": 0.15}
# A small DPI set keeps the cached grid rasters useful during on-the-fly training.
_DPIS = (100, 150, 200, 300)
_DPI_WEIGHTS = (0.15, 0.3, 0.4, 0.15)
_INKS = ((0, 0, 0), (20, 20, 30), (30, 30, 45), (40, 40, 40))  # black/grey: no real print has blue ink


def _pick(rng: np.random.Generator, weights: dict):
    keys = list(weights)
    p = np.asarray([weights[k] for k in keys], np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def random_layout(rng: np.random.Generator, layouts=None) -> LayoutSpec:
    weights = {k: w for k, w in _LAYOUT_WEIGHTS.items() if layouts is None or k in layouts}
    if not weights:
        raise ValueError(f"no known layout among {layouts!r}; presets: {sorted(LAYOUT_PRESETS)}")
    spec = LAYOUT_PRESETS[_pick(rng, weights)]
    separators = bool(rng.random() < 0.7) if spec.n_columns > 1 else False
    return LayoutSpec(spec.name, spec.grid, spec.rhythm, spec.seconds, spec.time_mode, separators)


def random_style(rng: np.random.Generator, dpi: int | None = None) -> PaperStyle:
    speed = 25.0 if rng.random() < 0.93 else 50.0
    limb = float(rng.choice([5.0, 10.0, 20.0], p=[0.06, 0.9, 0.04]))
    chest = limb if rng.random() < 0.88 else (5.0 if limb == 10.0 else 10.0)
    # paper tint belongs to the degradations; few distinct papers/margins keep grid caching useful
    paper_rgb = ((255, 255, 255), (252, 250, 246), (248, 248, 248))[int(rng.integers(3))]
    grid_color = _pick(rng, _GRID_WEIGHTS)
    thermal = grid_color == "grey" and rng.random() < 0.8  # grey grids are mostly thermal printers
    grid_style = "thermal" if thermal else ("lines" if rng.random() < 0.9 else "dots")
    return PaperStyle(
        name="random",
        paper="letter" if rng.random() < 0.6 else "a4",
        orientation="landscape" if rng.random() < 0.9 else "portrait",
        dpi=int(dpi if dpi is not None else rng.choice(_DPIS, p=_DPI_WEIGHTS)),
        paper_speed_mm_s=speed,
        limb_gain_mm_mv=limb,
        chest_gain_mm_mv=chest,
        grid_color=grid_color,
        grid_style=grid_style,
        paper_rgb=paper_rgb,
        trace_rgb=_INKS[int(rng.integers(len(_INKS)))],
        # real traces measure 0.36 mm (p10 0.22, p90 0.54; ink area / half the contour length);
        # ours 0.47. Thinner (0.12-0.28 mm) helped the realism features but cost the demo's image
        # arms 0.07-0.12 AUROC (fainter traces at 256 px), so the width stays until both are weighed
        trace_width_mm=float(np.round(rng.uniform(0.2, 0.45), 3)),
        calibration=bool(rng.random() < 0.9),
        header=bool(rng.random() < 0.8),
        footer=bool(rng.random() < 0.85),
        font=_pick(rng, _TEXT_FONTS),
        label_size_mm=float(np.round(rng.uniform(3.5, 5.0), 2)),
        margin_mm=int(rng.choice([5, 6, 8])),
        # few distinct values keep the cached grid rasters useful during on-the-fly training
        minor_line_mm=(0.12, 0.16)[int(rng.integers(2))],
        minor_contrast=(2.0, 2.8)[int(rng.integers(2))],
        major_contrast=(1.2, 1.5)[int(rng.integers(2))],
        row_pitch_mm=None if rng.random() < 0.15 else float(rng.choice([27.0, 30.0, 33.0, 36.0])),
        label_font=_pick(rng, _LABEL_FONTS),
        header_size_mm=float(np.round(rng.uniform(2.5, 3.4), 2)),
        separator_style="dotted" if thermal and rng.random() < 0.8 else "tick",
    )


def random_spec(rng: np.random.Generator, layouts=None, degrade_strength: str | None = "any",
                dpi: int | None = None):
    """(LayoutSpec, PaperStyle, DegradeSpec | None) for "any realistic page".

    degrade_strength: passed to `random_degrade_spec` ("any", "none", "light", "medium", "heavy"); None for
    clean pages. `layouts` restricts the layout presets; `dpi` fixes the resolution.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, not {type(rng).__name__}")
    layout = random_layout(rng, layouts)
    style = random_style(rng, dpi)
    degrade = None
    if degrade_strength is not None:
        from .degrade import random_degrade_spec

        degrade = random_degrade_spec(rng, degrade_strength)
    return layout, style, degrade
