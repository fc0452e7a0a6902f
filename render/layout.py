"""Which lead goes where on the page: a typed layout spec, named presets, and panel placement in mm.

A layout is a grid of lead names (rows x columns) plus optional full-width rhythm strips. Columns
show consecutive time slices ("sequential", as real 12-lead printouts do) or the same slice
("simultaneous"). Placement is pure geometry in millimetres; drawing converts to pixels.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .resolve import resolve_spec

LIMB_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF")
CHEST_LEADS = ("V1", "V2", "V3", "V4", "V5", "V6")
TIME_MODES = ("sequential", "simultaneous")


@dataclass(frozen=True)
class LayoutSpec:
    """Rows of lead names (one per column), rhythm strips below, and how columns share time."""

    name: str = "3x4+1R"
    grid: tuple[tuple[str, ...], ...] = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"),
                                         ("III", "aVF", "V3", "V6"))
    rhythm: tuple[str, ...] = ("II",)
    seconds: float = 10.0  # time a full-width row shows at most (s)
    time_mode: str = "sequential"
    separators: bool = True  # short vertical bars between columns

    def __post_init__(self):
        grid = tuple(tuple(str(lead) for lead in row) for row in self.grid)
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "rhythm", tuple(str(lead) for lead in self.rhythm))
        if not grid and not self.rhythm:
            raise ValueError(f"layout {self.name!r} has no leads")
        if grid and len({len(row) for row in grid}) != 1:
            raise ValueError(f"layout {self.name!r}: every row needs the same number of columns")
        if self.time_mode not in TIME_MODES:
            raise ValueError(f"layout {self.name!r}: time_mode must be one of {TIME_MODES}")
        if not self.seconds > 0:
            raise ValueError(f"layout {self.name!r}: seconds must be > 0")

    @property
    def n_columns(self) -> int:
        return len(self.grid[0]) if self.grid else 1

    @property
    def n_rows(self) -> int:
        return len(self.grid) + len(self.rhythm)

    @property
    def leads(self) -> tuple[str, ...]:
        """Every distinct lead the layout shows, in first-appearance order."""
        seen: dict[str, None] = {}
        for row in self.grid:
            for lead in row:
                seen.setdefault(lead)
        for lead in self.rhythm:
            seen.setdefault(lead)
        return tuple(seen)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["grid"] = [list(row) for row in self.grid]
        d["rhythm"] = list(self.rhythm)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LayoutSpec":
        return cls(**{**d, "grid": tuple(tuple(r) for r in d.get("grid", ())),
                      "rhythm": tuple(d.get("rhythm", ()))})


def _columns(order: tuple[str, ...], n_rows: int) -> tuple[tuple[str, ...], ...]:
    """Fill leads column-major into n_rows rows (the standard printout convention)."""
    n_cols = len(order) // n_rows
    return tuple(tuple(order[c * n_rows + r] for c in range(n_cols)) for r in range(n_rows))


STANDARD_ORDER = LIMB_LEADS + CHEST_LEADS
CABRERA_ORDER = ("aVL", "I", "-aVR", "II", "aVF", "III") + CHEST_LEADS

LAYOUT_PRESETS: dict[str, LayoutSpec] = {
    "3x4": LayoutSpec("3x4", _columns(STANDARD_ORDER, 3), ()),
    "3x4+1R": LayoutSpec("3x4+1R", _columns(STANDARD_ORDER, 3), ("II",)),
    "3x4+2R": LayoutSpec("3x4+2R", _columns(STANDARD_ORDER, 3), ("II", "V1")),
    "3x4+3R": LayoutSpec("3x4+3R", _columns(STANDARD_ORDER, 3), ("V1", "II", "V5")),
    "6x2": LayoutSpec("6x2", _columns(STANDARD_ORDER, 6), ()),
    "6x2+1R": LayoutSpec("6x2+1R", _columns(STANDARD_ORDER, 6), ("II",)),
    "12x1": LayoutSpec("12x1", _columns(STANDARD_ORDER, 12), ()),
    "cabrera-3x4": LayoutSpec("cabrera-3x4", _columns(CABRERA_ORDER, 3), ("II",)),
    "1x1": LayoutSpec("1x1", (), ("II",), separators=False),
    "2x1": LayoutSpec("2x1", (), ("II", "V1"), separators=False),
}


def get_layout(layout: "str | dict | LayoutSpec") -> LayoutSpec:
    """Accept a preset name, a dict (from `to_dict`) or a LayoutSpec."""
    return resolve_spec(layout, LayoutSpec, LAYOUT_PRESETS, "layout")


@dataclass(frozen=True)
class Panel:
    """One lead drawn over one time slice: position in mm and the sample range it covers."""

    lead: str
    row: int
    column: int  # -1 for rhythm strips
    x_mm: float  # left edge, where sample `start` is drawn
    width_mm: float
    baseline_mm: float  # y of 0 mV
    top_mm: float  # row cell
    bottom_mm: float
    start: int  # first sample index (inclusive)
    stop: int  # last sample index (exclusive)
    is_rhythm: bool = False


@dataclass(frozen=True)
class PlotArea:
    """Where rows may go on the page (mm), the trace start and the shown time."""

    left_mm: float
    top_mm: float
    right_mm: float
    bottom_mm: float
    trace_x_mm: float  # where t = 0 of every row is drawn (right of the calibration pulse)
    speed_mm_s: float
    fs_hz: float
    n_samples: int
    extra: dict = field(default_factory=dict)


def row_seconds(layout: LayoutSpec, area: PlotArea) -> float:
    """Time a full row shows: the layout's seconds, capped by page width and signal length."""
    width_s = (area.right_mm - area.trace_x_mm) / area.speed_mm_s
    signal_s = area.n_samples / area.fs_hz
    return max(min(layout.seconds, width_s, signal_s), 1.0 / area.fs_hz)


