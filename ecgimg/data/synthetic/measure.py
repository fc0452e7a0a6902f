"""ECG statistics measured the same way on real and synthetic records (numpy/scipy only).

Why hand-written: the cohort's tests and its realism benchmark must measure identical statistics
on PTB-XL and on synthetic records, offline and in milliseconds, without a runtime dependency on
a delineator package. The method is the classic one of ECG carts: detect QRS complexes, build a
median beat per lead from the normal-RR beats, then delineate waves on the *spatial* magnitude of
the median beat (all leads at once, robust to any one lead being flat):

* QRS onset/offset: where the smoothed spatial velocity falls below 10% of its QRS peak;
* isoelectric level per lead: the PR segment just before QRS onset;
* P and T peaks: maxima of the spatial magnitude in their windows; ends at 25% / 20% of the peak;
* amplitudes (mV) per lead: P, Q, R, S, J+40 ms (ST) and T relative to the isoelectric level;
* spectra: band powers of the raw record (<0.5 Hz wander, 0.5-40 Hz, >40 Hz without mains
  lines, 50/60 Hz lines) and the beat-to-beat residual around the median beat (noise).

`measure_record` returns a flat dict of named floats; `measure_records` stacks them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
INDEPENDENT = (0, 1, 6, 7, 8, 9, 10, 11)  # I, II, V1-V6: every other lead is a combination
PRE_S, POST_S = 0.32, 0.60  # median-beat window around the R peak
LEAD_STATS = ("p2p", "p", "q", "r", "s", "st", "t", "wander", "band", "hf", "mains", "resid")
GLOBAL_STATS = ("hr_bpm", "rr_cv", "rr_rmssd", "premature_frac", "n_beats", "p_ms", "pr_ms",
                "qrs_ms", "qt_ms", "qtc_ms", "axis_deg", "p_mag", "t_mag", "qrs_mag")
MAINS_HZ = (50.0, 60.0)


def feature_names() -> list[str]:
    return list(GLOBAL_STATS) + [f"{s}_{lead}" for s in LEAD_STATS for lead in LEADS]


def detect_r_peaks(signal: np.ndarray, fs: float) -> np.ndarray:
    """QRS complexes as peaks of the 8-25 Hz band energy summed over leads (Pan-Tompkins core),
    each moved to the extremum of the spatial magnitude within +-50 ms; sample indices."""
    band = sosfiltfilt(butter(2, (8.0, 25.0), btype="bandpass", fs=fs, output="sos"),
                       signal, axis=-1)
    energy = (band[list(INDEPENDENT)] ** 2).sum(axis=0)
    window = max(1, int(0.06 * fs))
    energy = np.convolve(energy, np.ones(window) / window, mode="same")
    peaks, _ = find_peaks(energy, height=0.25 * np.percentile(energy, 99.5),
                          distance=int(0.27 * fs))
    return peaks


def _bandpass(signal: np.ndarray, fs: float, highcut_hz: float = 45.0) -> np.ndarray:
    sos = butter(2, (0.5, min(highcut_hz, 0.45 * fs)), btype="bandpass", fs=fs, output="sos")
    return sosfiltfilt(sos, signal, axis=-1)


def _spatial(x: np.ndarray) -> np.ndarray:
    return np.sqrt((x[list(INDEPENDENT)] ** 2).sum(axis=0))


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    return np.convolve(x, np.ones(max(1, n)) / max(1, n), mode="same")


def median_beat(signal: np.ndarray, fs: float, peaks: np.ndarray, highcut_hz: float = 45.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(template (12, L) of the 0.5-`highcut_hz` signal, the beats used (B, 12, L), their peaks);
    the window is PRE_S before to POST_S after each R peak."""
    filtered = _bandpass(signal, fs, highcut_hz)
    pre, post = int(PRE_S * fs), int(POST_S * fs)
    rr = np.diff(peaks)
    ok = (peaks > pre) & (peaks < signal.shape[-1] - post)
    if len(rr) >= 2:  # normal beats: RR before within 20% of the median (drops ectopics)
        prev = np.r_[np.median(rr), rr]
        ok &= np.abs(prev / np.median(rr) - 1.0) < 0.2
    used = peaks[ok]
    if used.size == 0:
        used = peaks[(peaks > pre) & (peaks < signal.shape[-1] - post)]
    if used.size == 0:
        raise ValueError("no complete beat in the record")
    idx = used[:, None] + np.arange(-pre, post)[None, :]
    beats = filtered[:, idx].transpose(1, 0, 2)                   # (B, 12, L)
    return np.median(beats, axis=0), beats, used


