"""Page images and truth to bytes, fast: PNG (lossless), JPEG and WebP (stated quality), JSON.

Encoding used to cost ecg-render more than rendering (cv2 PNG of a 200-DPI page ~45-60 ms vs a
~15-35 ms render; json.dumps of the per-sample truth ~20 ms). Measured choices (benchmarks/write_speed.py):

* PNG is written here, by hand: one "Up" filter for every row (a numpy subtraction) and zlib-ng
  deflate. cv2 and Pillow pick filters per row and deflate with stock zlib; neither lets us swap
  the deflater, and both were 3-5x slower for the same pixels. The container is the plain PNG of
  the spec (IHDR, one IDAT, IEND), read by every decoder; the pixels round-trip exactly.
* JPEG and WebP go through OpenCV (libjpeg-turbo, libwebp); the one RGB -> BGR conversion is the
  only copy. JPEG quality 95 (4:2:0) and WebP quality 90 by default.
* JSON through orjson (same values as `json`, ~15x faster on truth's long float lists).
"""
from __future__ import annotations

import struct

import numpy as np
import orjson
from zlib_ng import zlib_ng

IMAGE_FORMATS = ("png", "jpg", "webp")
DEFAULT_QUALITY = {"jpg": 95, "webp": 90}
DEFAULT_PNG_LEVEL = 1  # zlib-ng level: 1 is ~2x faster than 2 for ~25% larger files


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib_ng.crc32(kind + data))


def encode_png(image: np.ndarray, level: int = DEFAULT_PNG_LEVEL) -> bytes:
    """Lossless 8-bit PNG of an H x W (grey) or H x W x 3 (RGB) uint8 array."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"encode_png takes uint8 H x W or H x W x 3, got {image.dtype} {image.shape}")
    if not 0 <= level <= 9:
        raise ValueError(f"PNG level must be 0-9, got {level}")
    h, w = image.shape[:2]
    rows = np.ascontiguousarray(image).reshape(h, -1)
    filtered = np.empty((h, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 2  # filter type "Up": each byte minus the byte above (mod 256)
    filtered[0, 0] = 0  # first row: no row above, filter "None"
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    colour_type = 0 if image.ndim == 2 else 2
    header = struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib_ng.compress(filtered.data, level)) + _chunk(b"IEND", b""))


def encode_image(rgb: np.ndarray, fmt: str, quality: int | None = None,
                 png_level: int = DEFAULT_PNG_LEVEL) -> bytes:
    """H x W x 3 uint8 RGB -> file bytes of `fmt` ("png", "jpg" or "webp")."""
    if fmt == "png":
        return encode_png(rgb, png_level)
    if fmt not in DEFAULT_QUALITY:
        raise ValueError(f"image format must be one of {IMAGE_FORMATS}, got {fmt!r}")
    import cv2
    quality = DEFAULT_QUALITY[fmt] if quality is None else int(quality)
    flag = cv2.IMWRITE_JPEG_QUALITY if fmt == "jpg" else cv2.IMWRITE_WEBP_QUALITY
    ok, buf = cv2.imencode(f".{fmt}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [flag, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as {fmt}")
    return buf.tobytes()


def encode_json(value) -> bytes:
    """Compact JSON bytes (numpy scalars and arrays allowed; NaN becomes null)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
