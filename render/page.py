"""`render()`: a plain signal array -> a printed-ECG page image with exact ground truth.

Pipeline: resolve specs -> place panels (mm) -> cached grid -> traces, pulses, labels, header,
footer (pixels, one point per plotted sample) -> optional degradations / training-size resize,
which carry every truth point through the same geometry (see `truth.py`).

Pixel convention: a truth point (x, y) is in pixel-centre coordinates (pixel i covers
[i - 0.5, i + 0.5]); a point at page position (x_mm, y_mm) is drawn at (x_mm, y_mm) * px_per_mm.
"""
from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from . import draw, text
from .grid import grid_page
from .header import footer_text, header_lines, heart_rate_bpm
from .layout import LayoutSpec, Panel, PlotArea, get_layout, place_panels
from .paper import PaperStyle, get_style
from .resolve import resolve_spec
from .truth import finish

HEADER_MM = 24
FOOTER_MM = 7


class RenderInputError(ValueError):
    """The signal, sampling rate or lead names cannot be rendered (message says why)."""


@dataclass
class Rendered:
    """A rendered page: RGB uint8 image (H, W, 3), JSON-serialisable truth, optional masks."""

    image: np.ndarray
    truth: dict
    masks: dict[str, np.ndarray] | None = field(default=None)


def _lead_lookup(leads) -> dict[str, int]:
    return {str(name).strip().lower(): i for i, name in enumerate(leads)}


def _resolve_lead(name: str, lookup: dict[str, int]) -> tuple[int, float]:
    """Row index and sign of a layout lead; "-aVR" is aVR inverted (Cabrera order)."""
    key = name.strip().lower()
    if key in lookup:
        return lookup[key], 1.0
    if key.startswith("-") and key[1:] in lookup:
        return lookup[key[1:]], -1.0
    raise RenderInputError(f"layout needs lead {name!r}, signal has {sorted(lookup)}")


def _check_inputs(signal, fs, leads) -> np.ndarray:
    arr = np.asarray(signal, dtype=np.float64)
    if arr.ndim != 2:
        raise RenderInputError(f"signal must be 2-D (n_leads, n_samples), got shape {arr.shape}")
    if len(leads) != arr.shape[0]:
        raise RenderInputError(f"{len(leads)} lead names for {arr.shape[0]} signal rows")
    if not (isinstance(fs, (int, float, np.integer, np.floating)) and math.isfinite(fs) and fs > 0):
        raise RenderInputError(f"fs must be a positive finite number of Hz, got {fs!r}")
    if arr.shape[1] < 2:
        raise RenderInputError(f"signal has {arr.shape[1]} samples; need at least 2")
    if not np.isfinite(arr).any():
        raise RenderInputError("signal has no finite samples")
    return arr


def _resolve_degrade(degrade):
    """None/'none' -> None; preset name, dict or DegradeSpec -> DegradeSpec (imported lazily)."""
    if degrade is None:
        return None
    from .degrade import DEGRADE_PRESETS, DegradeSpec

    return resolve_spec(degrade, DegradeSpec, DEGRADE_PRESETS, "degradation")


def plot_area(style: PaperStyle, fs: float, n_samples: int, n_rows: int = 1) -> tuple[PlotArea, tuple[float, ...]]:
    """Rows region and grid box (mm). Whole-millimetre edges keep baselines on grid lines.

    With `style.row_pitch_mm` the rows are that far apart (real 12-lead printouts: ~25-38 mm)
    and the grid ends 5 mm under the last one, instead of the rows filling the page height."""
    w_mm, h_mm = style.page_size_mm
    margin_mm = float(style.margin_mm)
    top = margin_mm + (HEADER_MM if style.header else 0)
    bottom = grid_bottom = math.floor(h_mm - margin_mm - (FOOTER_MM if style.footer else 0))
    if style.row_pitch_mm is not None and top + n_rows * style.row_pitch_mm + 5 <= bottom:
        bottom = top + n_rows * style.row_pitch_mm
        grid_bottom = math.ceil(bottom) + 5
    right = math.floor(w_mm - margin_mm)
    pulse_mm = 5 * math.ceil((0.2 * style.paper_speed_mm_s + 4) / 5) if style.calibration else 5
    area = PlotArea(margin_mm, top, right, bottom, margin_mm + pulse_mm, style.paper_speed_mm_s, float(fs), n_samples)
    return area, (margin_mm, top, right, grid_bottom)


