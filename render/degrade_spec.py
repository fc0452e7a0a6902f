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


_EFFECTS: dict[str, type] = {
    "rotation": RotationSpec, "perspective": PerspectiveSpec, "curl": CurlSpec, "crop": CropSpec,
    "paper": PaperSpec, "creases": CreaseSpec, "wrinkles": WrinkleSpec, "lighting": LightingSpec,
    "blur": BlurSpec, "colour": ColourSpec, "black_white": BlackWhiteSpec, "noise": NoiseSpec,
    "jpeg": JpegSpec,
}
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
    background: str = "scanner"

    def __post_init__(self):
        if self.background not in BACKGROUNDS:
            raise ValueError(f"DegradeSpec.background must be one of {BACKGROUNDS}, "
                             f"got {self.background!r}")
        if self.black_white is not None and self.black_white.mode not in ("photocopy", "fax"):
            raise ValueError(f"BlackWhiteSpec.mode must be photocopy or fax, got {self.black_white.mode!r}")
        if self.blur is not None:
            bad = set(self.blur.kinds) - {"gaussian", "motion", "defocus"}
            if bad or not self.blur.kinds:
                raise ValueError(f"BlurSpec.kinds must be from gaussian/motion/defocus, got {self.blur.kinds}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

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


DEGRADE_PRESETS: dict[str, DegradeSpec] = {
    "none": DegradeSpec(),
    "scan": DegradeSpec(
        rotation=RotationSpec(1.5), crop=CropSpec(0.02), paper=PaperSpec(0.04),
        creases=CreaseSpec(1, (0.03, 0.1)), lighting=LightingSpec((0.0, 0.08), (0.0, 0.05), 0),
        blur=BlurSpec(("gaussian",), (0.0003, 0.0008)), noise=NoiseSpec((0.004, 0.012)),
        jpeg=JpegSpec((75, 95))),
    "photo": DegradeSpec(
        rotation=RotationSpec(4.0), perspective=PerspectiveSpec(0.06, (0.86, 0.96)),
        curl=CurlSpec(0.012, 0.4, (0.08, 0.2), 1), paper=PaperSpec(0.06),
        creases=CreaseSpec(2, (0.05, 0.15)), wrinkles=WrinkleSpec((0.02, 0.05)),
        lighting=LightingSpec((0.05, 0.25), (0.05, 0.2), 1, (0.15, 0.35), True),
        blur=BlurSpec(("gaussian", "defocus"), (0.0004, 0.0012)), colour=ColourSpec(),
        noise=NoiseSpec((0.008, 0.025), chromatic=True), jpeg=JpegSpec((60, 92)),
        background="table"),
    "fax": DegradeSpec(
        rotation=RotationSpec(1.0), crop=CropSpec(0.02), black_white=BlackWhiteSpec("fax")),
    "photocopy": DegradeSpec(
        rotation=RotationSpec(1.0), crop=CropSpec(0.02), creases=CreaseSpec(1, (0.05, 0.15)),
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
_STRENGTH_PRESETS = {  # which presets each strength draws from, with weights
    "light": (("scan", 0.5), ("photocopy", 0.2), ("photo", 0.3)),
    "medium": (("scan", 0.3), ("photo", 0.45), ("photocopy", 0.15), ("fax", 0.1)),
    "heavy": (("photo", 0.35), ("phone-bad", 0.45), ("fax", 0.2)),
}


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
        essential = name in ("black_white", "perspective")
        if essential or rng.random() < 0.75:
            keep[name] = getattr(preset, name)
    if strength == "light":
        keep.pop("curl", None)
        keep.pop("wrinkles", None)
    return DegradeSpec(**keep)
