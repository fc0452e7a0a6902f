"""Geometry helpers: curl field inversion, coarse backward maps, homography parts, resize maths."""
from __future__ import annotations

import cv2
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from render import degrade_geometry as geo

HW = (300, 420)


def curl_field(bow: float, tilt: float, side: str, extent: float, amount: float, fold_shift: float) -> dict:
    curl = {"bow_px": bow, "bow_tilt": tilt,
            "edge": {"side": side, "extent": extent, "amount_px": amount * extent * HW[1]},
            "folds": [{"angle_rad": 1.55, "offset_px": 140.0, "width_px": 4.0, "shift_px": fold_shift}]}
    return curl


@settings(max_examples=40, deadline=None)
@given(bow=st.floats(-6, 6), tilt=st.floats(-0.6, 0.6), side=st.sampled_from(["left", "right", "top", "bottom"]),
       extent=st.floats(0.08, 0.3), amount=st.floats(0.0, 0.15), fold_shift=st.floats(0.0, 1.2))
def test_curl_forward_inverts_the_backward_map(bow, tilt, side, extent, amount, fold_shift):
    curl = curl_field(bow, tilt, side, extent, amount, fold_shift)
    assume(geo.curl_lipschitz_bound(HW, curl) < 1.0)  # the planner keeps fields below 0.6
    p = np.random.default_rng(0).uniform([0, 0], [HW[1] - 1, HW[0] - 1], size=(200, 2))
    q, residual = geo.curl_forward_points(p, HW, curl)
    bx, by = geo.curl_backward_displacement(q[:, 0], q[:, 1], HW, curl)
    np.testing.assert_allclose(q + np.stack([bx, by], axis=1), p, atol=1e-4)
    assert residual < 1e-4


def test_coarse_backward_map_matches_exact_on_the_page():
    curl = curl_field(5.0, 0.3, "right", 0.2, 0.12, 1.0)
    parts = geo.homography_from_parts(HW, 4.0, 0.9, np.random.default_rng(1).uniform(-15, 15, (4, 2)),
                                      (4.0, 3.0, HW[1] - 6.0, HW[0] - 2.0))
    exact = geo.backward_maps(HW, parts["total"], curl, step_px=1)
    coarse = geo.backward_maps(HW, parts["total"], curl)
    on_page = (exact[0] >= 0) & (exact[0] <= HW[1] - 1) & (exact[1] >= 0) & (exact[1] <= HW[0] - 1)
    err = np.maximum(np.abs(exact[0] - coarse[0]), np.abs(exact[1] - coarse[1]))
    assert on_page.mean() > 0.7 and err[on_page].max() < 0.02


def test_homography_only_map_equals_warp_perspective():
    parts = geo.homography_from_parts(HW, -7.0, 1.0, np.zeros((4, 2)), (0, 0, HW[1] - 1, HW[0] - 1))
    image = np.random.default_rng(0).integers(0, 255, (*HW, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 2.0)  # smooth, so both resamplers agree closely
    mx, my = geo.backward_maps(HW, parts["total"], None)
    via_remap = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    via_warp, _ = geo.warp(image, {}, parts["total"], None, (0, 0, 0))
    inner = (slice(20, -20), slice(20, -20))
    assert np.abs(via_remap[inner].astype(int) - via_warp[inner].astype(int)).max() <= 2


def test_resize_matrix_matches_cv2_pixel_centres():
    m = geo.resize_matrix((100, 200), (25, 50))
    # destination pixel 0 covers source pixels 0..3, whose centre is 1.5
    np.testing.assert_allclose(geo.apply_homography_to_points(m, np.array([[1.5, 1.5], [197.5, 97.5]])),
                               [[0.0, 0.0], [49.0, 24.0]], atol=1e-12)


def test_empty_point_sets_pass_through():
    parts = geo.homography_from_parts(HW, 3.0, 1.0, np.zeros((4, 2)), (0, 0, HW[1] - 1, HW[0] - 1))
    out, residual = geo.map_points(np.zeros((0, 2)), HW, parts["total"], curl_field(2, 0, "left", 0.1, 0.1, 0.5))
    assert out.shape == (0, 2) and residual == 0.0


def test_linear_resize_maps_like_area_and_keeps_more_fine_contrast():
    """The delivered (upload/viewer) resample: same pixel map as the area filter, sharper."""
    image = np.full((200, 300, 3), 255, np.uint8)
    image[:, ::4] = 120  # a 4 px grid, like the minor grid at ~4 px/mm
    area, m_area = geo.resize_image(image, (170, 255))
    lin, m_lin = geo.resize_image(image, (170, 255), linear=True)
    np.testing.assert_allclose(m_lin, m_area)
    assert np.diff(lin[..., 0].astype(int), axis=1).std() > 1.05 * np.diff(area[..., 0].astype(int), axis=1).std()
