"""Text in real TrueType fonts (shipped DejaVu, see fonts/LICENSE_DEJAVU.txt), inked into numpy pages.

Pillow rasterises each (string, font, size) once into a small alpha patch (cached); the patch is
stamped into the page's `InkLayer` (text shares the trace ink), which avoids converting the
whole page to a PIL image per string and blends text and traces in one pass.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from render.draw import clip_box

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


def ink_text(layer, text: str, x_px: float, y_px: float, size_px: int, font: str = "DejaVuSans",
             mask: np.ndarray | None = None) -> list[int]:
    """Stamp a string into an `InkLayer` with its top-left anchor at (x_px, y_px); returns its ink
    box [x0, y0, x1, y1] in pixel-edge coordinates, which may extend past the page (only the part
    inside is inked). `mask`, when given, gets 255 where the text has ink."""
    patch, dx, dy = text_patch(text, font, int(size_px))
    x0, y0 = int(round(x_px)) + dx, int(round(y_px)) + dy
    box = [x0, y0, x0 + patch.shape[1], y0 + patch.shape[0]]
    layer.stamp(patch, box[0], box[1])
    clip = clip_box(box, layer.coverage.shape) if mask is not None else None
    if clip is not None:
        rows, cols, prow, pcol = clip
        mask[rows, cols][patch[prow, pcol] >= MASK_ALPHA] = 255
    return box
