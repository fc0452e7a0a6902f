"""Draw the concrete parameters of every enabled effect (the JSON record) from a seeded generator.

Planning is separate from execution so a record fully documents and reproduces an image, and so
all randomness comes from the caller's ``numpy.random.Generator`` (noise fields get an integer
seed drawn here). Sizes in the spec are fractions of the short side; here they become pixels.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from render import degrade_geometry as geo
from render.degrade_capture import frame_matrix
from render.degrade_spec import DegradeSpec

_MAX_CURL_LIPSCHITZ = 0.6  # keeps the curl field invertible by fixed-point iteration
_TABLE_COLOURS = ((96, 66, 44), (140, 104, 70), (118, 118, 124), (40, 40, 44), (196, 194, 188))


def _u(rng: np.random.Generator, lo_hi) -> float:
    lo, hi = lo_hi
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _crease_lines(spec, rng, hw) -> list[dict[str, float]]:
    """Fold lines are near horizontal or vertical (paper folded to fit an envelope or chart)."""
    h, w = hw
    short = min(h, w)
    lines = []
    for _ in range(int(rng.integers(1, spec.max_count + 1))):
        horizontal = bool(rng.random() < 0.6)
        angle = (np.pi / 2 if horizontal else 0.0) + float(rng.normal(0.0, 0.03))
        extent = h if horizontal else w
        depth = _u(rng, spec.depth)
        lines.append({
            "angle_rad": angle, "offset_px": float(rng.uniform(0.2, 0.8) * extent),
            "width_px": max(1.0, float(rng.uniform(0.002, 0.006) * short)), "depth": depth,
            "highlight": depth * float(rng.uniform(0.2, 0.6)),
            "shade_step": float(rng.uniform(-0.03, 0.03)),
        })
    return lines


def _shadow_polygon(rng: np.random.Generator) -> list[list[float]]:
    """A shadow cast by a hand or phone: enters from one side of the frame and reaches 15-60% of
    the way across with a wavy front (normalised [0, 1] image coordinates, may extend outside)."""
    depth = rng.uniform(0.15, 0.6)
    along = np.sort(rng.uniform(-0.1, 1.1, size=2))
    front = np.linspace(along[0], along[1], 4)
    reach = depth * rng.uniform(0.6, 1.0, size=4)
    pts = [[along[0], -0.2]] + [[a, r] for a, r in zip(front, reach)] + [[along[1], -0.2]]
    pts = np.asarray(pts)  # (along the side, into the frame) for the top side; rotate to a side
    side = int(rng.integers(4))
    if side == 1:
        pts = np.stack([1.0 - pts[:, 1], pts[:, 0]], axis=1)
    elif side == 2:
        pts = np.stack([pts[:, 0], 1.0 - pts[:, 1]], axis=1)
    elif side == 3:
        pts = np.stack([pts[:, 1], pts[:, 0]], axis=1)
    return pts.tolist()


def plan_photometric(spec: DegradeSpec, rng: np.random.Generator, hw: tuple[int, int]
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(page steps applied before the geometry, camera/scanner steps applied after it)."""
    short = min(hw)
    paper: list[dict[str, Any]] = []
    camera: list[dict[str, Any]] = []
    if spec.paper is not None:
        loss = rng.uniform(0.3, 1.0, size=3) * rng.uniform(0.0, spec.paper.tint)
        loss[2] = loss.max()  # paper ages towards yellow: blue goes first
        paper.append({"op": "paper_tint", "rgb_gain": (1.0 - loss).tolist()})
    if spec.creases is not None:
        paper.append({"op": "creases", "lines": _crease_lines(spec.creases, rng, hw)})
    if spec.wrinkles is not None:
        lo, hi = spec.wrinkles.cells
        paper.append({"op": "wrinkles", "seed": _seed(rng), "cells": int(rng.integers(lo, hi + 1)),
                      "strength": _u(rng, spec.wrinkles.strength),
                      "light_angle_rad": float(rng.uniform(0, 2 * np.pi))})
    if spec.lighting is not None:
        light = spec.lighting
        shadows = []
        for _ in range(int(rng.integers(0, light.max_shadows + 1))):
            shadows.append({"polygon": _shadow_polygon(rng), "darkness": _u(rng, light.shadow_darkness),
                            "softness": float(rng.uniform(0.03, 0.12))})
        camera.append({"op": "lighting", "auto_exposure": bool(light.auto_exposure),
                       "gradient": _u(rng, light.gradient),
                       "gradient_angle_rad": float(rng.uniform(0, 2 * np.pi)),
                       "vignette": _u(rng, light.vignette), "shadows": shadows})
        if light.max_glare > 0:
            camera[-1]["glare"] = [{"centre": rng.uniform(0.1, 0.9, 2).tolist(),
                                    "radius": float(rng.uniform(0.05, 0.2)),
                                    "aspect": float(rng.uniform(0.5, 1.5)),
                                    "strength": _u(rng, light.glare_strength)}
                                   for _ in range(int(rng.integers(0, light.max_glare + 1)))]
    if spec.blur is not None:
        kind = str(spec.blur.kinds[int(rng.integers(len(spec.blur.kinds)))])
        size = _u(rng, spec.blur.size_frac) * short
        step: dict[str, Any] = {"op": "blur", "kind": kind, "seed": _seed(rng)}
        if kind == "gaussian":
            step["sigma_px"] = max(0.3, size)
        elif kind == "motion":
            step["kernel_px"] = 2 * max(1, round(size * 1.5)) + 1
            step["angle_deg"] = float(rng.uniform(0, 180))
        else:
            step["radius_px"] = max(0.7, size)
        camera.append(step)
    if spec.colour is not None:
        c = spec.colour
        camera.append({"op": "colour", "seed": _seed(rng),
                       "brightness": _u(rng, (1 - c.brightness, 1 + c.brightness)),
                       "contrast": _u(rng, (1 - c.contrast, 1 + c.contrast)),
                       "saturation": _u(rng, (1 - c.saturation, 1 + c.saturation)),
                       "hue": _u(rng, (-c.hue, c.hue))})
    if spec.black_white is not None:
        if spec.black_white.mode == "photocopy":
            camera.append({"op": "black_white", "mode": "photocopy", "seed": _seed(rng),
                           "colour_dropout": float(rng.uniform(0.0, 1.0)),
                           "threshold": float(rng.uniform(0.12, 0.3)),
                           "steepness": float(rng.uniform(15, 35)),
                           "paper_white": float(rng.uniform(0.93, 1.0)),
                           "speckle": float(rng.uniform(0, 0.0008)),
                           "streaks": int(rng.integers(0, 3))})
        else:
            camera.append({"op": "black_white", "mode": "fax", "seed": _seed(rng),
                           "colour_dropout": float(rng.uniform(0.3, 1.0)),
                           "threshold": float(rng.uniform(0.15, 0.35)),
                           "dither": float(rng.uniform(0.0, 0.3)),
                           "speckle": float(rng.uniform(0, 0.0005))})
    if spec.noise is not None:
        camera.append({"op": "noise", "seed": _seed(rng), "std": _u(rng, spec.noise.std),
                       "per_channel": bool(spec.noise.chromatic),
                       "scale": 0.5 if spec.noise.chromatic else 1.0})
    if spec.jpeg is not None:
        lo, hi = spec.jpeg.quality
        camera.append({"op": "jpeg", "quality": int(rng.integers(lo, hi + 1))})
    return paper, camera


