"""Canonical 12-lead form: standard lead order, one sampling rate, one fixed window, mV.

Policy (explicit so that every consumer sees the same signal):

* Leads are matched by name (case-insensitive via `normalize_lead_name`) and reordered to
  `STANDARD_LEADS`; any other lead (Frank vx/vy/vz, MLII, ...) is dropped.
* A missing lead raises `MissingLeadsError`, unless ``derive_limb_leads=True`` and at least two of
  I/II/III are present: the third follows from Einthoven (II = I + III) and absent augmented leads
  from Goldberger (aVR = -(I+II)/2, aVL = I - II/2, aVF = II - I/2). Precordial leads are never
  invented.
* Resampling uses `scipy.signal.resample_poly` (polyphase FIR with an anti-aliasing Kaiser window)
  with the exact rational factor fs_out/fs_in, linear edge padding, and 0.2 s of extra input past
  the window end when the record has it.
* Window: ``crop="start"`` keeps the first `seconds`, ``crop="center"`` the middle `seconds`.
  A record shorter than `seconds` is zero-padded at the end, and the padded fraction is recorded in
  ``meta["canonical"]["padded_fraction"]``; a record shorter than `min_seconds` (default: the full
  window, i.e. no padding unless asked for) raises `InvalidSignalError`.
* NaN or infinite samples raise `InvalidSignalError`; nothing is silently repaired.
* Lead quality (`ecgimg.data.quality`): the kept window is checked at the source rate (before
  resampling, which would smear a railed plateau) and ``meta["lead_flags"]`` holds the flags of
  the 12 canonical leads; a derived lead inherits the flags of the leads it was derived from. A
  window with no unflagged lead raises `InvalidSignalError`.
* ``meta["canonical"]`` records what was done: source fs and leads, derived leads, crop policy,
  crop start (s) and padded fraction; `build_cache` keeps these in its index.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from ecgimg.data.errors import InvalidSignalError, MissingLeadsError
from ecgimg.data.quality import LEAD_FLAGS, describe_flags, lead_flags, unusable
from ecgimg.data.record import STANDARD_LEADS, Record, normalize_lead_name

CROP_POLICIES = ("start", "center")
_LIMB = ("I", "II", "III")
_RESAMPLE_MARGIN_S = 0.2
_AUGMENTED = ("aVR", "aVL", "aVF")


def canonicalize(record: Record, fs: float = 500, seconds: float = 10.0,
                 derive_limb_leads: bool = False, crop: str = "start",
                 min_seconds: float | None = None, check_quality: bool = True) -> Record:
    """Return `record` as 12 standard leads x round(fs * seconds) samples, float32 mV.

    See the module docstring for the lead, resampling, crop/pad, NaN and quality policy;
    ``check_quality=False`` skips the lead flags (for test signals such as pure tones).
    """
    if crop not in CROP_POLICIES:
        raise ValueError(f"crop must be one of {CROP_POLICIES}, got {crop!r}")
    if not (math.isfinite(fs) and fs > 0 and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"canonical fs and seconds must be positive, got fs={fs}, "
                         f"seconds={seconds}")
    where = record.meta.get("path") or record.source or record.record_id  # name the file
    signal = np.asarray(record.signal)
    if signal.dtype.kind not in "iuf":
        raise InvalidSignalError(where, f"signal must hold real numbers, got dtype {signal.dtype}")
    try:
        fs_in = float(record.fs)
    except (TypeError, ValueError):
        fs_in = math.nan
    if not (math.isfinite(fs_in) and fs_in > 0):
        raise InvalidSignalError(where, f"sampling rate {record.fs!r} Hz is not a positive number")
    if signal.ndim != 2 or signal.shape[0] != len(record.leads):
        raise InvalidSignalError(where, f"signal shape {signal.shape} does not match "
                                        f"{len(record.leads)} lead names")
    if signal.shape[1] == 0:
        raise InvalidSignalError(where, "signal has no samples")
    if not np.isfinite(signal).all():
        bad = sorted({record.leads[i] for i in np.nonzero(~np.isfinite(signal).all(axis=1))[0]})
        raise InvalidSignalError(where, f"NaN or infinite samples in lead(s) {', '.join(bad)}")

    leads, derived, sources = _standard_leads(record, signal, derive_limb_leads, where)
    n_out = int(round(fs * seconds))
    min_seconds = seconds if min_seconds is None else min_seconds
    # one input sample of slack: a window of seconds * fs_in samples may round down by one
    if record.n_samples < int(math.floor(min_seconds * fs_in)) - 1:
        raise InvalidSignalError(where, f"record lasts {record.n_samples / fs_in:.2f} s, shorter "
                                        f"than the minimum {min_seconds:.2f} s")

    # crop in the input domain first so long Holter-like records are not resampled in full
    n_window_in = int(math.ceil(seconds * fs_in))
    start_in = 0
    if record.n_samples > n_window_in and crop == "center":
        start_in = (record.n_samples - n_window_in) // 2
    # resample a little past the window end when the record has it, so the filter's edge
    # transient falls outside the kept samples
    margin_in = int(math.ceil(_RESAMPLE_MARGIN_S * fs_in)) if fs_in != fs else 0
    flags = (_window_flags(leads[:, start_in:start_in + n_window_in], fs_in, derived, sources)
             if check_quality else {})
    if check_quality and unusable(flags, STANDARD_LEADS):
        raise InvalidSignalError(where, f"no usable lead in the canonical window: "
                                        f"{describe_flags(flags)}")
    window = leads[:, start_in:start_in + n_window_in + margin_in]
    window = _resample(window, fs_in, fs, where)
    window = window[:, :n_out]
    n_valid = window.shape[1]
    if n_valid < n_out:
        window = np.pad(window, ((0, 0), (0, n_out - n_valid)))
    out = np.ascontiguousarray(window, dtype=np.float32)

    meta = dict(record.meta)
    meta["lead_flags"] = flags
    meta["canonical"] = {
        "source_fs": fs_in, "source_leads": list(record.leads), "derived_leads": derived,
        "crop": crop, "start_s": start_in / fs_in,
        "padded_fraction": float(n_out - n_valid) / n_out,
    }
    canonical = record.with_signal(out, fs=float(fs), leads=STANDARD_LEADS)
    canonical.meta = meta
    return canonical


def _window_flags(window: np.ndarray, fs_in: float, derived: list[str],
                  sources: list[str]) -> dict[str, list[str]]:
    """Quality flags of the 12 canonical rows; derived leads inherit their sources' flags."""
    flags = lead_flags(window, fs_in, STANDARD_LEADS)
    inherited = sorted({flag for lead in sources for flag in flags.get(lead, [])})
    for lead in derived:
        merged = set(flags.get(lead, [])) | set(inherited)
        if merged:
            flags[lead] = [flag for flag in LEAD_FLAGS if flag in merged]
    return {lead: flags[lead] for lead in STANDARD_LEADS if lead in flags}