def render(signal, fs, leads, layout="3x4+1R", style=None, degrade=None, seed: int = 0,
           out_size=None, masks: bool = False, trace_points: bool = True,
           facts: dict | None = None) -> Rendered:
    """Render `signal` (n_leads, n_samples) in mV at `fs` Hz as a printed ECG page.

    layout/style/degrade: preset name, dict (as stored in truth["params"]) or spec object.
    out_size: (H, W) training size (or int for square); degradations then run at that size.
    Same inputs and seed give a byte-identical image and truth; `render(signal, fs, leads,
    **truth["params"])` reproduces a page.
    trace_points=False leaves out the per-sample trace points (panels get empty x/y and no
    lead_box): training loaders that only need the image save the cost of carrying thousands of
    points through every warp. The image is the same either way; boxes, cells and labels remain.
    """
    arr = _check_inputs(signal, fs, leads)
    layout_spec: LayoutSpec = get_layout(layout)
    style_spec: PaperStyle = get_style(style)
    degrade_spec = _resolve_degrade(degrade)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    if facts is not None:
        from .header import FACT_KEYS
        if not isinstance(facts, dict) or set(facts) - set(FACT_KEYS):
            raise ValueError(f"facts must be a dict with keys from {FACT_KEYS}, got {facts!r}")
        facts = {k: (list(v) if k == "statements" else v) for k, v in facts.items()}
    if out_size is not None:
        out_size = (int(out_size), int(out_size)) if np.isscalar(out_size) else tuple(int(v) for v in out_size)
    lookup = _lead_lookup(leads)
    resolved = {name: _resolve_lead(name, lookup) for name in layout_spec.leads}
    # Printers high-pass their input; removing each lead's median keeps DC-offset records
    # (e.g. Holter exports) on their baselines. Stored per panel so truth still maps to mV.
    used = sorted({idx for idx, _ in resolved.values()})
    with warnings.catch_warnings():  # an all-NaN lead has no median: offset 0
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nan_to_num(np.nanmedian(arr[used], axis=1), nan=0.0) if np.isnan(arr[used]).any() \
            else np.median(arr[used], axis=1)
    offsets = dict(zip(used, medians.tolist()))

    draw_style = _draw_style(style_spec, out_size)
    px_per_mm = draw_style.px_per_mm
    page_h_px, page_w_px = draw_style.page_size_px
    area, grid_box = plot_area(style_spec, fs, arr.shape[1], layout_spec.n_rows)
    grid_rgb, grid_mask = grid_page(page_h_px, page_w_px, px_per_mm, grid_box, style_spec.grid_color,
                                    style_spec.grid_style, style_spec.paper_rgb, style_spec.minor_line_mm,
                                    style_spec.minor_contrast, style_spec.major_contrast)
    image = grid_rgb.copy()
    mask_dict: dict[str, np.ndarray] | None = None
    text_mask = None
    if masks:
        mask_dict = {"grid": grid_mask.copy()}
        text_mask = np.zeros((page_h_px, page_w_px), np.uint8)
    trace_px = draw.thickness_px(style_spec.trace_width_mm, px_per_mm)
    ink_layer = draw.InkLayer((page_h_px, page_w_px), trace_px,
                              draw.stroke_opacity(style_spec.trace_width_mm, px_per_mm))
    ink = style_spec.trace_rgb
    label_px = int(round(style_spec.label_size_mm * px_per_mm))
    panels = place_panels(layout_spec, area)

    points: dict[str, np.ndarray] = {}  # every geometric truth item, carried through degradations
    panel_info = []
    for k, p in enumerate(panels):
        idx, sign = resolved[p.lead]
        gain = style_spec.gain_for(p.lead)
        samples = np.arange(p.start, p.stop)
        x_px = (p.x_mm + (samples - p.start) / fs * area.speed_mm_s) * px_per_mm
        y_px = (p.baseline_mm - sign * (arr[idx, p.start:p.stop] - offsets[idx]) * gain) * px_per_mm
        pts = np.stack([x_px, y_px], axis=1)
        lead_mask = None
        if mask_dict is not None:
            lead_mask = mask_dict.setdefault(f"lead:{p.lead}", np.zeros((page_h_px, page_w_px), np.uint8))
        ink_layer.add(pts, lead_mask)
        points[f"panel{k}"] = pts
        points[f"baseline{k}"] = np.array([[p.x_mm, p.baseline_mm], [p.x_mm + p.width_mm, p.baseline_mm]]) * px_per_mm
        points[f"cell{k}"] = _quad(p.x_mm, p.top_mm, p.x_mm + p.width_mm, p.bottom_mm) * px_per_mm
        # label above the trace start, about where printers put it (not at the far top of a tall row)
        label_top_mm = max(p.top_mm + 1.0, p.baseline_mm - 10.0 - style_spec.label_size_mm)
        label_box = text.ink_text(ink_layer, p.lead, (p.x_mm + 1.0) * px_per_mm, label_top_mm * px_per_mm,
                                  label_px, style_spec.label_font or style_spec.font, text_mask)
        points[f"label{k}"] = _quad(*label_box) - 0.5  # pixel edges -> centre coordinates
        if layout_spec.separators and p.column > 0 and style_spec.separator_style == "tick":
            sep = np.array([[p.x_mm, p.baseline_mm - 3.0], [p.x_mm, p.baseline_mm + 3.0]]) * px_per_mm
            ink_layer.add(sep, text_mask)
        outside = _outside_cell_fraction(y_px / px_per_mm, p.top_mm, p.bottom_mm)
        panel_info.append({"lead": p.lead, "signal_index": idx, "sign": sign, "row": p.row,
                           "column": p.column, "is_rhythm": p.is_rhythm, "offset_mv": offsets[idx], "start": p.start,
                           "stop": p.stop, "mm_per_mv": gain, "x0_mm": p.x_mm,
                           "baseline_mm": p.baseline_mm, "leaves_cell": outside > 0.0,
                           "outside_cell_fraction": round(outside, 6)})

    if layout_spec.separators and style_spec.separator_style == "dotted":
        _dotted_separators(ink_layer, panels, grid_box, px_per_mm, text_mask)
    cal_mask = None
    if mask_dict is not None:
        cal_mask = mask_dict["calibration"] = np.zeros((page_h_px, page_w_px), np.uint8)
        mask_dict["text"] = text_mask
    calibration = _draw_calibration(ink_layer, panels, style_spec, area, px_per_mm, points, cal_mask)
    texts = _draw_header_footer(ink_layer, style_spec, fs, seed, px_per_mm, text_mask, points,
                                (arr, leads, facts) if style_spec.header else None)
    ink_layer.blend_into(image, ink)
    right_px, bottom_px = page_w_px - 1, page_h_px - 1
    points["page"] = np.array([[0, 0], [right_px, 0], [right_px, bottom_px], [0, bottom_px]], np.float64)

    params = {"layout": layout_spec.to_dict(), "style": style_spec.to_dict(),
              "degrade": degrade_spec.to_dict() if degrade_spec is not None else None,
              "seed": seed, "out_size": list(out_size) if out_size else None, "masks": bool(masks)}
    if facts is not None:
        params["facts"] = facts
    base = {
        "version": 1,
        "px_per_mm": px_per_mm,
        "mm_per_s": area.speed_mm_s,
        "fs": float(fs),
        "leads": [str(name) for name in leads],
        "n_samples": int(arr.shape[1]),
        "page_size_px": [page_h_px, page_w_px],
        "render_dpi": draw_style.dpi,
        "trace_thickness_px": trace_px,
        "signal_sha256": hashlib.sha256(np.ascontiguousarray(arr, np.float64).tobytes()).hexdigest(),
        "params": params,
    }
    if not trace_points:
        for k in range(len(panel_info)):
            points[f"panel{k}"] = points[f"panel{k}"][:0]
    rng = np.random.default_rng([seed, 1])  # own stream: header text never shifts degradations
    image, truth, mask_dict = finish(image, mask_dict, points, panel_info, calibration, texts, base,
                                     degrade_spec, rng, out_size, [v * px_per_mm for v in grid_box])
    return Rendered(image=image, truth=truth, masks=mask_dict)


