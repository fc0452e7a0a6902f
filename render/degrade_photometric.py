"""Photometric degradations: change pixel values only, never geometry (truth points are untouched).

Each function takes the uint8 RGB image and the *concrete* parameters drawn by the planner in
``render.degrade`` (plus an integer seed for any noise field), so a step's record reproduces it.
Albumentations is used where it has the operation (blur kinds, colour jitter);
lighting, creases, wrinkles and photocopy/fax are hand-written because albumentations has no
soft-shadow, paper-crease or toner/fax model (its RandomShadow draws hard-edged polygons);
noise is hand-written for speed (see ``noise``).
Smooth fields (lighting, wrinkles) are computed at low resolution and upsampled: they have no
high frequencies, and it keeps a 512 px degrade within a few milliseconds.
"""
from __future__ import annotations

import functools
import os

import cv2
import numpy as np

_FIELD_MAX_SIDE_PX = 256  # default resolution of smooth multiplicative fields
_WRINKLE_MAX_SIDE_PX = 384  # wrinkle folds are sharper: at most this, at least half resolution
_LIGHT_MAX_SIDE_PX = 128  # illumination is smoother still
_NOISE_BANK_PX = 1024     # side of the cached standard-normal tile that noise is cut from


@functools.lru_cache(maxsize=1)
def _albumentations():
    """Imported lazily: albumentations pulls in torch when it is installed (~2 s of CPU), which a
    clean render or ``import render`` should not pay. Its import-time PyPI version check is
    switched off: nothing may touch the network at run time."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations
    return albumentations


def _albu(transform, image: np.ndarray, seed: int) -> np.ndarray:
    return _albumentations().Compose([transform], seed=int(seed))(image=image)["image"]


def _multiply(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """image * field (HxW or HxWx3 float32 multiplier), rounded and clipped to uint8."""
    field = field.astype(np.float32, copy=False)
    if field.ndim == 2:
        field = cv2.merge([field, field, field])
    return cv2.multiply(image, field, dtype=cv2.CV_8U)  # saturating, rounds; ~10x numpy's speed


def _low_res_shape(hw: tuple[int, int], max_side: int = _FIELD_MAX_SIDE_PX) -> tuple[int, int]:
    h, w = hw
    scale = min(1.0, max_side / max(h, w))
    return max(2, round(h * scale)), max(2, round(w * scale))


def _upsample(field: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    return cv2.resize(field, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)


# ----------------------------------------------------------------------------- paper
def paper_tint(image: np.ndarray, p: dict) -> np.ndarray:
    """Per-channel multiplier (yellowed/grey/bluish paper and ink), as one lookup table."""
    ramp = np.arange(256, dtype=np.float32)[:, None]
    lut = np.clip(ramp * np.asarray(p["rgb_gain"], np.float32)[None, :] + 0.5, 0, 255)
    return cv2.LUT(image, lut.astype(np.uint8).reshape(256, 1, 3))


def _crease_profile(d: np.ndarray, c: dict) -> np.ndarray:
    """Brightness multiplier vs signed distance d (in crease widths) from the fold line."""
    return (1.0 - c["depth"] * np.exp(-d * d) + c["highlight"] * np.exp(-(d - 1.5) ** 2)
            - c["shade_step"] * (0.5 + 0.5 * np.tanh(d * 0.25)))


_CREASE_REACH = 24.0  # crease widths each side of the line beyond which its profile is constant
_CREASE_STEP = 1.0 / 256  # profile table step (crease widths): nearest-entry error < 2e-3


def crease_field(hw: tuple[int, int], lines: list[dict]) -> np.ndarray:
    """Brightness multiplier (float32 HxW) of the fold lines. A crease varies only across its
    line, so its profile is tabulated once in 1-D and spread over the page by cv2.warpAffine
    (the affine map is the signed distance, the table's ends replicate its flat far field;
    nearest entry of a fine table: OpenCV's bilinear warp costs 5x more): several times cheaper
    than evaluating exp/tanh at every pixel."""
    h, w = hw
    d = np.arange(-_CREASE_REACH, _CREASE_REACH + _CREASE_STEP / 2, _CREASE_STEP)
    field = None
    for c in lines:
        table = _crease_profile(d, c).astype(np.float32)[None, :]
        k = 1.0 / (c["width_px"] * _CREASE_STEP)  # table columns per px of signed distance
        cos, sin = float(np.cos(c["angle_rad"])) * k, float(np.sin(c["angle_rad"])) * k
        to_table = np.array([[cos, sin, _CREASE_REACH / _CREASE_STEP - c["offset_px"] * k], [0.0, 0.0, 0.0]])
        layer = cv2.warpAffine(table, to_table, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REPLICATE)
        field = layer if field is None else cv2.multiply(field, layer)
    return field


def creases(image: np.ndarray, p: dict) -> np.ndarray:
    """Straight fold lines: a thin dark valley, a bright ridge beside it and a faint shade step."""
    return _multiply(image, crease_field(image.shape[:2], p["lines"]))


def wrinkles(image: np.ndarray, p: dict) -> np.ndarray:
    """Crumpled paper: a ridged multi-octave height map (|noise| has sharp V-shaped folds at its
    zero crossings) lit from one side, i.e. shaded by its directional slope."""
    h, w = image.shape[:2]
    lh, lw = _low_res_shape((h, w), min(_WRINKLE_MAX_SIDE_PX, max(h, w) // 2))
    rng = np.random.default_rng(p["seed"])
    height = np.zeros((lh, lw), np.float32)
    for octave, amplitude in ((1, 1.0), (2, 0.5), (4, 0.25)):
        cells = p["cells"] * octave
        coarse = rng.standard_normal((cells + 1, max(2, round(cells * w / h)) + 1)).astype(np.float32)
        height += amplitude * np.abs(cv2.resize(coarse, (lw, lh), interpolation=cv2.INTER_CUBIC))
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3)
    angle = p["light_angle_rad"]
    slope = gx * np.float32(np.cos(angle)) + gy * np.float32(np.sin(angle))
    slope *= np.float32(1.0 / max(3.0 * float(slope.std()), 1e-6))
    field = 1.0 - 0.3 * p["strength"] + p["strength"] * np.clip(slope, -1.5, 1.5)
    return _multiply(image, _upsample(field, (h, w)))


# ----------------------------------------------------------------------------- camera / scanner
def lighting(image: np.ndarray, p: dict) -> np.ndarray:
    """Uneven illumination: linear gradient, vignette and soft-edged shadow polygons."""
    h, w = image.shape[:2]
    lh, lw = _low_res_shape((h, w), _LIGHT_MAX_SIDE_PX)
    u = np.linspace(-1.0, 1.0, lw, dtype=np.float32)[None, :]
    v = np.linspace(-1.0, 1.0, lh, dtype=np.float32)[:, None]
    ang = p["gradient_angle_rad"]
    field = 1.0 - p["gradient"] * 0.5 * (1.0 + u * np.float32(np.cos(ang)) + v * np.float32(np.sin(ang)))
    field = field - p["vignette"] * (u * u + v * v) / 2.0
    if p["shadows"]:
        shade = np.zeros((lh, lw), np.float32)
        for s in p["shadows"]:
            poly = np.round(np.asarray(s["polygon"]) * [lw - 1, lh - 1]).astype(np.int32)
            layer = np.zeros((lh, lw), np.float32)
            cv2.fillPoly(layer, [poly], float(s["darkness"]))
            sigma = max(0.5, s["softness"] * max(lh, lw))
            shade = np.maximum(shade, cv2.GaussianBlur(layer, (0, 0), sigma))
        field = field * (1.0 - shade)
    if p.get("auto_exposure", False):  # a phone meters the scene: brighten dim frames, capped
        field = field * np.float32(min(1.0 / max(float(field.mean()), 1e-3), 1.0 / max(float(field.max()), 1e-3) * 1.1))
    out = _multiply(image, _upsample(np.clip(field, 0.05, 1.5), (h, w)))
    if p.get("glare"):
        out = _glare(out, p["glare"], (lh, lw))
    return out


def _glare(image: np.ndarray, spots: list, low_hw: tuple[int, int]) -> np.ndarray:
    """Specular glare: soft elliptical spots that wash the image towards white (additive light)."""
    lh, lw = low_hw
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    veil = np.zeros((lh, lw), np.float32)
    for g in spots:
        cx, cy = g["centre"][0] * (lw - 1), g["centre"][1] * (lh - 1)
        rx, ry = g["radius"] * lw, g["radius"] * g["aspect"] * lw
        d2 = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
        veil = np.maximum(veil, np.float32(g["strength"]) * np.exp(-d2))
    veil = cv2.merge([_upsample(veil, image.shape[:2])] * 3)
    white = np.full_like(image, 255)
    return cv2.add(cv2.multiply(image, 1.0 - veil, dtype=cv2.CV_8U), cv2.multiply(white, veil, dtype=cv2.CV_8U))


def defocus_kernel(radius_px: float) -> np.ndarray:
    """Out-of-focus point spread: a uniform disk with an anti-aliased rim (sums to 1)."""
    half = int(np.ceil(radius_px))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    disk = np.clip(radius_px + 0.5 - np.sqrt(xx * xx + yy * yy), 0.0, 1.0)
    return disk / disk.sum()


def blur(image: np.ndarray, p: dict) -> np.ndarray:
    """Scanner/camera blur: gaussian (sigma px) and motion (kernel px, angle) via albumentations;
    defocus is a disk kernel here because albumentations' Defocus always convolves with a kernel
    of at least 17x17 px (~15 ms at 512 px) even for a 1 px radius."""
    kind = p["kind"]
    if kind == "defocus":
        return cv2.filter2D(image, -1, defocus_kernel(p["radius_px"]), borderType=cv2.BORDER_REFLECT)
    A = _albumentations()
    if kind == "gaussian":
        t = A.GaussianBlur(blur_limit=0, sigma_limit=(p["sigma_px"], p["sigma_px"]), p=1.0)
    elif kind == "motion":
        k = p["kernel_px"]
        t = A.MotionBlur(blur_limit=(k, k), angle_range=(p["angle_deg"], p["angle_deg"]),
                         direction_range=(0.0, 0.0), allow_shifted=False, p=1.0)
    else:
        raise ValueError(f"unknown blur kind {kind!r}")
    return _albu(t, image, p["seed"])


def colour(image: np.ndarray, p: dict) -> np.ndarray:
    """Brightness/contrast/saturation/hue through albumentations' ColorJitter (fixed factors)."""
    t = _albumentations().ColorJitter(brightness=(p["brightness"],) * 2, contrast=(p["contrast"],) * 2,
                      saturation=(p["saturation"],) * 2, hue=(p["hue"],) * 2, p=1.0)
    return _albu(t, image, p["seed"])


_NOISE_UNIT = 1024  # banks hold standard normals as int16 in units of 1/1024


@functools.lru_cache(maxsize=8)  # the presets use 4 mixes (grey, per channel, 0.3, 0.5)
def _noise_bank(chroma: float) -> np.ndarray:
    """A fixed 3-channel normal tile (seeds 0 and 1), read-only, built once per chroma mix:
    sqrt(chroma) * independent per-channel normals + sqrt(1 - chroma) * one shared (luma) normal,
    so every channel is a standard normal and chroma=0 is grey noise. int16 (6 MB) so that one
    mixed-type cv2.addWeighted adds a window of it to the page without any float temporaries."""
    shape = (_NOISE_BANK_PX, _NOISE_BANK_PX)
    luma = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)[..., None]
    field = np.float32(np.sqrt(1.0 - chroma)) * luma
    if chroma > 0:
        field = field + np.float32(np.sqrt(chroma)) * np.random.default_rng(1).standard_normal(
            (*shape, 3), dtype=np.float32)
    bank = np.round(np.broadcast_to(field, (*shape, 3)) * _NOISE_UNIT).astype(np.int16)
    bank.setflags(write=False)
    return bank


