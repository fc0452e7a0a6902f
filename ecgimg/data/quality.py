"""Per-lead quality flags: what a signal shows about a lead that its header cannot.

Policy (the same in `load_record`, `canonicalize`, `build_cache`, `ecgimg data check` and every
dataset that reads a cache):

* A lead that is **flat**, **railed**, of implausible **amplitude**, or **not an ECG** is kept
  and flagged: ``record.meta["lead_flags"] = {lead: [flag, ...]}`` (only flagged leads appear),
  the cache index column ``lead_flags`` (``"V3:flat;V4:railed"``), a warning in
  ``report.json`` and in ``ecgimg data check``. Datasets drop records with a flagged lead when
  asked (``SignalDataset(..., exclude_flagged=True)``, ``SignalCache.split_indices(...,
  exclude_flagged=True)``).
* A record where **every** lead is flagged is refused with `InvalidSignalError`: there is
  nothing left to learn from, and keeping it would only add garbage.
* What the header misstates (gain 0, sampling rate 0, ...) is refused by the reader instead
  (`InvalidHeaderError`): a wrong scale cannot be flagged into correctness. NaN samples are
  refused as before (they cannot be cached without inventing values).

Thresholds were checked on every real record in ../shared/data (PTB-XL 500 Hz and 100 Hz,
CinC-2021, CPSC-2018, PTB Diagnostic, QT DB): see ``benchmarks/lead_quality.py``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import scipy.fft

#: flag -> what it means (also the order flags are reported in)
LEAD_FLAGS = {
    "flat": "no signal: robust peak-to-peak below 0.02 mV (lead off, or zero-filled)",
    "railed": "sits at its extreme value for long stretches (saturated / clipped at the ADC limit)",
    "amplitude": "robust range or baseline beyond 20 mV (wrong units or scale, or a huge artefact)",
    "not_ecg": "no QRS-band content beyond one tone (a sine, a drift), or broadband noise",
}
FLAT_SPAN_MV = 0.02          # robust peak-to-peak below this: flat
MAX_SPAN_MV = 20.0           # robust range above this: implausible for a body-surface ECG
MAX_OFFSET_MV = 20.0         # |median| above this: implausible baseline
ROBUST_PERCENTILES = (0.1, 99.9)
RAIL_RUN_S = 0.01            # a run at the extreme must last this long to count as railing
RAIL_FRACTION = 0.02         # ... and such runs must cover this share of the lead
RAIL_MIN_RUNS = 3            # ... in at least this many plateaus,
RAIL_LONG_S = 1.0            # ... or in one plateau at least this long
RAIL_MIN_LEVELS = 16         # leads spanning fewer quantisation steps are too coarse to judge
RAIL_EDGE_STEPS = 3          # a cut plateau is entered/left by a jump of at least this many steps
#: a lead whose 5-40 Hz power (the QRS band), outside its strongest spectral line, is below this
#: share of its 0.5-100 Hz power has no QRS complexes: a pure tone or a slow drift (real leads:
#: >= 0.004; a sine with 1 % noise: 3e-5)
MIN_QRS_BAND_FRACTION = 1e-3
#: spectral flatness of 0.5-100 Hz at or above this is broadband noise (10 s of white noise:
#: >= 0.81 at 100-1000 Hz; the noisiest real lead: 0.60)
NOISE_FLATNESS = 0.7
MIN_SPECTRAL_S = 2.0         # spectral tests need this much signal


def lead_flags(signal: np.ndarray, fs: float, leads: Sequence[str]) -> dict[str, list[str]]:
    """{lead: [flags]} for the flagged leads of `signal` (n_leads, n_samples) in mV at `fs` Hz."""
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != len(leads) or x.shape[1] == 0:
        raise ValueError(f"signal shape {x.shape} does not match {len(leads)} leads")
    low, median, high = _robust_levels(x)
    span = high - low
    flat = span < FLAT_SPAN_MV
    amplitude = (span > MAX_SPAN_MV) | (np.abs(median) > MAX_OFFSET_MV)
    railed = _railed(x, fs) & ~flat
    not_ecg = _not_ecg(x, fs) & ~flat
    found = {"flat": flat, "railed": railed, "amplitude": amplitude, "not_ecg": not_ecg}
    out: dict[str, list[str]] = {}
    for i, name in enumerate(leads):
        names = [flag for flag in LEAD_FLAGS if found[flag][i]]
        if names:
            out[name] = names
    return out


def _robust_levels(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-lead low / median / high order statistics (one partial sort for all three)."""
    n = x.shape[1]
    ranks = sorted({int(round(q / 100 * (n - 1))) for q in
                    (ROBUST_PERCENTILES[0], 50.0, ROBUST_PERCENTILES[1])})
    ordered = np.partition(x, ranks, axis=1)
    low, mid, high = (int(round(q / 100 * (n - 1))) for q in
                      (ROBUST_PERCENTILES[0], 50.0, ROBUST_PERCENTILES[1]))
    return ordered[:, low], ordered[:, mid], ordered[:, high]


