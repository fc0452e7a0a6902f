"""Degradations: truth points and masks follow the image; determinism; presets; out_size; errors."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from render.degrade import (DEGRADE_PRESETS, CameraSpec, CropSpec, CurlSpec, DegradeSpec,
                            FramingSpec, PerspectiveSpec, RippleSpec, RotationSpec,
                            apply_degradations, random_degrade_spec, replay_degradations)

PAPER = 245
GEOMETRIC = {
    "rotation": DegradeSpec(rotation=RotationSpec(6.0)),
    "perspective": DegradeSpec(perspective=PerspectiveSpec(0.08, (0.85, 0.95)), background="table"),
    "curl": DegradeSpec(curl=CurlSpec(0.03, 1.0, (0.15, 0.3), 2)),
    "crop": DegradeSpec(crop=CropSpec(0.08)),
    "all": DegradeSpec(rotation=RotationSpec(5.0), perspective=PerspectiveSpec(0.08, (0.85, 0.95)),
                       curl=CurlSpec(0.03, 1.0, (0.15, 0.3), 2), crop=CropSpec(0.05)),
    "ripple": DegradeSpec(ripple=RippleSpec((0.8, 1.2))),
    "tight": DegradeSpec(framing=FramingSpec("tight", (-0.03, 0.05)), rotation=RotationSpec(2.0)),
    "page-photo": DegradeSpec(framing=FramingSpec("page", (-0.04, 0.02)), perspective=PerspectiveSpec(0.03),
                              curl=CurlSpec(0.01, 0.0), ripple=RippleSpec((0.3, 0.6)), background="table"),
}
CONTENT_BOX = (40.0, 30.0, 360.0, 290.0)  # what tight framing captures on the test pages
PX_PER_MM = 2.0


def synthetic_page(h: int = 320, w: int = 400, seed: int = 0):
    """White page with ECG-like dark polylines (2 px, anti-aliased, sub-pixel) and their points."""
    rng = np.random.default_rng(seed)
    image = np.full((h, w, 3), PAPER, np.uint8)
    mask = np.zeros((h, w), np.uint8)
    points = {}
    xs = np.arange(12.0, w - 12.0, 1.0)
    for i, base in enumerate(np.linspace(0.15 * h, 0.85 * h, 5)):
        phase, amp = rng.uniform(0, 6), rng.uniform(4, 14)
        ys = base + amp * np.sin(xs / rng.uniform(8, 20) + phase) + rng.normal(0, 0.3, xs.size)
        pts = np.stack([xs, ys], axis=1)
        fixed = np.round(pts * 16).astype(np.int32)[None]  # 4 fractional bits
        cv2.polylines(image, fixed, False, (20, 20, 20), 2, cv2.LINE_AA, shift=4)
        cv2.polylines(mask, fixed, False, 255, 2, cv2.LINE_AA, shift=4)
        points[f"lead{i}"] = pts
    return image, points, {"trace": np.where(mask >= 128, 255, 0).astype(np.uint8)}


def dot_page(h: int = 320, w: int = 400, seed: int = 1):
    """Gaussian ink dots (sigma 1.5 px) at sub-pixel positions: their centroids are measurable."""
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(30, w - 30, 34.0), np.arange(30, h - 30, 34.0))
    centres = np.stack([gx.ravel(), gy.ravel()], axis=1) + rng.uniform(-0.5, 0.5, (gx.size, 2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ink = np.zeros((h, w))
    for cx, cy in centres:
        ink += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 1.5 ** 2))
    grey = np.clip(PAPER - 220 * ink, 0, 255).round().astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2), {"dots": centres}


def measured_centroids(image: np.ndarray, points: np.ndarray, radius: int = 6) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    background = np.median(grey)
    out = np.full_like(points, np.nan)
    for i, (x, y) in enumerate(points):
        xi, yi = int(round(x)), int(round(y))
        if not (radius <= xi < image.shape[1] - radius and radius <= yi < image.shape[0] - radius):
            continue
        win = np.clip(background - grey[yi - radius:yi + radius + 1, xi - radius:xi + radius + 1], 0, None)
        oy, ox = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        out[i] = [xi + (win * ox).sum() / win.sum(), yi + (win * oy).sum() / win.sum()]
    return out


def fraction_near_dark(image: np.ndarray, points: dict, visible: dict, tol_px: float = 2.0,
                       adaptive: bool = False, page: np.ndarray | None = None) -> float:
    """Share of visible points within tol_px of a trace-dark pixel (on the page, if given)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if adaptive:  # shadows/lighting: "dark" means clearly darker than the neighbourhood
        local = cv2.blur(grey.astype(np.float32), (31, 31))
        dark = grey.astype(np.float32) < 0.8 * local
    else:
        dark = grey < 160
    if page is not None:
        dark &= cv2.erode(page, np.ones((5, 5), np.uint8)) > 0  # not the revealed background
    dist = cv2.distanceTransform(np.where(dark, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
    hits, total = 0, 0
    for key, pts in points.items():
        p = np.round(pts[visible[key]]).astype(int)
        hits += int((dist[p[:, 1], p[:, 0]] <= tol_px).sum())
        total += len(p)
    assert total > 0.5 * sum(len(v) for v in points.values()), "most points should stay visible"
    return hits / total


@pytest.mark.parametrize("name", list(GEOMETRIC))
def test_points_follow_traces_after_geometry(name):
    image, points, masks = synthetic_page()
    masks["page"] = np.full(image.shape[:2], 255, np.uint8)
    out = apply_degradations(image, points, masks, GEOMETRIC[name], np.random.default_rng(3),
                             px_per_mm=PX_PER_MM, content_box_px=CONTENT_BOX)
    assert fraction_near_dark(out.image, out.points, out.visible, page=out.masks["page"]) >= 0.95
    shifted = {k: v + [0.0, 6.0] for k, v in out.points.items()}  # control: the check has teeth
    assert fraction_near_dark(out.image, shifted, out.visible, page=out.masks["page"]) < 0.7
    # masks stay aligned with the image: warped trace mask vs the dark pixels of the warped page
    # (the "page" mask excludes the background the warp reveals, which may be a dark table)
    dark = (cv2.cvtColor(out.image, cv2.COLOR_RGB2GRAY) < 160) & (out.masks["page"] > 0)
    warped = out.masks["trace"] > 0
    iou = (dark & warped).sum() / (dark | warped).sum()
    assert iou >= 0.85, f"{name}: mask/image IoU {iou:.3f}"


@pytest.mark.parametrize("name", ["rotation", "perspective", "crop", "curl", "all", "ripple", "tight",
                                  "page-photo"])
def test_dot_centroids_match_points_subpixel(name):
    image, points = dot_page()
    out = apply_degradations(image, points, None, GEOMETRIC[name], np.random.default_rng(5),
                             px_per_mm=PX_PER_MM, content_box_px=CONTENT_BOX)
    got = measured_centroids(out.image, out.points["dots"])
    ok = ~np.isnan(got[:, 0])
    assert ok.sum() >= 0.6 * len(got)
    err = np.hypot(*(got[ok] - out.points["dots"][ok]).T)
    assert np.median(err) < 0.05 and np.percentile(err, 95) < 0.2, (name, err.max())


def test_rotation_and_crop_match_independent_maths():
    image, points = dot_page()
    h, w = image.shape[:2]
    out = apply_degradations(image, points, None, DegradeSpec(rotation=RotationSpec(10.0)),
                             np.random.default_rng(7))
    geo = out.record[-1]
    theta = np.deg2rad(geo["rotation_deg"])  # OpenCV: positive angle turns the content anticlockwise
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    d = points["dots"] - c
    expected = c + np.stack([d[:, 0] * np.cos(theta) + d[:, 1] * np.sin(theta),
                             -d[:, 0] * np.sin(theta) + d[:, 1] * np.cos(theta)], axis=1)
    np.testing.assert_allclose(out.points["dots"], expected, atol=1e-6)

    out = apply_degradations(image, points, None, DegradeSpec(crop=CropSpec(0.1)), np.random.default_rng(8))
    x0, y0, x1, y1 = out.record[-1]["crop_box_px"]
    expected = (points["dots"] - [x0, y0]) * [(w - 1) / (x1 - x0), (h - 1) / (y1 - y0)]
    np.testing.assert_allclose(out.points["dots"], expected, atol=1e-6)


def test_perspective_is_a_real_homography_of_the_recorded_corners():
    image, points = dot_page()
    h, w = image.shape[:2]
    spec = DegradeSpec(perspective=PerspectiveSpec(0.1))
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    out = apply_degradations(image, {"corners": corners}, None, spec, np.random.default_rng(2))
    shift = np.asarray(out.record[-1]["corner_shift_px"])
    np.testing.assert_allclose(out.points["corners"], corners + shift, atol=1e-3)
    assert np.abs(shift).max() > 1.0


@pytest.mark.parametrize("src_hw, out_hw", [((480, 640), (240, 320)), ((700, 930), (256, 300)),
                                             ((200, 260), (300, 390))])
def test_out_size_resizes_first_and_scales_points(src_hw, out_hw):
    image, points = dot_page(*src_hw)
    scale = out_hw[0] / src_hw[0]
    out = apply_degradations(image, points, None, DEGRADE_PRESETS["none"], np.random.default_rng(0),
                             out_size=out_hw)
    assert out.image.shape == (*out_hw, 3) and out.image.dtype == np.uint8
    assert out.record[0]["op"] == "resize"
    got = measured_centroids(out.image, out.points["dots"], radius=max(3, round(6 * scale)))
    ok = ~np.isnan(got[:, 0])
    assert ok.sum() > 10
    assert np.percentile(np.hypot(*(got[ok] - out.points["dots"][ok]).T), 95) < 0.15


@pytest.mark.parametrize("preset", list(DEGRADE_PRESETS))
def test_every_preset_runs_keeps_truth_and_is_json(preset):
    image, points, masks = synthetic_page()
    masks["page"] = np.full(image.shape[:2], 255, np.uint8)
    out = apply_degradations(image, points, masks, DEGRADE_PRESETS[preset], np.random.default_rng(11),
                             out_size=(300, 380))
    assert out.image.shape == (300, 380, 3) and out.image.dtype == np.uint8
    assert set(out.points) == set(points) and set(out.visible) == set(points)
    assert out.masks["trace"].shape == (300, 380) and set(np.unique(out.masks["trace"])) <= {0, 255}
    json.dumps(out.record)
    near = fraction_near_dark(out.image, out.points, out.visible, adaptive=True, page=out.masks["page"])
    assert near >= 0.95
    if preset != "none":
        assert not np.array_equal(out.image, apply_degradations(
            image, points, masks, DEGRADE_PRESETS["none"], np.random.default_rng(11), (300, 380)).image)


def test_deterministic_and_seed_sensitive():
    image, points, masks = synthetic_page()
    spec = DEGRADE_PRESETS["phone-bad"]
    a = apply_degradations(image, points, masks, spec, np.random.default_rng(42))
    b = apply_degradations(image, points, masks, spec, np.random.default_rng(42))
    c = apply_degradations(image, points, masks, spec, np.random.default_rng(43))
    assert a.image.tobytes() == b.image.tobytes()
    assert json.dumps(a.record) == json.dumps(b.record)
    assert all(np.array_equal(a.points[k], b.points[k]) for k in points)
    assert a.image.tobytes() != c.image.tobytes()
    assert not np.allclose(a.points["lead0"], c.points["lead0"])


def test_replay_reproduces_from_the_record():
    image, points, masks = synthetic_page()
    out = apply_degradations(image, points, masks, DEGRADE_PRESETS["photo"], np.random.default_rng(9),
                             out_size=(256, 320))
    again = replay_degradations(image, points, masks, json.loads(json.dumps(out.record)))
    assert again.image.tobytes() == out.image.tobytes()
    np.testing.assert_array_equal(again.points["lead2"], out.points["lead2"])
    np.testing.assert_array_equal(again.masks["trace"], out.masks["trace"])


def test_byte_identical_across_processes():
    # every hand-written random step; the albumentations ones (blur, colour) are left out only
    # because importing albumentations (and with it torch) costs seconds per process.
    code = ("import numpy as np, hashlib, json, dataclasses;"
            "from render.degrade import apply_degradations, DEGRADE_PRESETS;"
            "img = np.full((96, 128, 3), 240, np.uint8); img[40:44] = 10;"
            "pts = {'a': np.array([[5.0, 42.0], [120.0, 41.5]])};"
            "spec = dataclasses.replace(DEGRADE_PRESETS['phone-bad'], blur=None, colour=None);"
            "d = apply_degradations(img, pts, None, spec, np.random.default_rng(5));"
            "print(hashlib.sha256(d.image.tobytes() + d.points['a'].tobytes()"
            " + json.dumps(d.record).encode()).hexdigest())")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0].strip()) == 64


