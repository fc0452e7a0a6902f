"""Simple hand-made ECG features: a transparent baseline and a sanity probe for the cohort.

Used to check that the synthetic cohort carries patient identity and its labels (nearest-neighbour
identification, logistic regression) without any deep model in the loop.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

AMPLITUDE_PERCENTILES = (1, 5, 50, 95, 99)


def amplitude_features(signals: np.ndarray) -> np.ndarray:
    """Per lead: amplitude percentiles, standard deviation and mean |slope|; (N, 7 * leads)."""
    signals = np.asarray(signals, dtype=np.float64)
    pct = np.percentile(signals, AMPLITUDE_PERCENTILES, axis=2)      # (P, N, L)
    pct = pct.transpose(1, 2, 0).reshape(len(signals), -1)
    std = signals.std(axis=2)
    slope = np.abs(np.diff(signals, axis=2)).mean(axis=2)
    return np.hstack([pct, std, slope])


def rhythm_features(signals: np.ndarray, fs: float) -> np.ndarray:
    """Mean RR (s), RR coefficient of variation and mean successive RR change; (N, 3).

    QRS complexes are found as peaks of the 5-25 Hz band energy summed over leads (a
    Pan-Tompkins-like detector reduced to its core, enough for clean 10 s recordings).
    """
    signals = np.asarray(signals, dtype=np.float64)
    band = sosfiltfilt(butter(2, (5.0, 25.0), btype="bandpass", fs=fs, output="sos"),
                       signals, axis=2)
    energy = (band ** 2).sum(axis=1)
    window = max(1, int(0.05 * fs))
    energy = np.apply_along_axis(np.convolve, 1, energy, np.ones(window) / window, mode="same")
    out = np.zeros((len(signals), 3))
    for i, curve in enumerate(energy):
        peaks, _ = find_peaks(curve, height=0.3 * np.percentile(curve, 99),
                              distance=int(0.3 * fs))
        rr_s = np.diff(peaks) / fs
        if len(rr_s) < 2:
            out[i] = (curve.size / fs, 0.0, 0.0)
            continue
        out[i] = (rr_s.mean(), rr_s.std() / rr_s.mean(),
                  np.abs(np.diff(rr_s)).mean() / rr_s.mean())
    return out


def simple_features(signals: np.ndarray, fs: float) -> np.ndarray:
    """Amplitude and rhythm features side by side."""
    return np.hstack([amplitude_features(signals), rhythm_features(signals, fs)])
