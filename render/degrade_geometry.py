"""Geometric degradations that move pixels, masks AND ground-truth points together.

Coordinate convention (same as OpenCV's warp functions): pixel (row i, column j) has its centre
at x=j, y=i; a point is an (x, y) float64 pair in that frame.

The whole geometry of a degraded page is one backward map, so the image is resampled only once:

    output pixel o  --H^-1-->  page point q  --curl backward map-->  source pixel s = q + b(q)

* ``H`` is a real 3x3 homography (rotation and zoom about the centre, perspective from four
  jittered corners, crop-and-rescale), applied with ``cv2.warpPerspective`` when there is no curl.
* ``b`` is a smooth, analytically defined backward displacement (page bow, curled edge, folds)
  used directly by ``cv2.remap``. Points need the forward map, ``q`` with ``q + b(q) = p``, which
  we solve by fixed-point iteration ``q <- p - b(q)``; the field's amplitudes are bounded so that
  its Lipschitz constant stays below 0.6 (the planner scales amplitudes down otherwise), which
  makes the iteration a contraction; we stop when a step moves < 1e-5 px (typically 10-15 steps,
  at most 30). The achieved residual |q + b(q) - p| is recorded with the step.
"""
from __future__ import annotations

import cv2
import numpy as np

from render.draw import finite_rows

MASK_COVERAGE_THRESHOLD = 64  # a mask pixel stays "on" if >= 25% of it is covered after resampling
_FIXED_POINT_STEPS = 30
MAP_STEP_PX = 4  # grid step at which the smooth part of the backward map is evaluated


