"""Photometric steps: pixel values only, uint8 RGB in and out, each doing what it claims."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from render import degrade_photometric as photo


def page(h: int = 128, w: int = 160) -> np.ndarray:
    image = np.full((h, w, 3), 235, np.uint8)
    image[:, :, 1] = 200  # pinkish paper
    cv2.line(image, (5, 60), (150, 70), (10, 10, 10), 2)
    return image


STEP_PARAMS = {
    "paper_tint": {"rgb_gain": [0.95, 0.92, 0.85]},
    "creases": {"lines": [{"angle_rad": 1.5, "offset_px": 40.0, "width_px": 2.0, "depth": 0.2,
                           "highlight": 0.1, "shade_step": 0.02}]},
    "wrinkles": {"seed": 3, "cells": 5, "strength": 0.08, "light_angle_rad": 0.5},
    "lighting": {"gradient": 0.2, "gradient_angle_rad": 0.3, "vignette": 0.1,
                 "shadows": [{"polygon": [[0, 0], [0.5, 0], [0.4, 0.6]], "darkness": 0.4, "softness": 0.05}]},
    "blur": {"kind": "motion", "kernel_px": 5, "angle_deg": 30.0, "seed": 1},
    "colour": {"seed": 2, "brightness": 1.1, "contrast": 0.9, "saturation": 1.3, "hue": 0.02},
    "black_white": {"mode": "photocopy", "seed": 4, "colour_dropout": 0.5, "threshold": 0.2, "steepness": 20.0,
                    "paper_white": 0.97, "speckle": 0.001, "streaks": 1},
    "noise": {"seed": 5, "std": 0.02, "per_channel": True, "scale": 0.5},
    "jpeg": {"quality": 30},
    "exposure": {"gain_rgb": [0.9, 0.86, 0.8], "black_rgb": [20.0, 19.0, 18.0]},
    "sharpen": {"amount": 1.0, "sigma_px": 1.0},
}


@pytest.mark.parametrize("op", list(photo.STEPS))
def test_each_step_changes_pixels_and_keeps_format(op):
    image = page()
    out = photo.STEPS[op](image.copy(), STEP_PARAMS[op])
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)
    assert np.array_equal(photo.STEPS[op](image.copy(), STEP_PARAMS[op]), out)  # deterministic


def test_noise_has_the_requested_strength():
    flat = np.full((256, 256, 3), 128, np.uint8)
    out = photo.noise(flat, {"seed": 0, "std": 0.03, "per_channel": False, "scale": 1.0})
    diff = out.astype(float) - 128
    assert abs(diff.std() - 0.03 * 255) < 0.1 * 0.03 * 255 and abs(diff.mean()) < 0.5
    assert np.array_equal(diff[:, :, 0], diff[:, :, 2])  # grey noise is the same in every channel


def test_fax_is_binary_and_keeps_the_trace():
    out = photo.black_white(page(), {"mode": "fax", "seed": 0, "colour_dropout": 0.5, "threshold": 0.3,
                                     "dither": 0.2, "speckle": 0.0})
    assert set(np.unique(out)) <= {0, 255}
    assert (out[58:73, 10:140] == 0).any() and (out[:40] == 255).mean() > 0.9


def test_jpeg_quality_controls_the_error():
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8), (0, 0), 1.5)
    err = [np.abs(photo.jpeg(image, {"quality": q}).astype(int) - image).mean() for q in (15, 60, 95)]
    assert err[0] > err[1] > err[2] > 0


def test_defocus_kernel_is_a_normalised_disk():
    k = photo.defocus_kernel(3.0)
    assert k.shape == (7, 7) and abs(k.sum() - 1) < 1e-6 and k[3, 3] == k.max() and k[0, 0] == 0


def test_unknown_modes_raise():
    with pytest.raises(ValueError, match="blur kind"):
        photo.blur(page(), {"kind": "tilt-shift", "seed": 0})
    with pytest.raises(ValueError, match="black-and-white mode"):
        photo.black_white(page(), {"mode": "sepia", "seed": 0})


def test_exposure_sets_paper_and_black_levels():
    image = page()
    image[0, 0] = 255
    image[1, 1] = 0
    out = photo.exposure(image, {"gain_rgb": [0.85, 0.8, 0.75], "black_rgb": [30.0, 25.0, 20.0]})
    # paper white lands at gain * 255, black at the lifted black level, per channel
    assert np.allclose(out[0, 0], [30 + 255 * 0.85 * (1 - 30 / 255), 25 + 255 * 0.8 * (1 - 25 / 255),
                                   20 + 255 * 0.75 * (1 - 20 / 255)], atol=1)
    assert out[1, 1].tolist() == [30, 25, 20]


def test_exposure_desaturate_pulls_colours_toward_grey_and_keeps_levels():
    image = page()
    image[0, 0] = 255
    image[1, 1] = 0
    image[2, 2] = (232, 122, 122)  # a red 5 mm grid line
    p = {"gain_rgb": [0.85, 0.8, 0.75], "black_rgb": [30.0, 25.0, 20.0]}
    plain = photo.exposure(image, p).astype(int)
    assert np.abs(photo.exposure(image, {**p, "desaturate": 1e-6}).astype(int) - plain).max() <= 1
    half = photo.exposure(image, {**p, "desaturate": 0.5}).astype(int)
    grey = photo.exposure(image, {**p, "desaturate": 1.0}).astype(int)
    assert np.ptp(grey[2, 2]) <= 1 and np.ptp(grey[0, 0]) <= 1  # no colour left
    spread = lambda px: int(np.ptp(px))
    assert abs(spread(half[2, 2]) - spread(plain[2, 2]) / 2) <= 1.5
    luma = lambda px: float(px @ [0.299, 0.587, 0.114])
    for yx in ((0, 0), (1, 1), (2, 2)):  # brightness is kept
        assert abs(luma(half[yx]) - luma(plain[yx])) < 1.5 and abs(luma(grey[yx]) - luma(plain[yx])) < 1.5


def test_sharpen_raises_edge_contrast_and_keeps_flat_areas():
    image = page()
    out = photo.sharpen(image, {"amount": 1.0, "sigma_px": 1.0})
    assert np.array_equal(out[5:30, 5:30], image[5:30, 5:30])  # flat paper unchanged
    grad = lambda im: np.abs(np.diff(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(int), axis=0)).sum()
    assert grad(out) > 1.2 * grad(image)


def test_chroma_noise_mixes_shared_and_per_channel_parts_at_the_requested_std():
    flat = np.full((256, 256, 3), 128, np.uint8)
    out = photo.noise(flat, {"seed": 1, "std": 0.03, "per_channel": True, "scale": 1.0, "chroma": 0.25})
    diff = out.astype(float) - 128
    assert abs(diff.std() - 0.03 * 255) < 0.1 * 0.03 * 255
    corr = np.corrcoef(diff[..., 0].ravel(), diff[..., 1].ravel())[0, 1]
    assert 0.6 < corr < 0.9  # 75 % shared: channels correlate ~0.75


def test_glare_brightens_towards_white_only_near_its_centre():
    image = np.full((200, 200, 3), 150, np.uint8)
    p = {"gradient": 0.0, "gradient_angle_rad": 0.0, "vignette": 0.0, "shadows": [],
         "glare": [{"centre": [0.5, 0.5], "radius": 0.1, "aspect": 1.0, "strength": 0.5}]}
    out = photo.lighting(image, p)
    assert out[100, 100].min() > 195 and out[100, 100].max() <= 255
    assert np.abs(out[5, 5].astype(int) - 150).max() <= 1


@pytest.mark.parametrize("p", [{"per_channel": True, "scale": 0.5}, {"per_channel": True, "scale": 1.0, "chroma": 0.5},
                               {"per_channel": False, "scale": 1.0}])
def test_noise_is_seeded_and_unit_variance_in_every_channel(p):
    """Windows of the cached banks: the same seed gives the same noise, another seed other noise,
    and each channel of the mixed bank has the requested std (half-resolution noise is smoothed
    by its upsampling, so it only must not exceed it)."""
    flat = np.full((300, 1100, 3), 128, np.uint8)  # wider than the 1024 px bank: the wrap-around path
    a = photo.noise(flat, {"seed": 4, "std": 0.03, **p}).astype(float) - 128
    b = photo.noise(flat, {"seed": 4, "std": 0.03, **p}).astype(float) - 128
    c = photo.noise(flat, {"seed": 5, "std": 0.03, **p}).astype(float) - 128
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    stds = a.reshape(-1, 3).std(axis=0)
    if p["scale"] == 1.0:
        assert np.all(np.abs(stds - 0.03 * 255) < 0.1 * 0.03 * 255), stds
    else:
        assert np.all((stds > 0.3 * 0.03 * 255) & (stds < 1.05 * 0.03 * 255)), stds


def test_crease_field_from_its_profile_table_matches_the_profile_at_every_pixel():
    """crease_field spreads a 1-D profile table over the page with warpAffine: it must agree
    with the profile evaluated at each pixel's signed distance from the line."""
    lines = [{"angle_rad": 0.4, "offset_px": 120.0, "width_px": 1.3, "depth": 0.35, "highlight": 0.12,
              "shade_step": 0.03},
             {"angle_rad": 2.0, "offset_px": -40.0, "width_px": 3.0, "depth": 0.2, "highlight": 0.05,
              "shade_step": -0.02}]
    h, w = 180, 260
    xs, ys = np.arange(w)[None, :], np.arange(h)[:, None]
    expected = np.ones((h, w))
    for c in lines:
        d = (xs * np.cos(c["angle_rad"]) + ys * np.sin(c["angle_rad"]) - c["offset_px"]) / c["width_px"]
        expected = expected * photo._crease_profile(d, c)
    got = photo.crease_field((h, w), lines)
    assert got.shape == (h, w) and np.abs(got - expected).max() < 2e-3
    assert expected.min() < 0.75  # the valley is in the frame: the comparison has teeth
