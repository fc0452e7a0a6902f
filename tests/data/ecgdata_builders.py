"""Small builders for bad/odd record files in tmp_path (shared by the data tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb

from ecgimg.data.record import STANDARD_LEADS


def write_wfdb(directory: Path, name: str, signal_mv: np.ndarray, fs: float = 500.0,
               leads=STANDARD_LEADS, comments=("Age: 60", "Sex: Female", "Dx: 426783006"),
               fmt: str = "16", gain: float = 1000.0, units=None) -> Path:
    """Write a WFDB record (signal (n_leads, n_samples) in mV, 16-bit at 1000/mV unless told);
    returns the base path."""
    wfdb.wrsamp(name, fs=fs, units=list(units or ["mV"] * len(leads)), sig_name=list(leads),
                p_signal=np.asarray(signal_mv, dtype=np.float64).T, fmt=[fmt] * len(leads),
                adc_gain=[gain] * len(leads), baseline=[0] * len(leads),
                comments=list(comments), write_dir=str(directory))
    return directory / name


def edit_header(base: Path, edit) -> Path:
    """Rewrite `base`.hea through `edit(lines) -> lines`; returns the base path."""
    hea = Path(f"{base}.hea")
    hea.write_text("\n".join(edit(hea.read_text().splitlines())) + "\n")
    return base


def set_token(line: int, token: int, value: str | None):
    """A header edit: set (or, with None, delete) token `token` of line `line`."""
    def edit(lines):
        parts = lines[line].split()
        if value is None:
            del parts[token]
        else:
            parts[token] = value
        lines[line] = " ".join(parts)
        return lines
    return edit


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


def ecg_like(n_leads: int = 12, seconds: float = 10.0, fs: float = 500.0, seed: int = 0,
             rate_bpm: float = 70.0) -> np.ndarray:
    """A crude ECG in mV: each lead mixes its own share of R, S and T waves at `rate_bpm`, plus
    small noise; limb leads obey Einthoven/Goldberger. Unlike `smooth_signal` it passes the
    lead-quality checks (it has QRS-band content), so it stands for a real record."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fs))) / fs
    waves = np.zeros((3, t.size))
    for onset in np.arange(0.3, seconds, 60.0 / rate_bpm):
        waves[0] += np.exp(-((t - onset) / 0.012) ** 2)          # R
        waves[1] -= np.exp(-((t - onset - 0.03) / 0.01) ** 2)    # S
        waves[2] += np.exp(-((t - onset - 0.28) / 0.05) ** 2)    # T
    weights = np.column_stack([rng.uniform(0.5, 1.5, n_leads), rng.uniform(0.1, 0.6, n_leads),
                               rng.uniform(0.1, 0.4, n_leads)])
    if n_leads >= 2:
        weights[:2, 1] = (0.1, 0.6)  # I and II differ in S: no derived lead cancels to noise
    sig = weights @ waves + 0.01 * rng.standard_normal((n_leads, t.size))
    if n_leads == 12:
        lead_i, lead_ii = sig[0], sig[1]
        sig[2] = lead_ii - lead_i
        sig[3], sig[4], sig[5] = -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2
    return sig.astype(np.float32)
