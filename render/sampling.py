"""Draw a realistic (layout, paper style, degradation) triple from a seeded generator.

Weights follow what printed ECGs in the wild look like: mostly 3x4+1R at 25 mm/s and 10 mm/mV on
red/pink paper; the rarer formats appear often enough for a model to learn them.
"""
from __future__ import annotations

import numpy as np

from .layout import LAYOUT_PRESETS, LayoutSpec
from .paper import PaperStyle

_LAYOUT_WEIGHTS = {"3x4+1R": 0.32, "3x4": 0.1, "3x4+2R": 0.04, "3x4+3R": 0.12, "6x2": 0.1, "6x2+1R": 0.05,
                   "12x1": 0.08, "cabrera-3x4": 0.07, "1x1": 0.06, "2x1": 0.06}
_GRID_WEIGHTS = {"red": 0.34, "pink": 0.2, "orange": 0.1, "green": 0.08, "blue": 0.08, "grey": 0.12,
                 "none": 0.08}
# A small DPI set keeps the cached grid rasters useful during on-the-fly training.
_DPIS = (100, 150, 200, 300)
_DPI_WEIGHTS = (0.15, 0.3, 0.4, 0.15)
_INKS = ((0, 0, 0), (20, 20, 30), (10, 20, 80), (40, 40, 40))


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
    speed = 25.0 if rng.random() < 0.9 else 50.0
    limb = float(rng.choice([5.0, 10.0, 20.0], p=[0.08, 0.84, 0.08]))
    chest = limb if rng.random() < 0.85 else (5.0 if limb == 10.0 else 10.0)
    # paper tint belongs to the degradations; few distinct papers/margins keep grid caching useful
    paper_rgb = ((255, 255, 255), (252, 250, 246), (248, 248, 248))[int(rng.integers(3))]
    return PaperStyle(
        name="random",
        paper="letter" if rng.random() < 0.6 else "a4",
        orientation="landscape" if rng.random() < 0.85 else "portrait",
        dpi=int(dpi if dpi is not None else rng.choice(_DPIS, p=_DPI_WEIGHTS)),
        paper_speed_mm_s=speed,
        limb_gain_mm_mv=limb,
        chest_gain_mm_mv=chest,
        grid_color=_pick(rng, _GRID_WEIGHTS),
        grid_style="lines" if rng.random() < 0.85 else "dots",
        paper_rgb=paper_rgb,
        trace_rgb=_INKS[int(rng.integers(len(_INKS)))],
        trace_width_mm=float(np.round(rng.uniform(0.18, 0.45), 3)),
        calibration=bool(rng.random() < 0.9),
        header=bool(rng.random() < 0.8),
        footer=bool(rng.random() < 0.85),
        font=str(rng.choice(["DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono"], p=[0.6, 0.2, 0.2])),
        label_size_mm=float(np.round(rng.uniform(2.5, 3.6), 2)),
        margin_mm=int(rng.choice([5, 6, 8])),
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
