"""Plan what the capture frames (framing) and how the camera/scanner records it (camera model).

Framing decides the output frame before anything is resampled: a tight crop of the lead grid or
the whole sheet filling the frame. With a fixed ``out_size`` a whole-sheet frame is widened to
that aspect ratio, while a tight frame keeps its own and is padded with white inside the output
at the very end (a letterboxed scan); px per mm stays isotropic either way. The page is first
resized so the frame is already at output resolution: the warp then resamples at ~1:1 and thin
traces never alias.

The camera model runs after the page geometry, at the capture resolution: real scans measure a
median 4.35 px/mm, so whole pages are resampled to a drawn capture scale; exposure and white
balance, sensor noise, sharpening and JPEG happen there, then the resample of an upload or viewer
and often a second JPEG (its blocks then no longer sit on the first one's 8 px grid). With a fixed
``out_size`` coarser than the capture, a photo would reach the model downsampled: its JPEG blocks
are averaged away (left out here) but most of its noise texture survives (kept).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from render import degrade_geometry as geo
from render.degrade_spec import CameraSpec, FramingSpec

# white-balance families (R, G, B gains before normalisation); weights from the 52 real scans:
# most are warm/beige photos of thermal paper or neutral scans, a few grey or cool
_CASTS = {"neutral": ((1.0, 1.0, 1.0), 0.30), "warm": ((1.0, 0.965, 0.9), 0.28),
          "beige": ((1.0, 0.94, 0.84), 0.17), "grey": ((0.97, 0.97, 0.97), 0.15),
          "cool": ((0.95, 0.98, 1.0), 0.10)}


def _u(rng: np.random.Generator, lo_hi) -> float:
    lo, hi = lo_hi
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def plan_framing(spec: FramingSpec, rng: np.random.Generator, page_hw: tuple[int, int],
                 content_box_px, out_hw: tuple[int, int] | None) -> dict[str, Any]:
    """Frame box on the page (page px), output size, and the size to resize the page to first."""
    ph, pw = page_hw
    if spec.mode == "tight" and content_box_px is not None:
        x0, y0, x1, y1 = (float(v) for v in content_box_px)
    else:
        x0, y0, x1, y1 = -0.5, -0.5, pw - 0.5, ph - 0.5
    bw, bh = x1 - x0, y1 - y0
    margins = [_u(rng, spec.margin_frac) for _ in range(4)]
    x0, x1 = x0 - margins[0] * bw, x1 + margins[2] * bw
    y0, y1 = y0 - margins[1] * bh, y1 + margins[3] * bh
    pad = None
    if out_hw is not None and spec.mode == "tight":
        # A tight crop keeps its own aspect (real tight scans are ~2:1, wider than any page) and
        # is padded inside the output with white after every effect, as a letterboxed scan is;
        # widening it to the output aspect would show table/scanner bed real crops never have.
        scale = min(out_hw[1] / (x1 - x0), out_hw[0] / (y1 - y0))
        frame_hw = (int(min(out_hw[0], max(8, round((y1 - y0) * scale)))),
                    int(min(out_hw[1], max(8, round((x1 - x0) * scale)))))
        # widen the box a fraction of a pixel so that it has exactly the rounded frame's aspect
        scale = min(frame_hw[1] / (x1 - x0), frame_hw[0] / (y1 - y0))
        cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, frame_hw[1] / scale / 2, frame_hw[0] / scale / 2
        x0, x1, y0, y1 = cx - hx, cx + hx, cy - hy, cy + hy
        if tuple(frame_hw) != tuple(out_hw):
            pad = {"to_hw": [int(v) for v in out_hw],
                   "offset_yx": [(out_hw[0] - frame_hw[0]) // 2, (out_hw[1] - frame_hw[1]) // 2]}
    elif out_hw is not None:  # widen the short way around the centre to the output aspect
        aspect = out_hw[1] / out_hw[0]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if (x1 - x0) / (y1 - y0) < aspect:
            half = (y1 - y0) * aspect / 2
            x0, x1 = cx - half, cx + half
        else:
            half = (x1 - x0) / aspect / 2
            y0, y1 = cy - half, cy + half
        scale = out_hw[1] / (x1 - x0)
        frame_hw = tuple(int(v) for v in out_hw)
    else:
        scale = 1.0
        frame_hw = (max(8, int(round(y1 - y0))), max(8, int(round(x1 - x0))))
    resize = min(1.0, scale)  # shrink the page first so the frame is at output resolution
    work_hw = (max(8, int(round(ph * resize))), max(8, int(round(pw * resize))))
    out = {"mode": spec.mode, "box_page_px": [x0, y0, x1, y1], "out_hw": list(frame_hw),
           "work_hw": list(work_hw)}
    if pad is not None:
        out["pad"] = pad
    return out


def frame_matrix(framing: dict[str, Any], page_hw: tuple[int, int]) -> np.ndarray:
    """3x3 map from working-image pixel centres to output-frame pixel centres: the frame box's
    edges land on the output's edges (-0.5 and size - 0.5)."""
    page_to_work = geo.resize_plan(page_hw, tuple(framing["work_hw"]))[1]
    x0, y0, x1, y1 = framing["box_page_px"]
    (bx0, by0), (bx1, by1) = geo.apply_homography_to_points(page_to_work, np.array([[x0, y0], [x1, y1]]))
    oh, ow = framing["out_hw"]
    sx, sy = ow / (bx1 - bx0), oh / (by1 - by0)
    return np.array([[sx, 0.0, -0.5 - bx0 * sx], [0.0, sy, -0.5 - by0 * sy], [0.0, 0.0, 1.0]])


