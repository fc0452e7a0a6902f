"""Header text that agrees with the signal (rate from the beats), demographics, and the footer.

A header must not contradict the trace or the record's labels: the ventricular rate is measured
from the signal (R peaks), intervals and axes are left out (not measured here), and diagnostic
statements appear only when the caller passes them (e.g. the record's own labels) as `facts`.
Name, ID and date are fake (drawn from the page seed); age and sex too unless `facts` has them.
"""
from __future__ import annotations

import cv2
import numpy as np

NAMES = ("DOE, JANE", "DOE, JOHN", "ROE, RICHARD", "SMITH, ALEX", "MOUSTERMAN, MAX",
         "MUSTER, ERIKA", "ROSSI, MARIO", "DUPONT, CLAIRE")
FACT_KEYS = ("statements", "age", "sex", "rate_bpm")


def r_peaks(lead_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Sample indices of R peaks: maxima of slope energy (Pan-Tompkins style, simplified) above
    30 % of its robust maximum, at most one per 250 ms refractory window. Hand-written: a few lines, and
    `render` must not depend on a signal-processing package for its header."""
    x = np.nan_to_num(np.asarray(lead_mv, np.float64) - np.nanmedian(lead_mv))
    if len(x) < int(fs_hz):
        return np.zeros(0, int)
    slope = np.diff(x, prepend=x[0])
    win = max(1, int(0.08 * fs_hz))
    energy = np.convolve(slope * slope, np.ones(win) / win, mode="same")
    threshold = 0.3 * np.percentile(energy, 99.5)
    if threshold <= 0:
        return np.zeros(0, int)
    refractory = int(0.25 * fs_hz)
    # a peak is the energy maximum within +-refractory (a 1-D dilation: no Python loop per sample)
    local_max = cv2.dilate(energy.astype(np.float32)[None, :], np.ones((1, 2 * refractory + 1), np.uint8)).ravel()
    candidates = np.flatnonzero((energy.astype(np.float32) >= local_max) & (energy > threshold))
    peaks: list[int] = []
    for i in candidates:  # plateaus give neighbouring equal maxima: keep the first
        if not peaks or i - peaks[-1] >= refractory:
            peaks.append(int(i))
    # place each peak on the largest deflection near the energy maximum
    half = max(1, int(0.06 * fs_hz))
    return np.array([max(0, p - half) + int(np.argmax(np.abs(x[max(0, p - half):p + half])))
                     for p in peaks], int)


def heart_rate_bpm(signal: np.ndarray, fs_hz: float, leads) -> float | None:
    """Ventricular rate from the median RR interval of lead II (else the busiest lead)."""
    names = [str(n).strip().upper() for n in leads]
    arr = np.asarray(signal, np.float64)
    if "II" in names:
        row = arr[names.index("II")]
    else:
        row = arr[int(np.nanargmax(np.nanstd(arr, axis=1)))]
    peaks = r_peaks(row, fs_hz)
    if len(peaks) < 3:
        return None
    rr_s = np.diff(peaks) / fs_hz
    rate = 60.0 / float(np.median(rr_s))
    return rate if 20.0 <= rate <= 300.0 else None


def header_lines(rng: np.random.Generator, rate_bpm: float | None = None,
                 facts: dict | None = None) -> list[list[str]]:
    """Three text columns of the header block (demographics | measurements | statements)."""
    facts = facts or {}
    age = int(facts["age"]) if facts.get("age") is not None else int(rng.integers(18, 95))
    sex = str(facts["sex"]) if facts.get("sex") is not None else ("Male" if rng.random() < 0.5 else "Female")
    year, month, day = int(rng.integers(1990, 2025)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    hour, minute = int(rng.integers(0, 24)), int(rng.integers(0, 60))
    demographics = [
        NAMES[int(rng.integers(len(NAMES)))],
        f"ID: {int(rng.integers(10**7, 10**8))}",
        f"{age} yr  {sex}",
        f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}",
    ]
    rate = facts.get("rate_bpm", rate_bpm)
    measurements = [f"Vent. rate  {int(round(rate))} BPM"] if rate is not None else []
    statements = [str(s) for s in facts.get("statements") or ()] + ["Unconfirmed report"]
    return [demographics, measurements, statements]


def footer_text(speed_mm_s: float, limb_gain_mm_mv: float, chest_gain_mm_mv: float, fs_hz: float) -> str:
    return (f"{speed_mm_s:g} mm/s   Limb: {limb_gain_mm_mv:g} mm/mV   Chest: {chest_gain_mm_mv:g} mm/mV"
            f"   F 0.05-150 Hz   {fs_hz:g} Hz")