def _noise_window(bank: np.ndarray, hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A randomly placed window of the bank: a view (no copy) when it fits, else wrapped around
    (period 1024 px is invisible in sensor noise)."""
    h, w = hw
    if h <= _NOISE_BANK_PX and w <= _NOISE_BANK_PX:
        y0 = int(rng.integers(_NOISE_BANK_PX - h + 1))
        x0 = int(rng.integers(_NOISE_BANK_PX - w + 1))
        return bank[y0:y0 + h, x0:x0 + w]
    ys = (int(rng.integers(_NOISE_BANK_PX)) + np.arange(h)) % _NOISE_BANK_PX
    xs = (int(rng.integers(_NOISE_BANK_PX)) + np.arange(w)) % _NOISE_BANK_PX
    return np.take(np.take(bank, ys, axis=0), xs, axis=1)


def noise(image: np.ndarray, p: dict) -> np.ndarray:
    """Additive Gaussian sensor noise (std as a fraction of 255), grey or per channel.

    Hand-written instead of albumentations' GaussNoise: that draws fresh normals for every pixel
    (~4 ms at 512 px, a third of the training-time budget); windows of a cached normal tile are
    statistically the same for a network, and with the luma/chroma mix already in the tile a
    step is one cv2.addWeighted (~0.3 ms at 512 px). ``chroma`` (sensor noise) is the
    per-channel share of the variance, the rest shared by the channels; without it, noise is
    grey or fully per channel. ``scale`` < 1 makes blotchier noise (phone sensors after
    demosaicing) by drawing it at lower resolution.
    """
    h, w = image.shape[:2]
    rng = np.random.default_rng(p["seed"])
    chroma = float(p["chroma"]) if "chroma" in p else (1.0 if p["per_channel"] else 0.0)
    nh, nw = max(1, round(h * p["scale"])), max(1, round(w * p["scale"]))
    field = _noise_window(_noise_bank(chroma), (nh, nw), rng)
    if (nh, nw) != (h, w):
        field = cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.addWeighted(image, 1.0, field, p["std"] * 255.0 / _NOISE_UNIT, 0.0, dtype=cv2.CV_8U)


_LUMA_RGB = np.array([0.299, 0.587, 0.114], np.float32)


def exposure(image: np.ndarray, p: dict) -> np.ndarray:
    """Camera exposure and white balance: out = black + in * gain * (1 - black / 255) per
    channel (paper lands at gain * 255, ink at the flare-lifted black), as one lookup table.
    ``desaturate`` k > 0: then every colour is pulled toward its luma by k (scanner and phone
    colour processing washes out faint print colours and casts), the whole step as one 3x4
    colour matrix (cv2.transform)."""
    gain = np.asarray(p["gain_rgb"], np.float32)
    black = np.asarray(p["black_rgb"], np.float32)
    k = float(p.get("desaturate", 0.0))
    if k > 0.0:
        mix = (1.0 - k) * np.eye(3, dtype=np.float32) + k * np.outer(np.ones(3, np.float32), _LUMA_RGB)
        matrix = np.hstack([mix * (gain * (1.0 - black / 255.0))[None, :], (mix @ black)[:, None]])
        return cv2.transform(image, matrix.astype(np.float32))  # saturating uint8, rounded
    ramp = np.arange(256, dtype=np.float32)[:, None]
    gain, black = gain[None, :], black[None, :]
    lut = np.clip(black + ramp * gain * (1.0 - black / 255.0) + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(image, lut.reshape(256, 1, 3))


def sharpen(image: np.ndarray, p: dict) -> np.ndarray:
    """Unsharp mask, as phone and scanner firmware apply before JPEG (halos along the trace)."""
    soft = cv2.GaussianBlur(image, (0, 0), p["sigma_px"])
    return cv2.addWeighted(image, 1.0 + p["amount"], soft, -p["amount"], 0.0)


def jpeg(image: np.ndarray, p: dict) -> np.ndarray:
    """Real JPEG encode/decode (OpenCV expects BGR, so convert around it for correct chroma)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(p["quality"])])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("cv2.imencode failed to encode JPEG")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


