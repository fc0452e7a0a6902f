"""TrueType text inked into pages, with ink boxes and masks."""
from __future__ import annotations

import numpy as np

from render.draw import InkLayer
from render.text import FONT_DIR, ink_text, text_patch


def _inked(img, text, x, y, size, rgb=(0, 0, 0), font="DejaVuSans", mask=None):
    """ink_text through an InkLayer blended into `img` (as render() draws every string)."""
    layer = InkLayer(img.shape[:2], 3)
    box = ink_text(layer, text, x, y, size, font, mask)
    layer.blend_into(img, rgb)
    return box


def test_font_and_licence_are_shipped():
    assert (FONT_DIR / "DejaVuSans.ttf").is_file() and (FONT_DIR / "LICENSE_DEJAVU.txt").is_file()


def test_text_box_covers_ink_and_mask_matches():
    img = np.full((60, 200, 3), 255, np.uint8)
    mask = np.zeros((60, 200), np.uint8)
    box = _inked(img, "aVR 25 mm/s", 10, 15, 20, (0, 0, 0), "DejaVuSans", mask)
    ink = img.min(axis=2) < 128
    ys, xs = np.nonzero(ink)
    assert box[0] <= xs.min() and xs.max() < box[2] and box[1] <= ys.min() and ys.max() < box[3]
    assert (mask > 0)[ink].mean() > 0.9 and not mask[:, :box[0]].any()


def test_text_clipped_at_page_edge_is_safe():
    img = np.full((20, 20, 3), 255, np.uint8)
    box = _inked(img, "V6", 15, -5, 16, (0, 0, 0))
    assert box[2] > 20 and img.min() < 255


def test_text_inked_through_the_ink_layer_matches_a_per_pixel_blend():
    """ink_text (stamped into the InkLayer, blended with the traces) gives the box, mask and
    pixels of the string's alpha patch blended straight into the page, pixel by pixel."""
    direct, inked = (np.full((60, 200, 3), 250, np.uint8) for _ in range(2))
    mask_b = np.zeros((60, 200), np.uint8)
    patch, dx, dy = text_patch("aVR 25 mm/s", "DejaVuSerif-Bold", 20)
    x0, y0 = 10 + dx, 15 + dy
    box_a = [x0, y0, x0 + patch.shape[1], y0 + patch.shape[0]]
    region = direct[y0:box_a[3], x0:box_a[2]]
    alpha = patch.astype(np.float32)[..., None] / 255.0
    region[:] = (region * (1.0 - alpha) + 0.5).astype(np.uint8)
    mask_a = np.zeros((60, 200), np.uint8)
    mask_a[y0:box_a[3], x0:box_a[2]][patch >= 96] = 255
    box_b = _inked(inked, "aVR 25 mm/s", 10, 15, 20, (0, 0, 0), "DejaVuSerif-Bold", mask_b)
    assert box_a == box_b and np.array_equal(mask_a, mask_b)
    assert np.abs(direct.astype(int) - inked).max() <= 1 and (inked < 128).any()
