"""TrueType text blended into pages, with ink boxes and masks."""
from __future__ import annotations

import numpy as np

from render.text import FONT_DIR, draw_text


def test_font_and_licence_are_shipped():
    assert (FONT_DIR / "DejaVuSans.ttf").is_file() and (FONT_DIR / "LICENSE_DEJAVU.txt").is_file()


def test_text_box_covers_ink_and_mask_matches():
    img = np.full((60, 200, 3), 255, np.uint8)
    mask = np.zeros((60, 200), np.uint8)
    box = draw_text(img, "aVR 25 mm/s", 10, 15, 20, (0, 0, 0), "DejaVuSans", mask)
    ink = img.min(axis=2) < 128
    ys, xs = np.nonzero(ink)
    assert box[0] <= xs.min() and xs.max() < box[2] and box[1] <= ys.min() and ys.max() < box[3]
    assert (mask > 0)[ink].mean() > 0.9 and not mask[:, :box[0]].any()


def test_text_clipped_at_page_edge_is_safe():
    img = np.full((20, 20, 3), 255, np.uint8)
    box = draw_text(img, "V6", 15, -5, 16, (0, 0, 0))
    assert box[2] > 20 and img.min() < 255


def test_text_inked_through_the_ink_layer_matches_drawn_text():
    """ink_text (stamped into the InkLayer, blended with the traces) gives the same box, mask
    and pixels as draw_text blending the string straight into the page."""
    from render.draw import InkLayer
    from render.text import ink_text

    direct, inked = (np.full((60, 200, 3), 250, np.uint8) for _ in range(2))
    mask_a, mask_b = np.zeros((60, 200), np.uint8), np.zeros((60, 200), np.uint8)
    box_a = draw_text(direct, "aVR 25 mm/s", 10, 15, 20, (0, 0, 0), "DejaVuSerif-Bold", mask_a)
    layer = InkLayer((60, 200), 3)
    box_b = ink_text(layer, "aVR 25 mm/s", 10, 15, 20, "DejaVuSerif-Bold", mask_b)
    layer.blend_into(inked, (0, 0, 0))
    assert box_a == box_b and np.array_equal(mask_a, mask_b)
    assert np.abs(direct.astype(int) - inked).max() <= 1 and (inked < 128).any()