def test_nan_gaps_stay_nan_and_the_record_stays_strict_json():
    image, _ = dot_page()
    pts = {"gappy": np.array([[10.0, 20.0], [np.nan, np.nan], [200.0, 150.0]])}
    out = apply_degradations(image, pts, None, GEOMETRIC["all"], np.random.default_rng(1))
    assert np.isnan(out.points["gappy"][1]).all() and np.isfinite(out.points["gappy"][[0, 2]]).all()
    assert not out.visible["gappy"][1]
    json.dumps(out.record, allow_nan=False)


def test_outputs_never_alias_the_inputs():
    image, points, masks = synthetic_page(64, 80)
    out = apply_degradations(image, points, masks, DEGRADE_PRESETS["none"], np.random.default_rng(0))
    assert np.array_equal(out.image, image) and out.record == []
    out.image[:] = 0
    out.masks["trace"][:] = 0
    out.points["lead0"][:] = -1
    assert image.max() > 0 and masks["trace"].max() == 255 and points["lead0"].min() > 0


def test_points_leaving_the_frame_are_kept_and_flagged():
    image, _ = dot_page()
    h, w = image.shape[:2]
    pts = {"edge": np.array([[1.0, 1.0], [w / 2, h / 2], [w - 2.0, h - 2.0]])}
    out = apply_degradations(image, pts, None, DegradeSpec(crop=CropSpec(0.1)), np.random.default_rng(0))
    assert out.points["edge"].shape == (3, 2)
    assert out.visible["edge"].tolist() == [False, True, False]
    assert out.points["edge"][0, 0] < 0


