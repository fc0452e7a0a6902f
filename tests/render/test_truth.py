"""Truth after degradations (render + degrade helper's apply_degradations): points stay on the ink."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import render
from render import PaperStyle

degrade = pytest.importorskip("render.degrade")


def xy(panel: dict) -> np.ndarray:
    """A truth panel's per-sample points as an (n, 2) array (null gaps -> NaN)."""
    return np.stack([np.asarray(panel["x"], np.float64), np.asarray(panel["y"], np.float64)], axis=1)


def ink_map(image: np.ndarray, adaptive: bool) -> np.ndarray:
    """255 where a pixel is trace-coloured: dark in every channel (grid lines stay bright in their
    own colour's channel), absolutely or, under lighting/colour effects, relative to its
    neighbourhood."""
    grey = np.ascontiguousarray(image.max(axis=2))
    if not adaptive:
        return np.where(grey < 110, 255, 0).astype(np.uint8)
    block = max(3, (min(grey.shape) // 40) | 1)
    return cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 25)


def fraction_near_ink(rendered, adaptive: bool, shift_px: float = 0.0, radius_px: float = 2.0) -> float:
    ink = ink_map(rendered.image, adaptive)
    dist = cv2.distanceTransform(255 - ink, cv2.DIST_L2, 5)
    pts = np.concatenate([xy(p) for p in rendered.truth["panels"]])
    pix = np.round(pts + [0.0, shift_px]).astype(int)
    h, w = dist.shape
    inside = (pix[:, 0] >= 0) & (pix[:, 0] < w) & (pix[:, 1] >= 0) & (pix[:, 1] < h)
    assert inside.mean() > 0.9
    return float((dist[pix[inside, 1], pix[inside, 0]] <= radius_px).mean())


def geometric_only(name: str):
    p = degrade.DEGRADE_PRESETS[name]
    return degrade.DegradeSpec(rotation=p.rotation, perspective=p.perspective, curl=p.curl, crop=p.crop,
                               framing=p.framing, ripple=p.ripple, background=p.background)


# ("scan", 384): a tight ~2:1 frame letterboxed into a square, i.e. through the final "pad" step
@pytest.mark.parametrize("preset, out_size", [("scan", None), ("photo", None), ("phone-bad", None),
                                              ("phone-bad", 512), ("photo-page", None), ("photo", 512),
                                              ("scan", 384)])
def test_points_follow_geometric_degradations(ptbxl_records, preset, out_size):
    sig, fs, leads = ptbxl_records[2]
    r = render.render(sig, fs, leads, style=PaperStyle(dpi=150), degrade=geometric_only(preset), seed=5,
                      out_size=out_size)
    assert r.truth["geometric_degradation"]
    assert fraction_near_ink(r, adaptive=out_size is not None) >= 0.95
    # control: the same points moved 8 px off the trace mostly miss it, so the check has teeth
    assert fraction_near_ink(r, adaptive=out_size is not None, shift_px=8.0) < 0.7


# Full presets add lighting, blur, noise and JPEG, so "trace-coloured" is judged locally (adaptive
# threshold); the heaviest preset ("phone-bad") can hide ink from that detector, so its geometry
# is checked above without the photometric steps.
@pytest.mark.parametrize("preset, out_size", [("scan", None), ("photo", None), ("photo", 512),
                                              ("photocopy", 512), ("photo-page", None), ("photo-page", 384),
                                              ("scan", (300, 400))])
def test_points_follow_full_presets(ptbxl_records, preset, out_size):
    sig, fs, leads = ptbxl_records[0]
    r = render.render(sig, fs, leads, style=PaperStyle(dpi=150), degrade=preset, seed=2,
                      out_size=out_size)
    if out_size:
        assert r.image.shape[:2] == ((out_size, out_size) if np.isscalar(out_size) else out_size)
    assert fraction_near_ink(r, adaptive=True) >= 0.95
    json.dumps(r.truth, allow_nan=False)


def test_masks_follow_degradations(synthetic_record):
    sig, fs, leads = synthetic_record
    r = render.render(sig, fs, leads, style=PaperStyle(dpi=150), degrade=geometric_only("photo"),
                      seed=4, masks=True)
    trace = np.zeros(r.image.shape[:2], bool)
    for key, m in r.masks.items():
        assert m.shape == r.image.shape[:2]
        if key.startswith("lead:"):
            trace |= m > 0
    near_ink = cv2.distanceTransform(255 - ink_map(r.image, adaptive=True), cv2.DIST_L2, 5) <= 1.0
    assert near_ink[trace].mean() > 0.9
    shifted = np.roll(trace, 12, axis=0)  # control: a misaligned mask scores low
    assert near_ink[shifted].mean() < 0.6


def test_degraded_render_is_deterministic_and_seeded(synthetic_record):
    sig, fs, leads = synthetic_record
    kw = dict(layout="3x4", style=PaperStyle(dpi=100), degrade="photo", out_size=(256, 320))
    a = render.render(sig, fs, leads, seed=9, **kw)
    b = render.render(sig, fs, leads, seed=9, **kw)
    c = render.render(sig, fs, leads, seed=10, **kw)
    assert a.image.tobytes() == b.image.tobytes()
    assert json.dumps(a.truth, sort_keys=True) == json.dumps(b.truth, sort_keys=True)
    assert a.image.tobytes() != c.image.tobytes()
    assert a.truth["degrade_record"] != c.truth["degrade_record"]
    again = render.render(sig, fs, leads, **json.loads(json.dumps(a.truth["params"])))
    assert again.image.tobytes() == a.image.tobytes()


def test_random_spec_pages_render(synthetic_record):
    sig, fs, leads = synthetic_record
    rng = np.random.default_rng(0)
    for i in range(4):
        layout, style, spec = render.random_spec(rng, dpi=72)
        r = render.render(sig, fs, leads, layout=layout, style=style, degrade=spec, seed=i, out_size=256)
        assert r.image.shape == (256, 256, 3) and r.image.dtype == np.uint8
        assert r.truth["params"]["layout"]["name"] == layout.name