def _railed(x: np.ndarray, fs: float) -> np.ndarray:
    """Per lead: plateaus at exactly its maximum or minimum value that the signal was cut into.

    Railing shows as many such plateaus (every clipped beat) or one long one (stuck at the
    limit); a single short hold, as at the end of some PTB-XL records, is not railing. A cut
    plateau is entered and left by a jump of several quantisation steps; a smooth peak (a broad
    T wave, a sine) that merely rounds to one level for a while is approached step by step."""
    n = x.shape[1]
    hi, lo = x.max(axis=1, keepdims=True), x.min(axis=1, keepdims=True)
    at_extreme = (x == hi) | (x == lo)
    candidates = np.flatnonzero(at_extreme.sum(axis=1) >= RAIL_FRACTION * n)  # cheap pre-test
    min_run = max(3, int(round(RAIL_RUN_S * fs)))
    out = np.zeros(x.shape[0], dtype=bool)
    for i in candidates:
        row = x[i]
        levels = np.unique(row)
        if levels.size < 2:
            continue
        step = np.min(np.diff(levels))
        if (levels[-1] - levels[0]) < RAIL_MIN_LEVELS * step:
            continue  # too few quantisation levels to tell a plateau from the signal
        lengths = []
        for value in (levels[-1], levels[0]):
            for first, stop in _runs(row == value, min_run):
                edges = [abs(float(row[j]) - value) for j in (first - 1, stop) if 0 <= j < n]
                if not edges or min(edges) >= RAIL_EDGE_STEPS * step:
                    lengths.append(stop - first)
        if sum(lengths) >= RAIL_FRACTION * n:
            out[i] = len(lengths) >= RAIL_MIN_RUNS or max(lengths) >= RAIL_LONG_S * fs
    return out


def _runs(mask: np.ndarray, min_run: int) -> list[tuple[int, int]]:
    """(first, stop) of each run of at least `min_run` consecutive Trues in `mask`."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = stops - starts >= min_run
    return list(zip(starts[keep].tolist(), stops[keep].tolist()))


def _not_ecg(x: np.ndarray, fs: float) -> np.ndarray:
    """Per lead: no QRS-band content beyond one spectral line (a tone, a drift), or white-ish noise.

    Spectrum: one Hann-windowed periodogram, pooled into bands of >= 0.5 Hz and >= 5 bins (the
    pooling steadies the flatness estimate as Welch averaging would, at a fifth of its cost)."""
    n = x.shape[1]
    if n < MIN_SPECTRAL_S * fs:
        return np.zeros(x.shape[0], dtype=bool)
    # scipy.fft keeps float32 (numpy.fft computes in float64: 4x slower here)
    spectrum = scipy.fft.rfft((x - x.mean(axis=1, keepdims=True)) * np.hanning(n).astype(x.dtype),
                              axis=1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float64)
    bin_hz = fs / n
    pool = max(5, int(round(0.5 / bin_hz)))
    usable = (power.shape[1] // pool) * pool
    power = power[:, :usable].reshape(x.shape[0], -1, pool).sum(axis=2)
    freqs = (np.arange(power.shape[1]) * pool + (pool - 1) / 2) * bin_hz
    band = (freqs >= 0.5) & (freqs <= min(100.0, fs / 2))
    p, f = power[:, band], freqs[band]
    total = p.sum(axis=1)
    ok = total > 0
    peak = f[np.argmax(p, axis=1)]
    off_peak = np.abs(f[None, :] - peak[:, None]) > max(0.5, pool * bin_hz)
    qrs_band = ((f >= 5.0) & (f <= 40.0))[None, :] & off_peak
    qrs_fraction = (p * qrs_band).sum(axis=1) / np.where(ok, total, 1.0)
    flatness = np.exp(np.mean(np.log(np.maximum(p, 1e-30)), axis=1)) / np.maximum(
        p.mean(axis=1), 1e-30)
    return ok & ((qrs_fraction < MIN_QRS_BAND_FRACTION) | (flatness >= NOISE_FLATNESS))


def unusable(flags: Mapping[str, Sequence[str]], leads: Sequence[str]) -> bool:
    """True when every one of `leads` carries a flag (the record has nothing usable)."""
    return len(leads) > 0 and all(flags.get(name) for name in leads)


def describe_flags(flags: Mapping[str, Sequence[str]]) -> str:
    """'V3 flat, V4 railed+amplitude' for messages."""
    return ", ".join(f"{lead} {'+'.join(names)}" for lead, names in flags.items())


def flags_to_text(flags: Mapping[str, Sequence[str]]) -> str:
    """Cache-index form: 'V3:flat;V4:railed,amplitude' ('' when nothing is flagged)."""
    return ";".join(f"{lead}:{','.join(names)}" for lead, names in flags.items())


def flags_from_text(text: str | None) -> dict[str, list[str]]:
    """Inverse of `flags_to_text`."""
    out: dict[str, list[str]] = {}
    for item in (text or "").split(";"):
        if item:
            lead, _, names = item.partition(":")
            out[lead] = [name for name in names.split(",") if name]
    return out
