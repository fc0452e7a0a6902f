"""Ground truth: carry every geometric truth item through resize/degradations, then write JSON.

All geometry (trace points, baselines, cells, label and text quads, calibration pulses, page
corners) travels as named (n, 2) point arrays through exactly the transform the image got, so the
truth stays in final-image pixel coordinates whatever happens to the page.
"""
from __future__ import annotations

import cv2
import numpy as np


def resize_points(points: dict[str, np.ndarray], src_hw, dst_hw) -> dict[str, np.ndarray]:
    """Map pixel-centre coordinates through cv2.resize: x' = (x + 0.5) * W'/W - 0.5."""
    sx, sy = dst_hw[1] / src_hw[1], dst_hw[0] / src_hw[0]
    scale = np.array([sx, sy])
    return {k: (v + 0.5) * scale - 0.5 for k, v in points.items()}


def resize_page(image, masks, points, out_size):
    """Plain resize to the training size (no degradations), truth carried along."""
    src = image.shape[:2]
    interp = cv2.INTER_AREA if out_size[0] < src[0] else cv2.INTER_LINEAR
    image = cv2.resize(image, (out_size[1], out_size[0]), interpolation=interp)
    if masks is not None:
        masks = {k: np.where(cv2.resize(m, (out_size[1], out_size[0]), interpolation=cv2.INTER_AREA) >= 64,
                             np.uint8(255), np.uint8(0)) for k, m in masks.items()}
    return image, masks, resize_points(points, src, out_size)


def _json_points(a: np.ndarray) -> list:
    """Round to 1/1000 px (stable JSON, far below drawing precision); NaN gaps become null."""
    out = np.round(a, 3).tolist()
    if not np.isfinite(a).all():
        out = [[None if v != v else v for v in row] for row in out]
    return out


def _json_column(a: np.ndarray) -> list:
    out = np.round(a, 3).tolist()
    return out if np.isfinite(a).all() else [None if v != v else v for v in out]


def _bbox(a: np.ndarray) -> list[float] | None:
    ok = np.isfinite(a).all(axis=1)
    if not ok.any():
        return None
    lo, hi = a[ok].min(axis=0), a[ok].max(axis=0)
    return [round(float(v), 3) for v in (lo[0], lo[1], hi[0], hi[1])]


def _inside(a: np.ndarray, hw) -> np.ndarray:
    return (a[:, 0] >= -0.5) & (a[:, 0] <= hw[1] - 0.5) & (a[:, 1] >= -0.5) & (a[:, 1] <= hw[0] - 0.5)


def finish(image, masks, points, panel_info, calibration, texts, base, degrade_spec, rng, out_size,
           content_box_px=None):
    """Apply degradations (or the plain resize) and assemble the JSON-serialisable truth.

    ``content_box_px``: the lead grid on the page (x0, y0, x1, y1), what tight framing captures."""
    record = None
    page_hw = image.shape[:2]
    if degrade_spec is not None:
        from .degrade import apply_degradations

        out = apply_degradations(image, points, masks, degrade_spec, rng, out_size,
                                 px_per_mm=base["px_per_mm"], content_box_px=content_box_px)
        image, points, record = out.image, out.points, out.record
        masks = out.masks if masks is not None else None
    elif out_size is not None and tuple(out_size) != tuple(page_hw):
        image, masks, points = resize_page(image, masks, points, out_size)
    hw = image.shape[:2]
    sx, sy = _page_scale(points["page"], page_hw)
    panels = []
    for k, info in enumerate(panel_info):
        pts = points[f"panel{k}"]
        baseline = points[f"baseline{k}"]
        label = points[f"label{k}"]
        panels.append({
            **info,
            "x0": round(float(baseline[0, 0]), 4),
            "baseline_y": round(float(baseline[:, 1].mean()), 4),
            "baseline": _json_points(baseline),
            # one x and one y per plotted sample (column lists: 5x cheaper than [[x, y], ...])
            "x": _json_column(pts[:, 0]),
            "y": _json_column(pts[:, 1]),
            "n_visible": int(_inside(pts, hw).sum()),
            "lead_box": _bbox(pts),
            "cell_quad": _json_points(points[f"cell{k}"]),
            "label_quad": _json_points(label),
            "label_box": _bbox(label),
        })
    cal = [{**c, "points": _json_points(points[f"cal{i}"])} for i, c in enumerate(calibration)]
    txt = [{**t, "quad": _json_points(points[f"text{i}"]), "box": _bbox(points[f"text{i}"])}
           for i, t in enumerate(texts)]
    truth = {
        **base,
        "image_size": [int(hw[0]), int(hw[1])],
        "px_per_mm": base["px_per_mm"] * (sx + sy) / 2 if abs(sx - sy) <= 1e-2 * max(sx, sy) else None,
        "px_per_mm_xy": [base["px_per_mm"] * sx, base["px_per_mm"] * sy],
        "page_px_per_mm": base["px_per_mm"],
        "page_corners": _json_points(points["page"]),
        "geometric_degradation": bool(degrade_spec is not None and _has_geometry(record)),
        "panels": panels,
        "calibration": cal,
        "text": txt,
        "degrade_record": record,
    }
    return image, truth, masks


def _page_scale(corners: np.ndarray, page_hw) -> tuple[float, float]:
    """Output px per page px along x and y, from where the page corners (TL, TR, BR, BL, at pixel
    centres) ended up: exact for resizes and framing, the mean scale under perspective."""
    c = np.asarray(corners, np.float64)
    sx = (np.hypot(*(c[1] - c[0])) + np.hypot(*(c[2] - c[3]))) / 2 / max(page_hw[1] - 1, 1)
    sy = (np.hypot(*(c[3] - c[0])) + np.hypot(*(c[2] - c[1]))) / 2 / max(page_hw[0] - 1, 1)
    return float(sx), float(sy)


def _has_geometry(record) -> bool:
    """Whether any applied step moved pixels other than a plain resize (px_per_mm then nominal)."""
    return any(step.get("op") == "geometry" for step in record or ())