def _border_rgb(spec: DegradeSpec, rng: np.random.Generator) -> list[int]:
    if spec.background == "table":
        base = np.asarray(_TABLE_COLOURS[int(rng.integers(len(_TABLE_COLOURS)))], np.float64)
        return np.clip(base * rng.uniform(0.8, 1.2), 0, 255).round().astype(int).tolist()
    return [int(v) for v in rng.integers(238, 256, size=3)]  # scanner lid: near white


def _plan_curl(spec, rng, hw, paper_steps) -> dict[str, Any]:
    h, w = hw
    short = min(h, w)
    curl: dict[str, Any] = {"bow_px": float(rng.uniform(-1, 1) * spec.bow_frac * short),
                            "bow_tilt": float(rng.uniform(-0.6, 0.6)), "folds": []}
    if rng.random() < spec.edge_prob:
        side = ("left", "right", "top", "bottom")[int(rng.integers(4))]
        extent = _u(rng, spec.edge_extent)
        length = w if side in ("left", "right") else h
        curl["edge"] = {"side": side, "extent": extent,
                        "amount_px": float(rng.uniform(0.05, 0.2) * extent * length)}
    creases = [ln for s in paper_steps if s["op"] == "creases" for ln in s["lines"]]
    for i in range(int(rng.integers(0, spec.max_folds + 1))):
        if i < len(creases):  # a fold where the paper shows a crease
            angle, offset = creases[i]["angle_rad"], creases[i]["offset_px"]
        else:
            horizontal = bool(rng.random() < 0.6)
            angle = np.pi / 2 if horizontal else 0.0
            offset = float(rng.uniform(0.2, 0.8) * (h if horizontal else w))
        width = max(2.0, float(rng.uniform(0.004, 0.01) * short))
        curl["folds"].append({"angle_rad": float(angle), "offset_px": float(offset),
                              "width_px": width, "shift_px": float(rng.uniform(0.15, 0.35) * width)})
    bound = geo.curl_lipschitz_bound(hw, curl)
    if bound > _MAX_CURL_LIPSCHITZ:  # shrink every amplitude so the field stays invertible
        k = _MAX_CURL_LIPSCHITZ / bound
        curl["bow_px"] *= k
        if "edge" in curl:
            curl["edge"]["amount_px"] *= k
        for fold in curl["folds"]:
            fold["shift_px"] *= k
    return curl