SUPERSAMPLE = 2.0  # training-size fast path: draw at ~2x the output resolution, then resize


def _draw_style(style: PaperStyle, out_size) -> PaperStyle:
    """The style actually drawn: with a small `out_size`, the same page at a lower DPI (>= 72).

    Everything is laid out in mm, so only the raster resolution changes; a 512-px training image
    then costs a ~1000-px page instead of a 2200-px one. truth["render_dpi"] records it.
    """
    if out_size is None:
        return style
    h, w = style.page_size_px
    scale = max(out_size[0] / h, out_size[1] / w)
    if scale * SUPERSAMPLE >= 1.0:
        return style
    return replace(style, dpi=max(72, int(math.ceil(style.dpi * scale * SUPERSAMPLE))))


def _outside_cell_fraction(y_mm: np.ndarray, top_mm: float, bottom_mm: float) -> float:
    """Share of a panel's plotted (finite) samples drawn above or below its row cell: such a trace
    runs into the neighbouring rows (a 10 mV lead, or a gain too high for the layout)."""
    ok = np.isfinite(y_mm)
    if not ok.any():
        return 0.0
    return float(((y_mm[ok] < top_mm) | (y_mm[ok] > bottom_mm)).mean())


def _quad(x0, y0, x1, y1) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def _draw_calibration(ink_layer, panels: list[Panel], style: PaperStyle, area: PlotArea, px_per_mm: float,
                      points: dict, cal_mask=None) -> list[dict]:
    """A 1 mV x 200 ms pulse left of every row (row's first lead gain), plus one right of the row
    when later leads in it use a different gain and the pulse fits on the page."""
    if not style.calibration:
        return []
    out = []
    rows: dict[int, list[Panel]] = {}
    for p in panels:
        rows.setdefault(p.row, []).append(p)
    for row in sorted(rows):
        first, last = rows[row][0], rows[row][-1]
        gains = [(style.gain_for(first.lead), area.trace_x_mm, "left")]
        g_last = style.gain_for(last.lead)
        right_edge = last.x_mm + last.width_mm + 0.2 * style.paper_speed_mm_s + 4
        if g_last != gains[0][0] and right_edge <= area.right_mm:
            gains.append((g_last, right_edge, "right"))
        for gain, right_mm, side in gains:
            pts = draw.calibration_pulse_mm(right_mm, first.baseline_mm, gain, style.paper_speed_mm_s) * px_per_mm
            ink_layer.add(pts, cal_mask)
            points[f"cal{len(out)}"] = pts
            out.append({"row": row, "side": side, "mm_per_mv": gain, "mv": 1.0, "ms": 200.0})
    return out


