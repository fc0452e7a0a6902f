"""Typed, JSON-serialisable degradation specs, named presets and a seeded random-spec sampler.

A spec holds *ranges* (what may happen); the planner in ``render.degrade_plan`` draws concrete
values per image. Sizes are fractions of the image's short side (``*_frac``) so one spec means
the same page damage at 512 px and at 200 DPI. ``None`` disables an effect.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

Range = tuple[float, float]


@dataclass(frozen=True)
class RotationSpec:
    max_deg: float = 1.5                      # uniform in [-max, max]


@dataclass(frozen=True)
class PerspectiveSpec:
    max_corner_frac: float = 0.04             # each frame corner moves up to this * short side
    page_scale: Range = (1.0, 1.0)            # < 1 shrinks the page so the background shows


@dataclass(frozen=True)
class CurlSpec:
    bow_frac: float = 0.01                    # parabolic bend of horizontal lines, * short side
    edge_prob: float = 0.5                    # chance of one curled edge
    edge_extent: Range = (0.08, 0.25)         # curled fraction of the page width/height
    max_folds: int = 0                        # folds (reuse crease lines when creases are on)


@dataclass(frozen=True)
class CropSpec:
    max_frac: float = 0.04                    # each side cut by up to this fraction, then rescaled


@dataclass(frozen=True)
class PaperSpec:
    tint: float = 0.06                        # max per-channel gain loss (yellowed/grey paper)


@dataclass(frozen=True)
class CreaseSpec:
    max_count: int = 2
    depth: Range = (0.05, 0.2)                # darkening in the crease valley (fraction)


@dataclass(frozen=True)
class WrinkleSpec:
    strength: Range = (0.02, 0.08)            # shading amplitude (fraction of brightness)
    cells: tuple[int, int] = (3, 8)           # coarse wrinkle count across the short side


@dataclass(frozen=True)
class LightingSpec:
    gradient: Range = (0.0, 0.2)              # brightness loss across the page
    vignette: Range = (0.0, 0.15)
    max_shadows: int = 1
    shadow_darkness: Range = (0.15, 0.45)
    auto_exposure: bool = False               # phone metering rescales a dim frame (capped)
    max_glare: int = 0                        # specular glare spots (photos under room light)
    glare_strength: Range = (0.15, 0.45)


@dataclass(frozen=True)
class BlurSpec:
    kinds: tuple[str, ...] = ("gaussian",)    # any of gaussian, motion, defocus
    size_frac: Range = (0.0005, 0.0015)       # sigma / half-kernel / radius as * short side


@dataclass(frozen=True)
class ColourSpec:
    brightness: float = 0.1                   # factor in [1 - b, 1 + b]
    contrast: float = 0.1
    saturation: float = 0.2
    hue: float = 0.02                         # fraction of the hue circle


@dataclass(frozen=True)
class NoiseSpec:
    std: Range = (0.005, 0.025)               # fraction of 255
    chromatic: bool = False                   # phone sensors: per-channel noise


@dataclass(frozen=True)
class JpegSpec:
    quality: tuple[int, int] = (50, 95)


@dataclass(frozen=True)
class BlackWhiteSpec:
    mode: str = "photocopy"                   # photocopy | fax


FRAMING_MODES = ("tight", "page")


@dataclass(frozen=True)
class FramingSpec:
    """What the capture frames: "tight" = the lead grid (most real scans are cropped to the
    tracing), "page" = the sheet filling the frame (phone photos). Margins are fractions of the
    framed box each side; negative cuts into it. Without framing the whole page is captured."""
    mode: str = "tight"
    margin_frac: Range = (-0.01, 0.03)


@dataclass(frozen=True)
class RippleSpec:
    """Slight non-periodic warp of the printed page (paper stretch, uneven feed): a few smooth
    random waves displacing page content by up to ``amplitude_mm``; breaks the exact grid period."""
    amplitude_mm: Range = (0.1, 0.4)
    wavelength_frac: Range = (0.25, 0.8)      # * short side


@dataclass(frozen=True)
class CameraSpec:
    """Scanner/phone capture at its own resolution: exposure and white balance, sensor noise,
    sharpening, JPEG, the resample of an upload/viewer and often a second JPEG.

    Real scans measure median 4.35 px/mm (IQR 3.95-4.91) from the grid period, paper grey ~215
    with warm, beige or grey casts, flat-region noise well above a clean render, and JPEG blocks
    that no longer sit on an 8 px grid (resampled after compression)."""
    capture_px_per_mm: tuple[float, float] = (4.35, 0.16)  # lognormal (median, sigma of the log)
    paper_level: Range = (0.80, 0.97)         # paper white after exposure, fraction of 255
    cast: float = 0.05                        # white-balance error: per-channel gain spread
    black_lift: Range = (0.0, 0.18)           # ink/black level raised by flare, fraction of 255
    noise_std: Range = (0.008, 0.03)          # sensor noise at capture resolution, fraction of 255
    chroma_noise: float = 0.5                 # per-channel part of the noise (0 = grey only)
    sharpen: Range = (0.0, 1.2)               # unsharp-mask amount (phone/scanner firmware)
    jpeg_quality: tuple[int, int] = (70, 95)
    resample: Range = (0.7, 1.0)              # delivered / captured size (whole pages only)
    second_jpeg_prob: float = 0.6
    second_jpeg_quality: tuple[int, int] = (75, 95)
    desaturate: Range = (0.0, 0.0)            # colours (cast and grid) pulled toward grey by this


_EFFECTS: dict[str, type] = {
    "rotation": RotationSpec, "perspective": PerspectiveSpec, "curl": CurlSpec, "crop": CropSpec,
    "paper": PaperSpec, "creases": CreaseSpec, "wrinkles": WrinkleSpec, "lighting": LightingSpec,
    "blur": BlurSpec, "colour": ColourSpec, "black_white": BlackWhiteSpec, "noise": NoiseSpec,
    "jpeg": JpegSpec, "framing": FramingSpec, "ripple": RippleSpec, "camera": CameraSpec,
}
_LATER_EFFECTS = ("framing", "ripple", "camera")
BACKGROUNDS = ("scanner", "table")


@dataclass(frozen=True)
class DegradeSpec:
    """Which effects run and how strongly; ``background`` fills what the page no longer covers."""

    rotation: RotationSpec | None = None
    perspective: PerspectiveSpec | None = None
    curl: CurlSpec | None = None
    crop: CropSpec | None = None
    paper: PaperSpec | None = None
    creases: CreaseSpec | None = None
    wrinkles: WrinkleSpec | None = None
    lighting: LightingSpec | None = None
    blur: BlurSpec | None = None
    colour: ColourSpec | None = None
    black_white: BlackWhiteSpec | None = None
    noise: NoiseSpec | None = None
    jpeg: JpegSpec | None = None
    framing: FramingSpec | None = None
    ripple: RippleSpec | None = None
    camera: CameraSpec | None = None
    background: str = "scanner"

    def __post_init__(self):
        if self.background not in BACKGROUNDS:
            raise ValueError(f"DegradeSpec.background must be one of {BACKGROUNDS}, "
                             f"got {self.background!r}")
        if self.black_white is not None and self.black_white.mode not in ("photocopy", "fax"):
            raise ValueError(f"BlackWhiteSpec.mode must be photocopy or fax, got {self.black_white.mode!r}")
        if self.framing is not None and self.framing.mode not in FRAMING_MODES:
            raise ValueError(f"FramingSpec.mode must be one of {FRAMING_MODES}, got {self.framing.mode!r}")
        if self.blur is not None:
            bad = set(self.blur.kinds) - {"gaussian", "motion", "defocus"}
            if bad or not self.blur.kinds:
                raise ValueError(f"BlurSpec.kinds must be from gaussian/motion/defocus, got {self.blur.kinds}")

    def to_dict(self) -> dict[str, Any]:
        """Effects that are off and were added after version 1 are left out, so older specs keep
        their dicts (and pages rendered from them their params) unchanged."""
        d = dataclasses.asdict(self)
        for name in _LATER_EFFECTS:
            if d[name] is None:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DegradeSpec":
        unknown = set(d) - set(_EFFECTS) - {"background"}
        if unknown:
            raise ValueError(f"DegradeSpec.from_dict: unknown keys {sorted(unknown)}")
        kw: dict[str, Any] = {"background": d.get("background", "scanner")}
        for name, effect_cls in _EFFECTS.items():
            sub = d.get(name)
            if sub is None:
                continue
            allowed = {f.name for f in dataclasses.fields(effect_cls)}
            if set(sub) - allowed:
                raise ValueError(f"DegradeSpec.from_dict: unknown {name} keys {sorted(set(sub) - allowed)}")
            kw[name] = effect_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in sub.items()})
        return cls(**kw)

    def enabled(self) -> list[str]:
        return [name for name in _EFFECTS if getattr(self, name) is not None]


# desaturate: scanner and phone pipelines render faint print colours greyer than the stock: the
# 52 real scans have a median pixel (paper) saturation of 18/255, the beige/warm casts drawn
# above alone give 25-41 (and a red grid on white reads far more saturated than in real scans)
# scanner noise and sharpening: the real scans' flat-region residual is 7.2 grey levels (median)
# vs 4.7 for the "scan" preset with noise 0.015-0.05 and sharpen 0-0.8, and their edge density
# (Sobel > 100: 50 % of pixels) is twice the preset's (22 %); a clean page has 48 %. With
# the noise kept, sharpen 0.2-1.1, a bilinear delivered resample and the lighter blur below:
# residual ~8, edge density ~42 % (12 pages). Phone noise 0.03-0.085 left a residual of 16:
# now 0.02-0.06
# white point: half the real images have paper at >= 237 grey and a quarter saturate at 255
# (auto-levels); paper levels 0.84-0.97 (scan) and 0.72-0.93 (phone) put ours at 209 and 192.
# Levels above 1 clip the paper to white as auto-levels do. With sharpen 0.6-1.8 and a lighter
# delivered resample (0.85-1.0) the scan preset's median Sobel gradient went 63 -> 98 (real
# 100) and its edge density 27 % -> 48 % (real 50 %), at 1024 px, 16 pages. Two-sample AUROC
# (benchmarks/render_realism.py, same run, with fax/photocopy cut to the tracing): CNN whole
# 0.844 -> 0.743, train-grid 0.914 -> 0.812, grid 0.794 -> 0.761, train-page 0.785 -> 0.820;
# features 0.920/0.935/0.977/0.888 -> 0.921/0.944/0.987/0.867
_SCANNER = CameraSpec(paper_level=(0.95, 1.1), cast=0.03, black_lift=(0.0, 0.1),
                      noise_std=(0.015, 0.05), chroma_noise=0.3, sharpen=(0.6, 1.8),
                      jpeg_quality=(75, 95), resample=(0.85, 1.0), second_jpeg_prob=0.4,
                      desaturate=(0.3, 0.8))
_PHONE = CameraSpec(paper_level=(0.85, 1.05), cast=0.06, black_lift=(0.02, 0.1),
                    noise_std=(0.02, 0.06), chroma_noise=0.5, sharpen=(0.3, 1.4),
                    jpeg_quality=(60, 90), resample=(0.6, 0.95), second_jpeg_prob=0.7,
                    desaturate=(0.3, 0.75))

#: a flatbed scan cut to the tracing (scans, faxes and photocopies alike)
_TIGHT_SCAN = FramingSpec("tight", (-0.01, 0.03))

DEGRADE_PRESETS: dict[str, DegradeSpec] = {
    "none": DegradeSpec(),
    # a flatbed scan or a PDF export cut to the tracing (most real scans)
    "scan": DegradeSpec(
        rotation=RotationSpec(1.0), framing=_TIGHT_SCAN, paper=PaperSpec(0.04),
        creases=CreaseSpec(1, (0.03, 0.1)), lighting=LightingSpec((0.0, 0.08), (0.0, 0.05), 0),
        blur=BlurSpec(("gaussian",), (0.0002, 0.0005)), ripple=RippleSpec((0.05, 0.3)), camera=_SCANNER),
    # a phone photo cropped to the tracing: mild keystone and bowing, uneven light, glare. Photo
    # blur stays light: the real images' strokes measure 0.54 mm at p90; twice this blur gave 1.0 mm
    "photo": DegradeSpec(
        rotation=RotationSpec(2.0), perspective=PerspectiveSpec(0.025), framing=FramingSpec("tight", (-0.02, 0.04)),
        curl=CurlSpec(0.008, 0.0, (0.08, 0.2), 1), paper=PaperSpec(0.06),
        creases=CreaseSpec(2, (0.04, 0.12)), wrinkles=WrinkleSpec((0.01, 0.04)),
        lighting=LightingSpec((0.05, 0.25), (0.03, 0.15), 1, (0.1, 0.35), True, 1),
        blur=BlurSpec(("gaussian", "defocus"), (0.00015, 0.0005)), ripple=RippleSpec((0.1, 0.4)),
        camera=_PHONE, background="table"),
    # the sheet fills the frame, its edges just visible or cut
    "photo-page": DegradeSpec(
        rotation=RotationSpec(2.5), perspective=PerspectiveSpec(0.03), framing=FramingSpec("page", (-0.04, 0.015)),
        curl=CurlSpec(0.01, 0.3, (0.05, 0.15), 1), paper=PaperSpec(0.06),
        creases=CreaseSpec(2, (0.05, 0.15)), wrinkles=WrinkleSpec((0.02, 0.05)),
        lighting=LightingSpec((0.05, 0.25), (0.05, 0.2), 1, (0.15, 0.35), True, 1),
        blur=BlurSpec(("gaussian", "defocus"), (0.0002, 0.0006)), ripple=RippleSpec((0.1, 0.4)),
        camera=_PHONE, background="table"),
    # the whole page shrunk onto a table (a minority of real photos)
    "photo-table": DegradeSpec(
        rotation=RotationSpec(4.0), perspective=PerspectiveSpec(0.06, (0.86, 0.96)),
        curl=CurlSpec(0.012, 0.4, (0.08, 0.2), 1), paper=PaperSpec(0.06),
        creases=CreaseSpec(2, (0.05, 0.15)), wrinkles=WrinkleSpec((0.02, 0.05)),
        lighting=LightingSpec((0.05, 0.25), (0.05, 0.2), 1, (0.15, 0.35), True),
        blur=BlurSpec(("gaussian", "defocus"), (0.0002, 0.0006)), colour=ColourSpec(),
        noise=NoiseSpec((0.008, 0.025), chromatic=True), jpeg=JpegSpec((60, 92)),
        background="table"),
    # fax and photocopy archives are scanned and cut to the tracing like the rest (46 of the 52
    # real images are tight crops)
    "fax": DegradeSpec(
        rotation=RotationSpec(1.0), framing=_TIGHT_SCAN, black_white=BlackWhiteSpec("fax")),
    "photocopy": DegradeSpec(
        rotation=RotationSpec(1.0), framing=_TIGHT_SCAN, creases=CreaseSpec(1, (0.05, 0.15)),
        lighting=LightingSpec((0.0, 0.1), (0.0, 0.1), 0), blur=BlurSpec(("gaussian",), (0.0003, 0.0008)),
        black_white=BlackWhiteSpec("photocopy"), jpeg=JpegSpec((70, 95))),
    "phone-bad": DegradeSpec(
        rotation=RotationSpec(8.0), perspective=PerspectiveSpec(0.1, (0.8, 0.92)),
        curl=CurlSpec(0.025, 0.8, (0.1, 0.3), 2), crop=CropSpec(0.03), paper=PaperSpec(0.1),
        creases=CreaseSpec(3, (0.1, 0.25)), wrinkles=WrinkleSpec((0.05, 0.1), (4, 10)),
        lighting=LightingSpec((0.15, 0.35), (0.1, 0.25), 2, (0.25, 0.5), True),
        blur=BlurSpec(("motion", "defocus", "gaussian"), (0.0006, 0.0014)),
        colour=ColourSpec(0.15, 0.2, 0.3, 0.03), noise=NoiseSpec((0.015, 0.04), chromatic=True),
        jpeg=JpegSpec((35, 70)), background="table"),
}

STRENGTHS = ("none", "light", "medium", "heavy")
# Which presets each strength draws from, with weights. Real archives are mostly scans and phone
# photos cropped to the tracing; whole pages on a table, photocopies and faxes are a minority
# (faxes and heavy photocopies also lose the coloured grid, which no real scan here lacks).
_STRENGTH_PRESETS = {
    "light": (("scan", 0.6), ("photo", 0.3), ("photo-page", 0.07), ("photocopy", 0.03)),
    "medium": (("scan", 0.35), ("photo", 0.35), ("photo-page", 0.15), ("photo-table", 0.07),
               ("photocopy", 0.05), ("fax", 0.03)),
    "heavy": (("photo", 0.35), ("photo-page", 0.2), ("phone-bad", 0.35), ("photo-table", 0.05),
              ("fax", 0.05)),
}
_ESSENTIAL = ("black_white", "perspective", "framing", "camera")


def random_degrade_spec(rng: np.random.Generator, strength: str = "any") -> DegradeSpec:
    """A realistic random spec: pick a capture preset for the strength, then drop some effects.

    ``strength`` is one of none/light/medium/heavy or "any" (10% none, else uniform over the rest).
    """
    if strength == "any":
        strength = "none" if rng.random() < 0.1 else STRENGTHS[1 + int(rng.integers(3))]
    if strength not in STRENGTHS:
        raise ValueError(f"random_degrade_spec: strength must be any or one of {STRENGTHS}, got {strength!r}")
    if strength == "none":
        return DEGRADE_PRESETS["none"]
    names, weights = zip(*_STRENGTH_PRESETS[strength])
    preset = DEGRADE_PRESETS[names[int(rng.choice(len(names), p=np.array(weights) / sum(weights)))]]
    keep: dict[str, Any] = {"background": preset.background}
    for name in preset.enabled():  # each optional effect survives with probability 0.75
        if name in _ESSENTIAL or rng.random() < 0.75:
            keep[name] = getattr(preset, name)
    if strength == "light":
        keep.pop("curl", None)
        keep.pop("wrinkles", None)
    return DegradeSpec(**keep)
