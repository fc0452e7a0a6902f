"""Print-quality vector export (SVG/PDF) through ecg-plot 0.3's millimetre scene.

ecg-plot draws a subset of our layouts (3x4 with at most one rhythm strip, limb|chest 6x2, 12x1
and rhythm strips of any leads) at one gain for all leads; other combinations raise a ValueError
that says why. SVG comes from ecg-plot directly; PDF goes through its Matplotlib adapter, since
its own PDF path needs Cairo, which is not a dependency here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .layout import CHEST_LEADS, LIMB_LEADS, LayoutSpec, get_layout
from .paper import GRID_COLORS, PaperStyle, get_style

STANDARD = LIMB_LEADS + CHEST_LEADS


def _chart_arguments(layout: LayoutSpec, leads: list[str]) -> dict:
    standard_grid_3x4 = tuple(tuple(STANDARD[c * 3 + r] for c in range(4)) for r in range(3))
    standard_grid_6x2 = tuple(tuple(STANDARD[c * 6 + r] for c in range(2)) for r in range(6))
    if layout.grid == standard_grid_3x4 and len(layout.rhythm) <= 1:
        return {"layout": "12lead", "time_mode": layout.time_mode,
                "rhythm_lead": layout.rhythm[0] if layout.rhythm else None}
    if layout.grid == standard_grid_6x2 and not layout.rhythm and layout.time_mode == "simultaneous":
        return {"layout": "limb-chest"}
    if layout.grid == tuple((lead,) for lead in STANDARD) and not layout.rhythm:
        return {"layout": "stacked"}
    if not layout.grid:
        return {"layout": "stacked", "only": list(layout.rhythm)}
    raise ValueError(
        f"layout {layout.name!r} cannot be drawn by ecg-plot 0.3 (it supports 3x4 with at most one "
        "rhythm strip, simultaneous 6x2, 12x1 and rhythm strips); use render() for this layout")


def export_vector(signal, fs, leads, path, layout="3x4+1R", style=None, title: str | None = None) -> Path:
    """Write `signal` (n_leads, n_samples) mV as an SVG or PDF page (by `path` suffix); return the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".pdf"):
        raise ValueError(f"vector export writes .svg or .pdf, not {path.name!r}")
    chart = ecgplot_chart(signal, fs, leads, layout, style, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".svg":
        path.write_text(chart.to_svg())
    else:
        fig, _ = chart.to_matplotlib()
        fig.savefig(path, format="pdf")
    return path


def ecgplot_chart(signal, fs, leads, layout="3x4+1R", style=None, title: str | None = None):
    """The ecg-plot `ECGChart` for our layout/style (raises ValueError where ecg-plot cannot)."""
    import ecg_plot

    layout_spec = get_layout(layout)
    style_spec: PaperStyle = get_style(style)
    if style_spec.limb_gain_mm_mv != style_spec.chest_gain_mm_mv:
        raise ValueError("ecg-plot draws one gain for all leads; limb and chest gains differ in this style")
    args = _chart_arguments(layout_spec, list(leads))
    arr = np.asarray(signal, np.float64)
    by_name = {str(name).lower(): i for i, name in enumerate(leads)}
    wanted = args.pop("only", None) or list(STANDARD)
    missing = [name for name in wanted if name.lower() not in by_name]
    if missing:
        raise ValueError(f"vector export needs leads {missing}; the signal has {list(leads)}")
    rows = arr[[by_name[name.lower()] for name in wanted]]
    colors = GRID_COLORS[style_spec.grid_color]
    chart_style = ecg_plot.Style(
        grid=colors is not None,
        line_color="#%02x%02x%02x" % style_spec.trace_rgb,
        line_width=style_spec.trace_width_mm,
        major_color="#%02x%02x%02x" % (colors[1] if colors else (0, 0, 0)),
        minor_color="#%02x%02x%02x" % (colors[0] if colors else (0, 0, 0)),
        font_size=style_spec.label_size_mm,
        calibration=style_spec.calibration,
    )
    return ecg_plot.plot(rows, sample_rate=fs, lead_names=wanted, title=title,
                         speed=style_spec.paper_speed_mm_s, gain=style_spec.limb_gain_mm_mv,
                         window=(0.0, min(layout_spec.seconds, rows.shape[1] / fs)),
                         style=chart_style, **args)