def _dotted_separators(ink_layer, panels: list[Panel], grid_box, px_per_mm: float, mask) -> None:
    """Full-height dashed lines (1 mm on, 1 mm off) where columns change, as thermal printers draw."""
    xs = sorted({p.x_mm for p in panels if p.column > 0})
    top, bottom = grid_box[1], max(p.bottom_mm for p in panels if not p.is_rhythm) if any(
        not p.is_rhythm for p in panels) else grid_box[3]
    ys = np.arange(top, bottom - 0.5, 2.0)
    for x in xs:  # one polyline per column, NaN between dashes (drawn as separate runs)
        dashes = np.full((3 * len(ys), 2), np.nan)
        dashes[0::3, 0] = dashes[1::3, 0] = x
        dashes[0::3, 1], dashes[1::3, 1] = ys, ys + 1.0
        ink_layer.add(dashes * px_per_mm, mask)


def _draw_header_footer(ink_layer, style: PaperStyle, fs: float, seed: int, px_per_mm: float, text_mask,
                        points: dict, signal_info=None) -> list[dict]:
    texts = []
    text_mm = style.header_size_mm or style.label_size_mm
    size_px = int(round(text_mm * px_per_mm))
    margin_mm = style.margin_mm

    def put(s: str, x_mm: float, y_mm: float, kind: str):
        box = text.ink_text(ink_layer, s, x_mm * px_per_mm, y_mm * px_per_mm, size_px, style.font, text_mask)
        points[f"text{len(texts)}"] = _quad(*box) - 0.5
        texts.append({"text": s, "kind": kind})

    if style.header:
        w_mm = style.page_size_mm[0]
        arr, leads, facts = signal_info
        rate = heart_rate_bpm(arr, fs, leads)
        columns = header_lines(np.random.default_rng([seed, 0]), rate, facts)
        col_x = [margin_mm, margin_mm + 0.30 * (w_mm - 2 * margin_mm), margin_mm + 0.60 * (w_mm - 2 * margin_mm)]
        for x_mm, lines, kind in zip(col_x, columns, ("demographics", "measurements", "statement")):
            for j, line in enumerate(lines[:5]):
                put(line, x_mm, margin_mm + j * (text_mm + 1.2), kind)
    if style.footer:
        h_mm = style.page_size_mm[1]
        put(footer_text(style.paper_speed_mm_s, style.limb_gain_mm_mv, style.chest_gain_mm_mv, fs),
            margin_mm, h_mm - margin_mm - text_mm - 0.5, "footer")
    return texts