def test_random_specs_are_seeded_and_cover_strengths():
    a = [random_degrade_spec(np.random.default_rng(s)) for s in range(40)]
    b = [random_degrade_spec(np.random.default_rng(s)) for s in range(40)]
    assert a == b
    assert random_degrade_spec(np.random.default_rng(0), "none").enabled() == []
    heavy = [random_degrade_spec(np.random.default_rng(s), "heavy") for s in range(20)]
    assert all(s.enabled() for s in heavy)
    assert len({json.dumps(s.to_dict(), sort_keys=True) for s in a}) > 5
    with pytest.raises(ValueError, match="strength"):
        random_degrade_spec(np.random.default_rng(0), "extreme")


def test_bad_inputs_raise_clear_errors():
    image, points, masks = synthetic_page(64, 64)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="uint8"):
        apply_degradations(image.astype(np.float32), points, None, DegradeSpec(), rng)
    with pytest.raises(ValueError, match=r"points\['bad'\]"):
        apply_degradations(image, {"bad": np.zeros((3, 3))}, None, DegradeSpec(), rng)
    with pytest.raises(ValueError, match=r"masks\['m'\]"):
        apply_degradations(image, points, {"m": np.zeros((10, 10), np.uint8)}, DegradeSpec(), rng)
    with pytest.raises(TypeError, match="DegradeSpec"):
        apply_degradations(image, points, None, {"rotation": None}, rng)
    with pytest.raises(ValueError, match="unknown step"):
        replay_degradations(image, points, None, [{"op": "teleport"}])


