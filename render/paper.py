"""How the paper looks: a typed style spec (speed, gains, size, DPI, grid, fonts) with named presets."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from .resolve import resolve_spec

PAPER_SIZES_MM = {"letter": (279.4, 215.9), "a4": (297.0, 210.0)}  # (long side, short side)
ORIENTATIONS = ("landscape", "portrait")
GRID_STYLES = ("lines", "dots", "thermal")  # thermal: 1 mm dots, solid 5 mm lines
SEPARATOR_STYLES = ("tick", "dotted")  # short bars at column changes, or full-height dotted lines
SPEEDS_MM_S = (25.0, 50.0)
GAINS_MM_MV = (5.0, 10.0, 20.0)
FONTS = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono", "DejaVuSerif", "DejaVuSerif-Bold")

# (minor 1 mm line, major 5 mm line) RGB colours of real ECG paper stocks.
GRID_COLORS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]] | None] = {
    "red": ((247, 196, 196), (232, 122, 122)),
    "pink": ((250, 218, 228), (240, 160, 188)),
    "orange": ((251, 220, 186), (242, 162, 98)),
    "green": ((204, 236, 204), (118, 196, 128)),
    "blue": ((204, 218, 246), (118, 148, 222)),
    "grey": ((222, 222, 222), (160, 160, 160)),
    "none": None,
}


@dataclass(frozen=True)
class PaperStyle:
    """Everything about the printed page that is not which lead goes where."""

    name: str = "classic"
    paper: str = "letter"
    orientation: str = "landscape"
    dpi: int = 200
    paper_speed_mm_s: float = 25.0
    limb_gain_mm_mv: float = 10.0
    chest_gain_mm_mv: float = 10.0
    grid_color: str = "red"
    grid_style: str = "lines"
    paper_rgb: tuple[int, int, int] = (255, 255, 255)
    trace_rgb: tuple[int, int, int] = (0, 0, 0)
    trace_width_mm: float = 0.3
    calibration: bool = True
    header: bool = True
    footer: bool = True
    font: str = "DejaVuSans"
    label_size_mm: float = 3.0
    margin_mm: int = 6
    # later fields (defaults keep earlier pages as they were)
    minor_line_mm: float = 0.08               # minor grid line width (lines style)
    minor_contrast: float = 1.0               # minor line darkness relative to the stock colour
    label_font: str | None = None             # lead labels (None: `font`); real printouts: bold serif
    header_size_mm: float | None = None       # header/footer text height (None: label_size_mm)
    separator_style: str = "tick"
    major_contrast: float = 1.0               # major line darkness relative to the stock colour
    row_pitch_mm: float | None = None         # distance between rows (None: rows fill the page)

    def __post_init__(self):
        object.__setattr__(self, "paper_rgb", tuple(int(c) for c in self.paper_rgb))
        object.__setattr__(self, "trace_rgb", tuple(int(c) for c in self.trace_rgb))
        problems = []
        if self.paper not in PAPER_SIZES_MM:
            problems.append(f"paper must be one of {sorted(PAPER_SIZES_MM)}")
        if self.orientation not in ORIENTATIONS:
            problems.append(f"orientation must be one of {ORIENTATIONS}")
        if not 72 <= int(self.dpi) <= 600:
            problems.append("dpi must be within 72..600")
        if self.paper_speed_mm_s not in SPEEDS_MM_S:
            problems.append(f"paper_speed_mm_s must be one of {SPEEDS_MM_S}")
        for gain in (self.limb_gain_mm_mv, self.chest_gain_mm_mv):
            if gain not in GAINS_MM_MV:
                problems.append(f"gains must be one of {GAINS_MM_MV} mm/mV, got {gain}")
        if self.grid_color not in GRID_COLORS:
            problems.append(f"grid_color must be one of {sorted(GRID_COLORS)}")
        if self.grid_style not in GRID_STYLES:
            problems.append(f"grid_style must be one of {GRID_STYLES}")
        if self.font not in FONTS or (self.label_font is not None and self.label_font not in FONTS):
            problems.append(f"font and label_font must be one of {FONTS}")
        if self.separator_style not in SEPARATOR_STYLES:
            problems.append(f"separator_style must be one of {SEPARATOR_STYLES}")
        if not (0.02 <= self.minor_line_mm <= 0.5 and 0.0 <= self.minor_contrast <= 4.0
                and 0.0 <= self.major_contrast <= 4.0):
            problems.append("minor_line_mm must be within 0.02..0.5 and grid contrasts within 0..4")
        if self.row_pitch_mm is not None and not 10.0 <= self.row_pitch_mm <= 100.0:
            problems.append("row_pitch_mm must be within 10..100")
        if not 0.05 <= self.trace_width_mm <= 1.0:
            problems.append("trace_width_mm must be within 0.05..1.0")
        if problems:
            raise ValueError(f"paper style {self.name!r}: " + "; ".join(problems))

    @property
    def px_per_mm(self) -> float:
        return self.dpi / 25.4

    @property
    def page_size_mm(self) -> tuple[float, float]:
        """(width, height) of the page in mm."""
        long_mm, short_mm = PAPER_SIZES_MM[self.paper]
        return (long_mm, short_mm) if self.orientation == "landscape" else (short_mm, long_mm)

    @property
    def page_size_px(self) -> tuple[int, int]:
        """(height, width) of the rendered page in pixels."""
        w_mm, h_mm = self.page_size_mm
        return int(round(h_mm * self.px_per_mm)), int(round(w_mm * self.px_per_mm))

    def gain_for(self, lead: str) -> float:
        """mm/mV used for a lead: chest gain for V-leads, limb gain otherwise."""
        return self.chest_gain_mm_mv if lead.lstrip("-").upper().startswith("V") else self.limb_gain_mm_mv

    def to_dict(self) -> dict:
        """Later fields at their defaults are left out: earlier pages keep their params."""
        d = asdict(self)
        d["paper_rgb"], d["trace_rgb"] = list(self.paper_rgb), list(self.trace_rgb)
        for name, default in _LATER_DEFAULTS.items():
            if d[name] == default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PaperStyle":
        return cls(**d)


_LATER_DEFAULTS = {"minor_line_mm": 0.08, "minor_contrast": 1.0, "label_font": None, "header_size_mm": None,
                   "separator_style": "tick", "major_contrast": 1.0, "row_pitch_mm": None}

STYLE_PRESETS: dict[str, PaperStyle] = {
    "classic": PaperStyle(),
    "a4": PaperStyle(name="a4", paper="a4"),
    "pink": PaperStyle(name="pink", grid_color="pink"),
    "green": PaperStyle(name="green", grid_color="green", paper="a4"),
    "blue-dots": PaperStyle(name="blue-dots", grid_color="blue", grid_style="dots"),
    "grey": PaperStyle(name="grey", grid_color="grey"),
    "plain": PaperStyle(name="plain", grid_color="none", header=False),
    "fast": PaperStyle(name="fast", paper_speed_mm_s=50.0),
    "half-chest": PaperStyle(name="half-chest", chest_gain_mm_mv=5.0),
    "portrait": PaperStyle(name="portrait", orientation="portrait", paper="a4"),
    "bare": PaperStyle(name="bare", header=False, footer=False, calibration=False),
    # thermal printer output: grey 1 mm dots, solid 5 mm lines, dotted column separators, bold
    # serif lead labels (about a third of the real scans)
    "thermal": PaperStyle(name="thermal", grid_color="grey", grid_style="thermal", paper_rgb=(250, 250, 248),
                          trace_rgb=(20, 20, 20), font="DejaVuSerif", label_font="DejaVuSerif-Bold",
                          label_size_mm=4.5, header_size_mm=3.0, separator_style="dotted", minor_contrast=2.5,
                          major_contrast=1.4, row_pitch_mm=32.0),
    # a hospital laser print: darker minor lines, bold serif labels
    "clinical": PaperStyle(name="clinical", minor_line_mm=0.15, minor_contrast=2.5, major_contrast=1.3,
                           font="DejaVuSerif", label_font="DejaVuSerif-Bold", label_size_mm=4.2, header_size_mm=3.0,
                           row_pitch_mm=34.0),
}


def get_style(style: "str | dict | PaperStyle | None", dpi: int | None = None) -> PaperStyle:
    """Accept None (classic), a preset name, a dict (from `to_dict`) or a PaperStyle; `dpi` overrides."""
    resolved = resolve_spec("classic" if style is None else style, PaperStyle, STYLE_PRESETS, "paper style")
    return replace(resolved, dpi=int(dpi)) if dpi is not None else resolved
