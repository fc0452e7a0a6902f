"""Small builders for bad/odd record files in tmp_path (shared by the data tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb

from ecgimg.data.record import STANDARD_LEADS


def write_wfdb(directory: Path, name: str, signal_mv: np.ndarray, fs: float = 500.0,
               leads=STANDARD_LEADS, comments=("Age: 60", "Sex: Female", "Dx: 426783006")) -> Path:
    """Write a 16-bit WFDB record (signal (n_leads, n_samples) in mV); returns the base path."""
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(leads), sig_name=list(leads),
                p_signal=np.asarray(signal_mv, dtype=np.float64).T, fmt=["16"] * len(leads),
                adc_gain=[1000.0] * len(leads), baseline=[0] * len(leads),
                comments=list(comments), write_dir=str(directory))
    return directory / name


def smooth_signal(n_leads: int = 12, n_samples: int = 5000, fs: float = 500.0,
                  seed: int = 0) -> np.ndarray:
    """A band-limited multi-lead test signal in mV whose limb leads obey Einthoven/Goldberger."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / fs
    freqs = rng.uniform(0.5, 20.0, size=(n_leads, 4))
    phases = rng.uniform(0, 2 * np.pi, size=(n_leads, 4))
    sig = (0.3 * np.sin(2 * np.pi * freqs[..., None] * t + phases[..., None])).sum(axis=1)
    if n_leads == 12:
        lead_i, lead_ii = sig[0], sig[1]
        sig[2] = lead_ii - lead_i
        sig[3], sig[4], sig[5] = -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2
    return sig.astype(np.float32)