def _exposure(c: CameraSpec, rng: np.random.Generator) -> dict[str, Any]:
    names = list(_CASTS)
    p = np.asarray([_CASTS[n][1] for n in names])
    family = names[int(rng.choice(len(names), p=p / p.sum()))]
    gains = np.asarray(_CASTS[family][0]) * (1.0 + rng.normal(0.0, c.cast, 3))
    gains = gains / gains.max() * _u(rng, c.paper_level)
    black = _u(rng, c.black_lift) * 255.0 * np.asarray(_CASTS[family][0])
    step = {"op": "exposure", "cast": family, "gain_rgb": gains.tolist(), "black_rgb": black.tolist()}
    k = _u(rng, c.desaturate) if c.desaturate[1] > 0 else 0.0
    if k > 0:
        step["desaturate"] = k
    return step


def plan_camera(c: CameraSpec, rng: np.random.Generator, hw: tuple[int, int], px_per_mm: float,
                fixed_size: bool) -> list[dict[str, Any]]:
    """Concrete capture steps for an image of size hw at px_per_mm (see the module docstring)."""
    median, sigma = c.capture_px_per_mm
    capture_ppm = float(np.clip(np.exp(rng.normal(np.log(median), sigma)), 0.5, 20.0))
    ratio = capture_ppm / px_per_mm
    steps: list[dict[str, Any]] = []
    h, w = hw
    capture_hw = (max(8, int(round(h * ratio))), max(8, int(round(w * ratio))))
    resampled = not fixed_size or ratio < 0.95
    if resampled and capture_hw != (h, w):
        steps.append({"op": "resize", "to_hw": list(capture_hw), "why": "capture",
                      "capture_px_per_mm": capture_ppm})
    steps.append(_exposure(c, rng))
    # Kept at full strength when the capture is finer than hw: real scans shrunk to a training
    # size keep most of their flat-region texture (measured: residual 5.9 grey levels at 256 px
    # vs 7.2 at full size), since demosaiced/JPEG noise is correlated over several pixels.
    std = _u(rng, c.noise_std)
    if not resampled and ratio > 1.0:
        # ... but not all of it: per-pixel noise at the training size carries far more edge
        # energy than the correlated texture that survives (letterboxed at 256 px, real scans
        # have Sobel p90 76 vs 145 for ours with the full std): std / ratio**0.3
        std *= ratio ** -0.3
    # Chroma noise only where a JPEG follows: its 4:2:0 chroma subsampling averages the colour
    # speckle into the faint tint real scans keep. At a training size (no JPEG step) per-pixel
    # chroma noise put 10-23 % of the saturated pixels of one view in ten at green/blue/purple
    # hues, where the real scans cut to their grid have none (benchmarks/render_realism.py features:
    # train-page 0.953 -> 0.924, train-grid 0.984 -> 0.976)
    chroma = float(c.chroma_noise) if resampled else 0.0
    steps.append({"op": "noise", "seed": int(rng.integers(0, 2**31 - 1)), "std": std,
                  "per_channel": True, "scale": 1.0, "chroma": chroma})
    amount = _u(rng, c.sharpen)
    if amount > 0.05:
        steps.append({"op": "sharpen", "amount": amount, "sigma_px": float(rng.uniform(0.7, 1.4))})
    q1 = int(rng.integers(c.jpeg_quality[0], c.jpeg_quality[1] + 1))
    r = _u(rng, c.resample)
    second = bool(rng.random() < c.second_jpeg_prob)
    q2 = int(rng.integers(c.second_jpeg_quality[0], c.second_jpeg_quality[1] + 1))
    if not resampled:
        return steps
    steps.append({"op": "jpeg", "quality": q1})
    if fixed_size:
        steps.append({"op": "resize", "to_hw": [h, w], "why": "delivered"})
    elif r < 0.98:
        # bilinear, as upload pipelines and viewers resample; an area filter this close to 1:1
        # blurs like a defocus: the minor grid's band (0.19-0.31 cycles/px at the real
        # 4.35 px/mm) lost ~0.1 log10 of power against the real scans
        steps.append({"op": "resize", "to_hw": [max(8, int(round(capture_hw[0] * r))),
                                                max(8, int(round(capture_hw[1] * r)))], "why": "delivered",
                      "interp": "linear"})
    if second:
        steps.append({"op": "jpeg", "quality": q2})
    return steps