# ----------------------------------------------------------------------------- resize
def resize_matrix(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """3x3 affine that maps source pixel coords to ``cv2.resize`` destination coords (centres)."""
    sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def resize_plan(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> tuple[int, np.ndarray]:
    """(number of pyrDown halvings, 3x3 source -> destination pixel map) of ``resize_image``."""
    matrix = np.eye(3)
    h, w = src_hw
    halvings = 0
    while h >= 2 * dst_hw[0] and w >= 2 * dst_hw[1]:
        h, w = (h + 1) // 2, (w + 1) // 2  # cv2.pyrDown's default size
        matrix = np.diag([0.5, 0.5, 1.0]) @ matrix
        halvings += 1
    if (h, w) != tuple(dst_hw):
        matrix = resize_matrix((h, w), dst_hw) @ matrix
    return halvings, matrix


def resize_image(image: np.ndarray, dst_hw: tuple[int, int], linear: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Resize to (H, W) and return the 3x3 matrix mapping source to destination pixel coords.

    Shrinking halves with ``cv2.pyrDown`` (Gaussian 5x5 then decimate: pixel 2i -> i, a pure
    scale) while the page is still more than twice too large, then area-averages the rest:
    thin traces never alias away, and a 200-DPI letter page reaches 512 px in ~3.5 ms instead
    of ~7.5 ms for one INTER_AREA pass. Growing uses bilinear interpolation. ``linear``: the
    last pass is bilinear when shrinking too (an upload/viewer resample: sharper than area).
    """
    halvings, matrix = resize_plan(image.shape[:2], dst_hw)
    for _ in range(halvings):
        image = cv2.pyrDown(image)
    h, w = image.shape[:2]
    if (h, w) != tuple(dst_hw):
        interp = cv2.INTER_LINEAR if linear or dst_hw[0] * dst_hw[1] >= h * w else cv2.INTER_AREA
        image = cv2.resize(image, (dst_hw[1], dst_hw[0]), interpolation=interp)
    return image, matrix


def binarise_mask(mask: np.ndarray) -> np.ndarray:
    return np.where(mask >= MASK_COVERAGE_THRESHOLD, 255, 0).astype(np.uint8)


# ----------------------------------------------------------------------------- homography
def homography_from_parts(hw: tuple[int, int], rotation_deg: float, page_scale: float,
                          corner_shift_px: np.ndarray, crop_box: tuple[float, float, float, float]
                          ) -> dict[str, np.ndarray]:
    """Compose page->output homography; returns the parts and the total (all 3x3 float64).

    rotation/zoom act about the image centre; ``corner_shift_px`` (4x2) moves the frame corners
    (TL, TR, BR, BL) to make the perspective; ``crop_box`` (x0, y0, x1, y1) in pixels is cut out
    and stretched back to the full frame, so the output keeps the input size.
    """
    h, w = hw
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    rot = np.vstack([cv2.getRotationMatrix2D(centre, rotation_deg, page_scale), [0.0, 0.0, 1.0]])
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    moved = (corners + np.asarray(corner_shift_px, dtype=np.float32)).astype(np.float32)
    persp = cv2.getPerspectiveTransform(corners, moved).astype(np.float64)
    x0, y0, x1, y1 = crop_box
    sx, sy = (w - 1) / max(x1 - x0, 1e-6), (h - 1) / max(y1 - y0, 1e-6)
    crop = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy], [0.0, 0.0, 1.0]])
    total = crop @ persp @ rot
    return {"rotation": rot, "perspective": persp, "crop": crop, "total": total / total[2, 2]}


def apply_homography_to_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return pts.copy()
    out = cv2.perspectiveTransform(pts[None], np.asarray(matrix, dtype=np.float64))[0]
    out[~finite_rows(pts)] = np.nan  # OpenCV maps NaN to 0; keep trace gaps as gaps
    return out


# ----------------------------------------------------------------------------- curl field
def curl_backward_displacement(xs: np.ndarray, ys: np.ndarray, hw: tuple[int, int], curl: dict
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Backward displacement b(q) of the page-curl/fold field at page coords (xs, ys).

    Terms (all amplitudes in px at this resolution):
    * bow: horizontal lines bend into parabolas, stronger towards one page edge (``bow_tilt``);
    * edge curl: the last ``edge_extent`` fraction of one side is compressed (the page curls away
      from the camera), which also reveals the background beyond the edge;
    * folds: across each fold line the content is pulled apart by ``shift_px`` with a tanh
      profile of width ``width_px``: the slight overlap of paper folded flat again.
    """
    h, w = hw
    dtype = np.result_type(xs, ys, np.float32)
    bx = np.zeros(np.broadcast(xs, ys).shape, dtype=dtype)
    by = np.zeros_like(bx)
    u = 2.0 * xs / max(w - 1, 1) - 1.0
    v = 2.0 * ys / max(h - 1, 1) - 1.0
    if curl.get("bow_px", 0.0):
        by += curl["bow_px"] * (u * u - 1.0 / 3.0) * (1.0 + curl.get("bow_tilt", 0.0) * v)
    edge = curl.get("edge")
    if edge and edge.get("amount_px", 0.0):
        side, extent, amount = edge["side"], edge["extent"], edge["amount_px"]
        if side in ("left", "right"):
            t = (u + 1.0) / 2.0 if side == "right" else (1.0 - u) / 2.0
            s = np.clip((t - (1.0 - extent)) / extent, 0.0, 1.5)
            sign = 1.0 if side == "right" else -1.0
            bx += sign * amount * s * s
            by += 0.5 * amount * s * s * v
        else:
            t = (v + 1.0) / 2.0 if side == "bottom" else (1.0 - v) / 2.0
            s = np.clip((t - (1.0 - extent)) / extent, 0.0, 1.5)
            sign = 1.0 if side == "bottom" else -1.0
            by += sign * amount * s * s
            bx += 0.5 * amount * s * s * u
    for fold in curl.get("folds", []):
        nx, ny = float(np.cos(fold["angle_rad"])), float(np.sin(fold["angle_rad"]))
        d = xs * nx + ys * ny - fold["offset_px"]
        prof = fold["shift_px"] * np.tanh(d / fold["width_px"])
        bx += nx * prof
        by += ny * prof
    for wave in curl.get("ripple", []):  # slight non-periodic warp: smooth plane waves
        arg = xs * wave["kx"] + ys * wave["ky"] + wave["phase"]
        s = np.sin(arg)
        bx += wave["ax"] * s
        by += wave["ay"] * s
    return bx, by


def curl_forward_points(points: np.ndarray, hw: tuple[int, int], curl: dict
                        ) -> tuple[np.ndarray, float]:
    """Solve q + b(q) = p for every point by fixed-point iteration; returns (q, max residual px)."""
    p_all = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    finite = finite_rows(p_all)  # gaps (NaN) in a trace stay NaN
    q_all = p_all.copy()
    p = p_all[finite]
    if len(p) == 0:
        return q_all, 0.0
    q = p.copy()
    for _ in range(_FIXED_POINT_STEPS):
        bx, by = curl_backward_displacement(q[:, 0], q[:, 1], hw, curl)
        q_next = p - np.stack([bx, by], axis=1)
        converged = np.max(np.abs(q_next - q)) < 1e-5  # px; the error shrinks >= 2x per step
        q = q_next
        if converged:
            break
    bx, by = curl_backward_displacement(q[:, 0], q[:, 1], hw, curl)
    residual = float(np.max(np.hypot(q[:, 0] + bx - p[:, 0], q[:, 1] + by - p[:, 1])))
    q_all[finite] = q
    return q_all, residual


def curl_lipschitz_bound(hw: tuple[int, int], curl: dict) -> float:
    """A loose upper bound on |grad b| (sum of the terms' maxima): must stay < 1 to invert."""
    h, w = hw
    bound = 0.0
    if curl.get("bow_px", 0.0):
        bound += abs(curl["bow_px"]) * (1 + abs(curl.get("bow_tilt", 0.0))) * (4.0 / w + 2.0 / h)
    edge = curl.get("edge")
    if edge and edge.get("amount_px", 0.0):
        span = edge["extent"] * (w if edge["side"] in ("left", "right") else h)
        bound += 2.0 * abs(edge["amount_px"]) / span * 1.5 + abs(edge["amount_px"]) * 2.0 / min(h, w)
    for fold in curl.get("folds", []):
        bound += abs(fold["shift_px"]) / fold["width_px"]
    for wave in curl.get("ripple", []):
        bound += np.hypot(wave["ax"], wave["ay"]) * np.hypot(wave["kx"], wave["ky"])
    return bound


# ----------------------------------------------------------------------------- warping
def _homography_then_curl(xs: np.ndarray, ys: np.ndarray, inv: list[list[float]],
                          hw: tuple[int, int], curl: dict | None) -> tuple[np.ndarray, np.ndarray]:
    den = inv[2][0] * xs + inv[2][1] * ys + inv[2][2]
    qx = ((inv[0][0] * xs + inv[0][1] * ys + inv[0][2]) / den).astype(np.float32)
    qy = ((inv[1][0] * xs + inv[1][1] * ys + inv[1][2]) / den).astype(np.float32)
    if curl:
        bx, by = curl_backward_displacement(qx, qy, hw, curl)
        qx, qy = qx + bx, qy + by
    return qx, qy


def backward_maps(hw: tuple[int, int], matrix: np.ndarray, curl: dict | None,
                  step_px: int = MAP_STEP_PX, page_hw: tuple[int, int] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """float32 remap tables: output pixel -> source pixel through H^-1 and then the curl field.

    The smooth part (homography, bow, curled edge) is evaluated exactly on a grid every
    ``step_px`` pixels and upsampled bilinearly (error < 0.01 px for these fields: their second
    derivatives are tiny); folds have sharp tanh profiles, so they are added at full resolution.
    ``step_px=1`` evaluates everything exactly at every pixel (used by tests as the reference).
    ``hw`` is the output size; the curl field is defined over the page (``page_hw``, default hw).
    """
    h, w = hw
    page_hw = tuple(page_hw or hw)
    inv = [[float(v) for v in row] for row in np.linalg.inv(np.asarray(matrix, np.float64))]
    smooth = {k: v for k, v in (curl or {}).items() if k != "folds"}
    folds = (curl or {}).get("folds") or []
    if step_px <= 1:
        qx, qy = _homography_then_curl(np.arange(w, dtype=np.float32)[None, :],
                                       np.arange(h, dtype=np.float32)[:, None], inv, page_hw, smooth)
    else:
        # coarse sample k sits where cv2.resize (x s) puts it: x = (k + 0.5) s - 0.5, with one
        # padding sample each side so the border never needs extrapolation; crop afterwards.
        s = int(step_px)
        cw, ch = -(-w // s) + 2, -(-h // s) + 2
        xs = ((np.arange(cw, dtype=np.float32) + 0.5) * s - 0.5 - s)[None, :]
        ys = ((np.arange(ch, dtype=np.float32) + 0.5) * s - 0.5 - s)[:, None]
        cx, cy = _homography_then_curl(xs, ys, inv, page_hw, smooth)
        up = cv2.resize(cv2.merge([cx, cy]), (cw * s, ch * s), interpolation=cv2.INTER_LINEAR)
        qx, qy = cv2.split(up[s:s + h, s:s + w])
    if folds:
        # folds are defined in page coordinates: evaluate at the page point q = H^-1 o
        px, py = _homography_then_curl(np.arange(w, dtype=np.float32)[None, :],
                                       np.arange(h, dtype=np.float32)[:, None], inv, page_hw, None)
        bx, by = curl_backward_displacement(px, py, page_hw, {"folds": folds})
        qx, qy = qx + bx, qy + by
    return np.ascontiguousarray(qx), np.ascontiguousarray(qy)


def warp(image: np.ndarray, masks: dict[str, np.ndarray], matrix: np.ndarray, curl: dict | None,
         border_rgb: tuple[int, int, int], out_hw: tuple[int, int] | None = None
         ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Resample image (bilinear) and masks (bilinear, then re-binarised) through the geometry
    into an output of ``out_hw`` (default: the input size)."""
    h, w = out_hw or image.shape[:2]
    border = tuple(int(c) for c in border_rgb)
    if curl:
        mx, my = backward_maps((h, w), matrix, curl, page_hw=image.shape[:2])

        def resample(img, value):
            return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=value)
    else:
        m = np.asarray(matrix, dtype=np.float64)

        def resample(img, value):
            return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_CONSTANT, borderValue=value)
    out = resample(image, border)
    out_masks = {k: binarise_mask(resample(m_, 0)) for k, m_ in masks.items()}
    return out, out_masks


def map_points(points: np.ndarray, hw: tuple[int, int], matrix: np.ndarray, curl: dict | None
               ) -> tuple[np.ndarray, float]:
    """Forward map of page points to output pixels (curl inverse, then H); returns residual px."""
    q, residual = (curl_forward_points(points, hw, curl) if curl
                   else (np.asarray(points, dtype=np.float64).reshape(-1, 2), 0.0))
    return apply_homography_to_points(matrix, q), residual