# ----------------------------------------------------------------------------- black and white
_BAYER4 = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], np.float32)


def paper_ratio(image: np.ndarray, colour_dropout: float) -> np.ndarray:
    """uint8 HxW brightness relative to the local paper level: 255 = paper, 0 = black ink.

    ``colour_dropout`` mixes luminance (a copier sees a red grid as grey) with the max channel
    (the grid drops out, black ink stays). Relative to a local max-filtered background so uneven
    lighting and thin anti-aliased traces at training size still threshold as ink. All uint8
    OpenCV arithmetic: a 512 px page costs well under a millisecond.
    """
    h, w = image.shape[:2]
    lum = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    r, g, b = cv2.split(image)
    grey = cv2.addWeighted(lum, 1.0 - colour_dropout, cv2.max(cv2.max(r, g), b), colour_dropout, 0.0)
    lh, lw = _low_res_shape((h, w), 64)
    background = cv2.dilate(cv2.resize(grey, (lw, lh), interpolation=cv2.INTER_AREA), np.ones((5, 5), np.uint8))
    background = cv2.resize(cv2.blur(background, (5, 5)), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.divide(grey, cv2.max(background, 1), scale=255.0)


def _sprinkle(shape: tuple[int, int], density: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row/column indices of Poisson(density * area) random pixels (cheaper than a full random field)."""
    n = int(rng.poisson(density * shape[0] * shape[1]))
    return rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)


def black_white(image: np.ndarray, p: dict) -> np.ndarray:
    """Photocopy (steep toner curve on ink darkness, speckle, streaks) or fax (half vertical
    resolution, ordered-dither threshold, flipped-bit speckle)."""
    if p["mode"] not in ("photocopy", "fax"):
        raise ValueError(f"unknown black-and-white mode {p['mode']!r}")
    h, w = image.shape[:2]
    rng = np.random.default_rng(p["seed"])
    ratio = paper_ratio(image, p["colour_dropout"])
    if p["mode"] == "photocopy":
        darkness = 1.0 - np.arange(256, dtype=np.float64) / 255.0
        toner = 1.0 / (1.0 + np.exp(-(darkness - p["threshold"]) * p["steepness"]))
        lut = np.clip((1.0 - toner) * (255.0 * p["paper_white"]) + 0.5, 0, 255).astype(np.uint8)
        out = cv2.LUT(ratio, lut)
        ys, xs = _sprinkle((h, w), p["speckle"], rng)
        out[ys, xs] = out[ys, xs] // 4
        half_width = max(1, round(0.001 * w))
        for x in rng.integers(0, w, size=p["streaks"]):
            x0, x1 = max(0, x - half_width), min(w, x + half_width)
            out[:, x0:x1] = (out[:, x0:x1] * 0.8).astype(np.uint8)
    else:  # fax
        half = cv2.resize(ratio, (w, max(1, h // 2)), interpolation=cv2.INTER_AREA).astype(np.float32)
        tiles = np.tile((_BAYER4 + 0.5) / 16.0, (half.shape[0] // 4 + 1, w // 4 + 1))
        level = p["threshold"] + p["dither"] * (tiles[: half.shape[0], :w] - 0.5)  # ink darkness
        binary = np.where(half < 255.0 * (1.0 - level), 0, 255).astype(np.uint8)
        out = cv2.resize(binary, (w, h), interpolation=cv2.INTER_NEAREST)
        ys, xs = _sprinkle((h, w), p["speckle"], rng)
        out[ys, xs] = 255 - out[ys, xs]
    return cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)


STEPS = {
    "paper_tint": paper_tint, "creases": creases, "wrinkles": wrinkles, "lighting": lighting,
    "blur": blur, "colour": colour, "black_white": black_white, "noise": noise, "jpeg": jpeg,
    "exposure": exposure, "sharpen": sharpen,
}
