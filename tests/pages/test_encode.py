"""Fast encoders: lossless PNG round-trips exactly through every decoder; JPEG/WebP keep the page."""
from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image

import render
from ecgimg.pages.encode import encode_image, encode_json, encode_png


def _page(degrade):
    t = np.arange(5000) / 500.0
    signal = np.stack([np.sin(2 * np.pi * (1 + k / 10) * t) ** 9 for k in range(12)]).astype(np.float32)
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    return render.render(signal, 500.0, leads, degrade=degrade, seed=1, out_size=(300, 420))


@pytest.fixture(scope="module")
def page():
    return _page("photo")  # camera noise: every byte differs from its neighbours


@pytest.fixture(scope="module")
def clean_page():
    return _page(None)  # lossy codecs keep a clean page close; sensor noise they discard


@pytest.mark.parametrize("level", [0, 1, 6])
def test_png_pixels_round_trip_in_cv2_and_pillow(page, level):
    data = encode_png(page.image, level)
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB), page.image)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), page.image)


def test_png_of_random_rgb_and_grey_arrays_round_trips():
    rng = np.random.default_rng(0)
    for shape in ((1, 1, 3), (7, 5, 3), (64, 33), (2, 300)):
        image = rng.integers(0, 256, size=shape, dtype=np.uint8)
        decoded = np.asarray(Image.open(io.BytesIO(encode_png(image))))
        assert decoded.shape == image.shape and np.array_equal(decoded, image)


def test_png_refuses_what_it_cannot_store():
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4, 4), np.uint8))


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_lossy_formats_keep_the_page_close_and_in_rgb_order(clean_page, fmt):
    image = clean_page.image
    decoded = cv2.imdecode(np.frombuffer(encode_image(image, fmt, quality=90), np.uint8), cv2.IMREAD_COLOR_RGB)
    assert decoded.shape == image.shape
    error = np.abs(decoded.astype(int) - image).mean()
    assert error < 4 and error < 0.5 * np.abs(decoded.astype(int) - image[..., ::-1]).mean()
    assert len(encode_image(image, fmt, quality=30)) < len(encode_image(image, fmt, quality=95))


def test_json_bytes_hold_the_same_values_as_the_standard_library(page):
    assert json.loads(encode_json(page.truth)) == json.loads(json.dumps(page.truth))
    assert json.loads(encode_json({"x": np.float32(0.5), "n": float("nan")})) == {"x": 0.5, "n": None}