def _band_powers(signal: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """log10 power (mV^2) per lead in each band, from a Hann-windowed periodogram of 10 s."""
    x = signal - signal.mean(axis=-1, keepdims=True)
    n = x.shape[-1]
    window = np.hanning(n)
    spec = np.abs(np.fft.rfft(x * window, axis=-1)) ** 2 / (window ** 2).sum() / fs * 2  # mV^2/Hz
    freq = np.fft.rfftfreq(n, 1 / fs)
    df = freq[1] - freq[0]
    mains = np.zeros(freq.shape, dtype=bool)
    for f0 in MAINS_HZ:
        for k in (1, 2, 3):
            mains |= np.abs(freq - k * f0) <= 1.0
    near = np.zeros(freq.shape, dtype=bool)
    for f0 in MAINS_HZ:
        near |= np.abs(freq - f0) <= 0.3

    def band(mask):
        return np.log10(spec[:, mask].sum(axis=-1) * df + 1e-12)

    hf_mask = (freq > 40.0) & ~mains if fs > 90 else np.zeros(freq.shape, dtype=bool)
    out = {"wander": band((freq > 0.05) & (freq < 0.5)), "band": band((freq >= 0.5) & (freq <= 40)),
           "hf": band(hf_mask) if hf_mask.any() else np.full(len(x), np.nan)}
    if fs > 130:  # mains line power relative to the neighbouring hf floor (log10 ratio)
        floor = np.median(spec[:, hf_mask], axis=-1) if hf_mask.any() else 1e-12
        out["mains"] = np.log10(spec[:, near].max(axis=-1) / (floor + 1e-12) + 1e-12)
    else:
        out["mains"] = np.full(len(x), np.nan)
    return out


def measure_record(signal: np.ndarray, fs: float) -> dict[str, float]:
    """Every statistic of `feature_names()` for one (12, n) mV record (NaN where undefined)."""
    signal = np.asarray(signal, dtype=np.float64)
    out = dict.fromkeys(feature_names(), np.nan)
    lo, hi = np.percentile(signal, (0.5, 99.5), axis=-1)
    for i, lead in enumerate(LEADS):
        out[f"p2p_{lead}"] = hi[i] - lo[i]
    for name, values in _band_powers(signal, fs).items():
        for i, lead in enumerate(LEADS):
            out[f"{name}_{lead}"] = values[i]
    peaks = detect_r_peaks(signal, fs)
    out["n_beats"] = float(len(peaks))
    if len(peaks) < 3:
        return out
    rr_s = np.diff(peaks) / fs
    out["hr_bpm"] = 60.0 / np.median(rr_s)
    out["rr_cv"] = rr_s.std() / rr_s.mean()
    out["rr_rmssd"] = np.sqrt(np.mean(np.diff(rr_s) ** 2)) / rr_s.mean()
    median_rr = np.median(rr_s)
    out["premature_frac"] = float(np.mean(rr_s < 0.85 * median_rr))
    try:
        template, beats, _ = median_beat(signal, fs, peaks)
    except ValueError:
        return out
    resid = beats - template[None]
    rms = np.sqrt(np.mean(resid ** 2, axis=(0, 2)))
    for i, lead in enumerate(LEADS):
        out[f"resid_{lead}"] = np.log10(rms[i] + 1e-9)
    out.update(_delineate(template, fs, median_rr))
    return out


def _delineate(beat: np.ndarray, fs: float, rr_s: float) -> dict[str, float]:
    """Wave amplitudes per lead and global intervals of one (12, L) median beat."""
    out: dict[str, float] = {}
    r = int(PRE_S * fs)
    ms = fs / 1000.0
    velocity = _smooth(_spatial(np.gradient(beat, axis=-1)) * fs, int(10 * ms))  # mV/s
    core = slice(r - int(60 * ms), r + int(60 * ms))
    v_peak = velocity[core].max()
    thr = 0.10 * v_peak
    on = r - int(20 * ms)
    while on > r - int(130 * ms) and velocity[on] > thr:
        on -= 1
    off = r + int(20 * ms)
    while off < r + int(170 * ms) and velocity[off] > thr:
        off += 1
    ref = beat[:, max(0, on - int(20 * ms)):max(1, on - int(4 * ms))].mean(axis=-1)
    x = beat - ref[:, None]
    qrs = x[:, on:off + 1]
    arg_r = qrs.argmax(axis=-1)
    for i, lead in enumerate(LEADS):
        out[f"r_{lead}"] = max(0.0, qrs[i, arg_r[i]])
        out[f"q_{lead}"] = max(0.0, -qrs[i, :arg_r[i] + 1].min())
        out[f"s_{lead}"] = max(0.0, -qrs[i, arg_r[i]:].min())
    j40 = min(x.shape[-1] - 1, off + int(40 * ms))
    for i, lead in enumerate(LEADS):
        out[f"st_{lead}"] = x[i, j40]
    area = qrs.sum(axis=-1)
    out["axis_deg"] = float(np.degrees(np.arctan2(2 / np.sqrt(3) * area[5], area[0])))
    out["qrs_ms"] = (off - on) / ms
    magnitude = _smooth(_spatial(x), int(8 * ms))
    out["qrs_mag"] = magnitude[on:off + 1].max()
    # T: from J+80 ms to R + 0.62 RR (or the window end)
    t_lo = off + int(60 * ms)
    t_hi = min(x.shape[-1] - 1, r + int(min(0.62 * rr_s, POST_S - 0.01) * fs))
    if t_hi > t_lo + int(40 * ms):
        t_peak = t_lo + int(magnitude[t_lo:t_hi].argmax())
        out["t_mag"] = magnitude[t_peak]
        for i, lead in enumerate(LEADS):
            out[f"t_{lead}"] = x[i, t_peak]
        t_end = t_peak
        while t_end < t_hi and magnitude[t_end] > 0.2 * magnitude[t_peak]:
            t_end += 1
        out["qt_ms"] = (t_end - on) / ms
        out["qtc_ms"] = out["qt_ms"] / np.sqrt(rr_s)
    # P: 30-250 ms before QRS onset, relative to the straight line joining the window's ends
    # (the TP and PR levels differ after filtering; the line keeps a T tail from posing as P)
    p_lo, p_hi = max(0, on - int(250 * ms)), on - int(30 * ms)
    if p_hi > p_lo + int(40 * ms):
        seg = beat[:, p_lo:p_hi + 1]
        edge = max(1, int(8 * ms))
        a, b = seg[:, :edge].mean(axis=-1), seg[:, -edge:].mean(axis=-1)
        seg = seg - (a[:, None] + (b - a)[:, None] * np.linspace(0, 1, seg.shape[-1])[None])
        p_magnitude = _smooth(_spatial(seg), int(8 * ms))
        k = int(p_magnitude.argmax())
        out["p_mag"] = p_magnitude[k]
        for i, lead in enumerate(LEADS):
            out[f"p_{lead}"] = seg[i, k]
        start, end = k, k
        while start > 0 and p_magnitude[start] > 0.25 * p_magnitude[k]:
            start -= 1
        while end < len(p_magnitude) - 1 and p_magnitude[end] > 0.25 * p_magnitude[k]:
            end += 1
        out["p_ms"] = (end - start) / ms
        out["pr_ms"] = (on - (p_lo + start)) / ms
    return out


def measure_records(signals: Sequence[np.ndarray] | np.ndarray, fs: float) -> np.ndarray:
    """(N, F) float array of `feature_names()` for many records."""
    names = feature_names()
    return np.array([[m[k] for k in names] for m in (measure_record(s, fs) for s in signals)])