def place_panels(layout: LayoutSpec, area: PlotArea) -> list[Panel]:
    """Place every panel of the layout in the plot area; rows share the height equally.

    Baselines sit on whole millimetres, at 55 % of the row height from its top so tall R waves
    have a little more room above than S waves below, as on printed ECGs.
    """
    seconds = row_seconds(layout, area)
    n_rows = layout.n_rows
    pitch_mm = (area.bottom_mm - area.top_mm) / n_rows
    panels: list[Panel] = []
    col_s = seconds / layout.n_columns
    row = 0
    for row, leads in enumerate(layout.grid):
        top = area.top_mm + row * pitch_mm
        baseline = float(round(top + 0.55 * pitch_mm))
        for col, lead in enumerate(leads):
            t0 = col * col_s if layout.time_mode == "sequential" else 0.0
            start = int(round(t0 * area.fs_hz))
            stop = int(round((t0 + col_s) * area.fs_hz))
            # sequential: a row is one continuous time axis, so x follows the sample index
            x_mm = (area.trace_x_mm + start / area.fs_hz * area.speed_mm_s
                    if layout.time_mode == "sequential"
                    else area.trace_x_mm + col * col_s * area.speed_mm_s)
            panels.append(Panel(lead, row, col, x_mm, col_s * area.speed_mm_s, baseline, top,
                                top + pitch_mm, start, min(stop, area.n_samples)))
    for k, lead in enumerate(layout.rhythm):
        r = len(layout.grid) + k
        top = area.top_mm + r * pitch_mm
        baseline = float(round(top + 0.55 * pitch_mm))
        stop = min(int(round(seconds * area.fs_hz)), area.n_samples)
        panels.append(Panel(lead, r, -1, area.trace_x_mm, seconds * area.speed_mm_s, baseline,
                            top, top + pitch_mm, 0, stop, is_rhythm=True))
    return panels
