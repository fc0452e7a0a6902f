"""The one in-memory form of an ECG that every reader returns and every consumer takes."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

#: Canonical 12-lead order used everywhere in ecgimg (signals, caches, models, renderer input).
STANDARD_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)

_LEAD_ALIASES = {name.lower(): name for name in STANDARD_LEADS}


def normalize_lead_name(name: str) -> str:
    """Map a lead name in any case ('AVR', 'avr', 'ii', 'v1') to its canonical spelling.

    Names that are not one of the 12 standard leads (e.g. Frank 'vx') are returned stripped but
    otherwise unchanged, so callers can decide whether to drop them.
    """
    key = name.strip()
    return _LEAD_ALIASES.get(key.lower(), key)


@dataclass
class Record:
    """A multi-lead ECG with its identity and labels.

    signal: float32 array (n_leads, n_samples) in millivolts.
    fs: sampling rate in Hz.
    leads: lead names, one per signal row, canonical spelling where standard.
    labels: task name -> value (binary 0/1, a float, or a list of class names for multi-label sets).
    meta: parsed header facts (age, sex, dx SNOMED codes, ...) kept for reports and label building.
    """

    signal: np.ndarray
    fs: float
    leads: tuple[str, ...]
    record_id: str
    patient_id: str | None = None
    recorded_at: datetime | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def n_leads(self) -> int:
        return int(self.signal.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def seconds(self) -> float:
        return self.n_samples / float(self.fs)

    def with_signal(self, signal: np.ndarray, fs: float | None = None,
                    leads: tuple[str, ...] | None = None) -> "Record":
        """A copy carrying a new signal (and optionally new fs / leads), identity kept."""
        return replace(self, signal=signal, fs=self.fs if fs is None else fs,
                       leads=self.leads if leads is None else tuple(leads))