@pytest.mark.parametrize("out_size, capture", [(None, 1.2), ((240, 300), 0.7)])
def test_camera_resamples_with_the_truth(out_size, capture):
    """The capture resize/resample steps move the points too: dot centroids stay on the points,
    and a whole page comes out at the drawn capture scale."""
    image, points = dot_page(480, 600)
    spec = DegradeSpec(camera=CameraSpec(capture_px_per_mm=(capture, 0.0), noise_std=(0.002, 0.002), sharpen=(0, 0),
                                         jpeg_quality=(95, 95), resample=(0.8, 0.8), second_jpeg_prob=1.0))
    out = apply_degradations(image, points, None, spec, np.random.default_rng(2), out_size=out_size,
                             px_per_mm=2.0)
    ops = [s["op"] for s in out.record]
    assert ops.count("jpeg") == 2 and "exposure" in ops and "noise" in ops
    if out_size is None:  # 2 px/mm page captured at 1.2 px/mm, delivered at 0.8 of that
        assert out.image.shape[:2] == (round(round(480 * 0.6) * 0.8), round(round(600 * 0.6) * 0.8))
    else:
        assert out.image.shape[:2] == out_size
    scale = out.image.shape[0] / 480
    got = measured_centroids(out.image, out.points["dots"], radius=max(3, round(6 * scale)))
    ok = ~np.isnan(got[:, 0])
    assert ok.sum() > 10
    err = np.hypot(*(got[ok] - out.points["dots"][ok]).T)
    assert np.median(err) < 0.1 and np.percentile(err, 95) < 0.25, err.max()