def _plan_ripple(spec, rng, hw, px_per_mm: float) -> list[dict[str, float]]:
    """Three plane waves of random direction; amplitudes in px from mm at this resolution."""
    short = min(hw)
    waves = []
    for _ in range(3):
        k = 2 * np.pi / (_u(rng, spec.wavelength_frac) * short)
        theta = float(rng.uniform(0, np.pi))
        amp = _u(rng, spec.amplitude_mm) * px_per_mm / np.sqrt(3)
        along = float(rng.uniform(0, 2 * np.pi))
        waves.append({"kx": k * float(np.cos(theta)), "ky": k * float(np.sin(theta)),
                      "phase": float(rng.uniform(0, 2 * np.pi)),
                      "ax": amp * float(np.cos(along)), "ay": amp * float(np.sin(along))})
    return waves


def plan_geometry(spec: DegradeSpec, rng: np.random.Generator, hw: tuple[int, int],
                  paper_steps: list[dict[str, Any]], framing: dict[str, Any] | None = None,
                  page_hw: tuple[int, int] | None = None, px_per_mm: float | None = None
                  ) -> dict[str, Any] | None:
    """One fused geometry step (curl field + homography), or None when no geometric effect is on.

    ``hw`` is the working image size; with ``framing`` (from ``degrade_capture.plan_framing``,
    planned on the ``page_hw`` page) the output is the framed box at ``framing["out_hw"]``.
    """
    if all(getattr(spec, n) is None for n in ("rotation", "perspective", "curl", "crop", "ripple")) \
            and framing is None:
        return None
    out_hw = tuple(framing["out_hw"]) if framing is not None else tuple(hw)
    short = min(out_hw)
    rotation_deg = _u(rng, (-spec.rotation.max_deg, spec.rotation.max_deg)) if spec.rotation else 0.0
    page_scale, shift = 1.0, np.zeros((4, 2))
    if spec.perspective is not None:
        page_scale = _u(rng, spec.perspective.page_scale)
        shift = rng.uniform(-1, 1, size=(4, 2)) * spec.perspective.max_corner_frac * short
    h, w = out_hw
    crop_box = (0.0, 0.0, float(w - 1), float(h - 1))
    if spec.crop is not None:
        cut = rng.uniform(0, spec.crop.max_frac, size=4) * [w, h, w, h]
        crop_box = (float(cut[0]), float(cut[1]), float(w - 1 - cut[2]), float(h - 1 - cut[3]))
    parts = geo.homography_from_parts(out_hw, rotation_deg, page_scale, shift, crop_box)
    total = parts["total"]
    if framing is not None:
        frame = frame_matrix(framing, page_hw)
        total = total @ frame
        total = total / total[2, 2]
    step: dict[str, Any] = {
        "op": "geometry", "rotation_deg": rotation_deg, "page_scale": page_scale,
        "corner_shift_px": shift.tolist(), "crop_box_px": list(crop_box),
        "homography_parts": {k: v.tolist() for k, v in parts.items() if k != "total"},
        "matrix": total.tolist(), "border_rgb": _border_rgb(spec, rng),
        "curl": _plan_curl(spec.curl, rng, hw, paper_steps) if spec.curl is not None else None,
    }
    if framing is not None:
        step["homography_parts"]["frame"] = frame.tolist()
        step["framing"] = framing
        step["out_hw"] = list(out_hw)
    if spec.ripple is not None:
        ripple_px_per_mm = px_per_mm if px_per_mm else min(hw) / 200.0
        curl = step["curl"] or {"bow_px": 0.0, "folds": []}
        curl["ripple"] = _plan_ripple(spec.ripple, rng, hw, ripple_px_per_mm)
        bound = geo.curl_lipschitz_bound(hw, curl)
        if bound > _MAX_CURL_LIPSCHITZ:  # keep the whole field invertible
            for wave in curl["ripple"]:
                wave["ax"] *= _MAX_CURL_LIPSCHITZ / bound
                wave["ay"] *= _MAX_CURL_LIPSCHITZ / bound
        step["curl"] = curl
    return step
