"""Ground truth: carry every geometric truth item through resize/degradations, then write JSON.

All geometry (trace points, baselines, cells, label and text quads, calibration pulses, page
corners) travels as named (n, 2) point arrays through exactly the transform the image got, so the
truth stays in final-image pixel coordinates whatever happens to the page.
"""
from __future__ import annotations

import cv2
import numpy as np

from .draw import finite_rows


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


def _nulls(values: list) -> list:
    """NaN -> None (JSON null) in a flat or [[x, y], ...] list."""
    if values and isinstance(values[0], list):
        return [[None if v != v else v for v in row] for row in values]
    return [None if v != v else v for v in values]


class _TruthPoints:
    """Every truth item's points as one array, rounded and listed once for the JSON.

    A page has ~40 items (13 panels of up to 5000 samples, cells, labels, text); per-item numpy
    calls (round, tolist, isfinite, min/max) cost ~5 ms a page, the same work on one array ~1 ms.
    """

    def __init__(self, points: dict[str, np.ndarray]):
        keys = list(points)
        sizes = [len(points[k]) for k in keys]
        stops = np.cumsum(sizes)
        self.span = {k: (int(b - n), int(b)) for k, n, b in zip(keys, sizes, stops)}
        flat = np.concatenate([np.asarray(points[k], np.float64).reshape(-1, 2) for k in keys])
        self.rounded = np.round(flat, 3)  # 1/1000 px: stable JSON, far below drawing precision
        ok = finite_rows(flat)
        self.ok, self.all_finite = ok, bool(ok.all())
        # per-item bbox over finite points (+-inf stands in for the others), one reduceat per side
        nonempty = [k for k, n in zip(keys, sizes) if n]
        starts = np.asarray([self.span[k][0] for k in nonempty], np.intp)
        self._boxes: dict[str, list[float] | None] = {}
        if nonempty:
            mins = np.minimum.reduceat(np.where(ok[:, None], flat, np.inf), starts).tolist()
            maxs = np.maximum.reduceat(np.where(ok[:, None], flat, -np.inf), starts).tolist()
            for k, (x0, y0), (x1, y1) in zip(nonempty, mins, maxs):
                self._boxes[k] = None if x0 == np.inf else [round(v, 3) for v in (x0, y0, x1, y1)]
        self._columns = None

    def _finite(self, k: str) -> bool:
        a, b = self.span[k]
        return self.all_finite or bool(self.ok[a:b].all())

    def pairs(self, k: str) -> list:
        """[[x, y], ...] rounded; NaN gaps become null."""
        a, b = self.span[k]
        out = self.rounded[a:b].tolist()
        return out if self._finite(k) else _nulls(out)

    def column(self, k: str, axis: int) -> list:
        """The item's x (axis 0) or y (axis 1) values as one flat list."""
        if self._columns is None:
            self._columns = (self.rounded[:, 0].tolist(), self.rounded[:, 1].tolist())
        a, b = self.span[k]
        out = self._columns[axis][a:b]
        return out if self._finite(k) else _nulls(out)

    def bbox(self, k: str) -> list[float] | None:
        """[x0, y0, x1, y1] of the item's finite points (None when it has none)."""
        return self._boxes.get(k)


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
    tp = _TruthPoints(points)
    panels = []
    for k, info in enumerate(panel_info):
        baseline = points[f"baseline{k}"]
        panels.append({
            **info,
            "x0": round(float(baseline[0, 0]), 4),
            "baseline_y": round(float(baseline[:, 1].mean()), 4),
            "baseline": tp.pairs(f"baseline{k}"),
            # one x and one y per plotted sample (column lists: 5x cheaper than [[x, y], ...])
            "x": tp.column(f"panel{k}", 0),
            "y": tp.column(f"panel{k}", 1),
            "n_visible": int(_inside(points[f"panel{k}"], hw).sum()),
            "lead_box": tp.bbox(f"panel{k}"),
            "cell_quad": tp.pairs(f"cell{k}"),
            "label_quad": tp.pairs(f"label{k}"),
            "label_box": tp.bbox(f"label{k}"),
        })
    cal = [{**c, "points": tp.pairs(f"cal{i}")} for i, c in enumerate(calibration)]
    txt = [{**t, "quad": tp.pairs(f"text{i}"), "box": tp.bbox(f"text{i}")} for i, t in enumerate(texts)]
    truth = {
        **base,
        "image_size": [int(hw[0]), int(hw[1])],
        "px_per_mm": base["px_per_mm"] * (sx + sy) / 2 if abs(sx - sy) <= 1e-2 * max(sx, sy) else None,
        "px_per_mm_xy": [base["px_per_mm"] * sx, base["px_per_mm"] * sy],
        "page_px_per_mm": base["px_per_mm"],
        "page_corners": tp.pairs("page"),
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