def test_tight_framing_cuts_to_the_content_box_and_keeps_scale():
    image, points = dot_page()
    box = np.array(CONTENT_BOX)
    spec = DegradeSpec(framing=FramingSpec("tight", (0.0, 0.0)))
    out = apply_degradations(image, {"box": box.reshape(2, 2)}, None, spec, np.random.default_rng(0),
                             content_box_px=CONTENT_BOX)
    assert out.image.shape[:2] == (round(box[3] - box[1]), round(box[2] - box[0]))
    np.testing.assert_allclose(out.points["box"], [[-0.5, -0.5], [out.image.shape[1] - 0.5, out.image.shape[0] - 0.5]],
                               atol=1e-6)
    # with a fixed out_size the tight frame keeps its own aspect, stays isotropic, fills the
    # output's height and is padded with flat white left and right (a letterboxed scan)
    out = apply_degradations(image, {"box": box.reshape(2, 2)}, None, spec, np.random.default_rng(0),
                             out_size=(100, 200), content_box_px=CONTENT_BOX)
    (x0, y0), (x1, y1) = out.points["box"]
    assert out.image.shape[:2] == (100, 200)
    assert abs((x1 - x0) / (box[2] - box[0]) - (y1 - y0) / (box[3] - box[1])) < 1e-6
    assert y0 == pytest.approx(-0.5, abs=0.1) and y1 == pytest.approx(99.5, abs=0.1)
    assert (x0 + x1) / 2 == pytest.approx(99.5, abs=0.6) and x1 - x0 < 130
    assert out.image[:, :int(x0) - 1].min() == 255 and out.image[:, int(np.ceil(x1)) + 1:].min() == 255
    assert out.record[-1]["op"] == "pad"
    # a whole-page frame still widens to the output aspect (no padding)
    out = apply_degradations(image, {"box": box.reshape(2, 2)}, None, DegradeSpec(framing=FramingSpec("page", (0.0, 0.0))),
                             np.random.default_rng(0), out_size=(100, 200), content_box_px=CONTENT_BOX)
    assert out.image.shape[:2] == (100, 200) and "pad" not in [s["op"] for s in out.record]


def test_camera_finer_than_the_training_size_keeps_only_what_survives_downsampling():
    image, points = dot_page(480, 600)
    spec = DegradeSpec(camera=CameraSpec(capture_px_per_mm=(4.0, 0.0), noise_std=(0.02, 0.02), second_jpeg_prob=1.0))
    out = apply_degradations(image, points, None, spec, np.random.default_rng(2), out_size=(240, 300),
                             px_per_mm=2.0)
    ops = [s["op"] for s in out.record]
    assert "jpeg" not in ops and ops.count("resize") == 1  # only the out_size resize
    noise = next(s for s in out.record if s["op"] == "noise")
    # the texture that survives the loader's 4x downsampling: std / ratio**0.3, not / ratio
    assert noise["std"] == pytest.approx(0.02 * 4.0 ** -0.3)
    assert noise["chroma"] == 0.0  # no JPEG follows to subsample the colour speckle away


def test_camera_chroma_noise_only_where_a_jpeg_follows():
    """Per-pixel colour speckle on dark ink reads as saturated green/blue/purple pixels, which real
    scans (4:2:0 JPEG) never have: at a training size the noise stays grey; a capture keeps it."""
    image = np.full((480, 600, 3), 90, np.uint8)  # dark grey: where chroma noise saturates most
    cam = CameraSpec(capture_px_per_mm=(4.0, 0.0), noise_std=(0.05, 0.05), chroma_noise=0.5, sharpen=(0, 0),
                     desaturate=(0.0, 0.0), cast=0.0)
    spec = DegradeSpec(camera=cam)
    trained = apply_degradations(image, {}, None, spec, np.random.default_rng(1), out_size=(240, 300), px_per_mm=2.0)
    sat = cv2.cvtColor(trained.image, cv2.COLOR_RGB2HSV)[..., 1]
    assert (sat > 40).mean() < 0.01
    captured = apply_degradations(image, {}, None, spec, np.random.default_rng(1), px_per_mm=2.0)
    assert next(s for s in captured.record if s["op"] == "noise")["chroma"] == 0.5
