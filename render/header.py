"""Fake but plausible header text (demographics, interval measurements, statements) and the footer.

Everything is drawn from the given generator, so the header is part of the seeded page. The
measurements are decoration for realism, not measured from the signal.
"""
from __future__ import annotations

import numpy as np

STATEMENTS = (
    "Sinus rhythm", "Normal sinus rhythm", "Sinus bradycardia", "Sinus tachycardia",
    "Atrial fibrillation", "Left axis deviation", "Right bundle branch block",
    "Left ventricular hypertrophy", "Nonspecific T wave abnormality", "Borderline ECG",
    "Normal ECG", "Abnormal ECG", "Possible inferior infarct, age undetermined",
    "Prolonged QT", "First degree AV block", "Low voltage QRS",
)
NAMES = ("DOE, JANE", "DOE, JOHN", "ROE, RICHARD", "SMITH, ALEX", "MOUSTERMAN, MAX",
         "MUSTER, ERIKA", "ROSSI, MARIO", "DUPONT, CLAIRE")


def header_lines(rng: np.random.Generator) -> list[list[str]]:
    """Three text columns of the header block (demographics | measurements | statements)."""
    age = int(rng.integers(18, 95))
    sex = "Male" if rng.random() < 0.5 else "Female"
    year, month, day = int(rng.integers(1990, 2025)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    hour, minute = int(rng.integers(0, 24)), int(rng.integers(0, 60))
    rate = int(rng.integers(45, 130))
    pr, qrs = int(rng.integers(120, 220)), int(rng.integers(70, 140))
    qt = int(rng.integers(320, 460))
    qtc = int(qt / np.sqrt(60.0 / rate))
    axes = [int(v) for v in rng.integers(-60, 120, size=3)]
    demographics = [
        NAMES[int(rng.integers(len(NAMES)))],
        f"ID: {int(rng.integers(10**7, 10**8))}",
        f"{age} yr  {sex}",
        f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}",
    ]
    measurements = [
        f"Vent. rate  {rate} BPM", f"PR interval  {pr} ms", f"QRS duration  {qrs} ms",
        f"QT/QTc  {qt}/{qtc} ms", f"P-R-T axes  {axes[0]} {axes[1]} {axes[2]}",
    ]
    picks = rng.choice(len(STATEMENTS), size=int(rng.integers(1, 4)), replace=False)
    statements = [STATEMENTS[int(i)] for i in sorted(picks)] + ["Unconfirmed report"]
    return [demographics, measurements, statements]


def footer_text(speed_mm_s: float, limb_gain_mm_mv: float, chest_gain_mm_mv: float, fs_hz: float) -> str:
    return (f"{speed_mm_s:g} mm/s   Limb: {limb_gain_mm_mv:g} mm/mV   Chest: {chest_gain_mm_mv:g} mm/mV"
            f"   F 0.05-150 Hz   {fs_hz:g} Hz")