def _standard_leads(record: Record, signal: np.ndarray, derive_limb_leads: bool,
                    where: str) -> tuple[np.ndarray, list[str], list[str]]:
    """Rows of `signal` in STANDARD_LEADS order (float64), deriving limb leads if allowed;
    also the names derived and the recorded leads they came from."""
    rows: dict[str, np.ndarray] = {}
    for i, name in enumerate(record.leads):
        name = normalize_lead_name(name)
        if name in STANDARD_LEADS:
            if name in rows:
                raise InvalidSignalError(where, f"lead {name} appears twice")
            rows[name] = signal[i].astype(np.float64)
    derived: list[str] = []
    sources: list[str] = []
    if derive_limb_leads:
        present = [name for name in _LIMB if name in rows]
        derived = _derive_limb(rows)
        sources = present if len(present) == 2 else ["I", "II"]
    missing = [name for name in STANDARD_LEADS if name not in rows]
    if missing:
        hint = ("" if derive_limb_leads or not set(missing) <= set(_LIMB + _AUGMENTED)
                else "; derive_limb_leads=True could derive them from two of I/II/III")
        raise MissingLeadsError(where, f"missing lead(s) {', '.join(missing)} "
                                       f"(record has {', '.join(record.leads)}){hint}")
    return np.stack([rows[name] for name in STANDARD_LEADS]), derived, sources if derived else []


def _derive_limb(rows: dict[str, np.ndarray]) -> list[str]:
    """Fill absent limb/augmented leads in place from any two of I/II/III; names derived."""
    derived = []
    present = [name for name in _LIMB if name in rows]
    if len(present) < 2:
        return derived
    if "I" not in rows:
        rows["I"], derived = rows["II"] - rows["III"], derived + ["I"]
    if "II" not in rows:
        rows["II"], derived = rows["I"] + rows["III"], derived + ["II"]
    if "III" not in rows:
        rows["III"], derived = rows["II"] - rows["I"], derived + ["III"]
    lead_i, lead_ii = rows["I"], rows["II"]
    goldberger = {"aVR": -(lead_i + lead_ii) / 2, "aVL": lead_i - lead_ii / 2,
                  "aVF": lead_ii - lead_i / 2}
    for name, values in goldberger.items():
        if name not in rows:
            rows[name] = values
            derived.append(name)
    return derived


def _resample(signal: np.ndarray, fs_in: float, fs_out: float, where: str) -> np.ndarray:
    if fs_in == fs_out:
        return signal
    ratio = Fraction(fs_out / fs_in).limit_denominator(10_000)
    if abs(float(ratio) - fs_out / fs_in) > 1e-6 * fs_out / fs_in:
        raise InvalidSignalError(where, f"cannot resample {fs_in} Hz to {fs_out} Hz by a "
                                        "rational factor")
    # padtype="line" extends each edge linearly instead of with zeros: no dip at the ends
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=1, padtype="line")
