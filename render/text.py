"""Text in real TrueType fonts (shipped DejaVu, see fonts/LICENSE_DEJAVU.txt), blended into numpy pages.

Pillow rasterises each (string, font, size) once into a small alpha patch (cached); blending the
patch into the page with numpy avoids converting the whole page to a PIL image per string.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
MASK_ALPHA = 96  # text mask: pixels at least this opaque


@lru_cache(maxsize=32)
def load_font(name: str, size_px: int) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / f"{name}.ttf"
    if not path.is_file():
        raise FileNotFoundError(f"font {name!r} not found at {path}")
    return ImageFont.truetype(str(path), size=max(4, int(size_px)))


@lru_cache(maxsize=2048)
def text_patch(text: str, font: str, size_px: int) -> tuple[np.ndarray, int, int]:
    """Alpha patch (uint8) of a string and its offset from the anchor (left, ascender line)."""
    f = load_font(font, size_px)
    x0, y0, x1, y1 = f.getbbox(text)
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).text((-x0, -y0), text, font=f, fill=255)
    patch = np.asarray(im, np.uint8)
    patch.setflags(write=False)
    return patch, x0, y0


def _placed(text: str, x_px: float, y_px: float, size_px: int, font: str) -> tuple[np.ndarray, list[int]]:
    """The string's alpha patch and its ink box [x0, y0, x1, y1] for a top-left anchor (x_px, y_px)."""
    patch, dx, dy = text_patch(text, font, int(size_px))
    x0, y0 = int(round(x_px)) + dx, int(round(y_px)) + dy
    return patch, [x0, y0, x0 + patch.shape[1], y0 + patch.shape[0]]


def _clip(box: list[int], hw) -> tuple[slice, slice, slice, slice] | None:
    """(page rows, page cols, patch rows, patch cols) of the part of `box` inside the page."""
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, hw[1]), min(y1, hw[0])
    if cx0 >= cx1 or cy0 >= cy1:
        return None
    return slice(cy0, cy1), slice(cx0, cx1), slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0)


def draw_text(image: np.ndarray, text: str, x_px: float, y_px: float, size_px: int,
              rgb: tuple[int, int, int], font: str = "DejaVuSans",
              mask: np.ndarray | None = None) -> list[int]:
    """Blend `text` with its top-left anchor at (x_px, y_px); return its ink box [x0, y0, x1, y1].

    The box is in pixel-edge coordinates and may extend past the image (only the part inside is
    drawn). `mask`, when given, gets 255 where the text has ink.
    """
    patch, box = _placed(text, x_px, y_px, size_px, font)
    clip = _clip(box, image.shape[:2])
    if clip is None:
        return box
    rows, cols, prow, pcol = clip
    a = patch[prow, pcol]
    region = image[rows, cols]
    alpha = a.astype(np.float32)[..., None] / 255.0
    region[:] = (region * (1.0 - alpha) + np.asarray(rgb, np.float32) * alpha + 0.5).astype(np.uint8)
    if mask is not None:
        mask[rows, cols][a >= MASK_ALPHA] = 255
    return box


def ink_text(layer, text: str, x_px: float, y_px: float, size_px: int, font: str = "DejaVuSans",
             mask: np.ndarray | None = None) -> list[int]:
    """Like `draw_text`, but stamps the text into an `InkLayer` (one blend with the traces, which
    share its ink colour) instead of blending it into the page now."""
    patch, box = _placed(text, x_px, y_px, size_px, font)
    layer.stamp(patch, box[0], box[1])
    clip = _clip(box, layer.coverage.shape) if mask is not None else None
    if clip is not None:
        rows, cols, prow, pcol = clip
        mask[rows, cols][patch[prow, pcol] >= MASK_ALPHA] = 255
    return box
