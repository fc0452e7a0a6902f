"""One reader per on-disk ECG format, all returning a `Record` in millivolts.

Formats (the path may be given with or without its extension):

* WFDB: ``NAME.hea`` plus its signal files (``.dat`` in any WFDB format, or ``.mat`` as in the
  PhysioNet/CinC 2020-21 challenges), read with the ``wfdb`` package. The header's physical fields
  are checked first (`ecgimg.data.wfdb_header`): a missing/0/absurd sampling rate or a lead with
  ADC gain 0 or none (wfdb would silently assume 250 Hz / 200 units per mV) is refused with
  `InvalidHeaderError` naming the file and lead. Units from the header (uV and V are converted
  to mV); a standard lead in any other unit is refused, any other channel in such a unit (a blood
  pressure, a respiration signal) is dropped and listed in ``meta["dropped_channels"]``.
  Per-channel checksums are verified, so a header that disagrees with the data is caught.
* CPSC-2018 original ``.mat`` (no header): a MATLAB struct ``ECG{sex, age, data}`` whose ``data``
  is (12, n) in mV at 500 Hz in the standard order I, II, III, aVR, aVL, aVF, V1-V6.
* NumPy ``.npz``: keys ``signal`` (n_leads, n_samples) in mV, ``fs`` (Hz), ``leads`` (names);
  optional ``record_id``, ``patient_id``, ``units`` ("mV", "uV" or "V").
* NumPy ``.npy``: the bare (n_leads, n_samples) array in mV; ``fs`` and ``leads`` come from the
  keyword arguments or from a sidecar ``NAME.json`` holding ``{"fs": ..., "leads": [...]}``.

Every format then goes through the same checks: real numeric samples, at least one sample, unique
lead names, a sampling rate in `FS_RANGE_HZ`, no NaN (unless asked), at most `MAX_RECORD_SAMPLES`
values, and the per-lead quality flags of `ecgimg.data.quality` (``meta["lead_flags"]``; a record
whose every lead is flagged is refused).
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ecgimg.data.errors import (InvalidHeaderError, InvalidSignalError, RecordError,
                                UnreadableRecordError)
from ecgimg.data.quality import describe_flags, lead_flags, unusable
from ecgimg.data.record import STANDARD_LEADS, Record, normalize_lead_name
from ecgimg.data.wfdb_header import (FS_RANGE_HZ, MAX_RECORD_SAMPLES, check_fs, check_header,
                                     check_size)

KNOWN_EXTENSIONS = (".hea", ".dat", ".mat", ".npz", ".npy")

#: CPSC-2018 sampling rate (Hz) and lead order, from the challenge description.
CPSC2018_FS_HZ = 500.0
CPSC2018_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "v": 1e3}


def load_record(path: str | Path, *, fs: float | None = None,
                leads: Sequence[str] | None = None, allow_nonfinite: bool = False,
                check_quality: bool = True) -> Record:
    """Read one ECG record of any supported format into a `Record` (signal float32, mV).

    `fs` and `leads` are only used for bare ``.npy`` arrays (which carry neither).
    Every failure raises a subclass of `RecordError` naming the file and the problem; NaN/inf
    samples (e.g. WFDB "invalid sample" markers) are refused unless `allow_nonfinite`. Flat,
    railed, implausibly large or non-ECG leads are flagged in ``meta["lead_flags"]``; a record
    with no unflagged lead is refused (`InvalidSignalError`); ``check_quality=False`` skips both.
    """
    record = _dispatch(Path(path), fs, leads)
    where = record.meta.get("path", path)
    seen: dict[str, int] = {}
    for row, name in enumerate(record.leads):
        if name in seen:
            raise InvalidSignalError(where, f"lead {name} appears twice (signals {seen[name] + 1} "
                                            f"and {row + 1})", lead=name)
        seen[name] = row
    finite = np.isfinite(record.signal).all(axis=1)
    if not finite.all():
        bad = ", ".join(name for name, ok in zip(record.leads, finite) if not ok)
        if not allow_nonfinite:
            raise InvalidSignalError(where, f"NaN or infinite samples in lead(s) {bad}")
        return record  # quality flags need finite samples
    if not check_quality:
        return record
    record.meta["lead_flags"] = flags = lead_flags(record.signal, record.fs, record.leads)
    if unusable(flags, record.leads):
        raise InvalidSignalError(where, f"no usable lead: {describe_flags(flags)}")
    return record


def _dispatch(path: Path, fs: float | None, leads: Sequence[str] | None) -> Record:
    given = path.suffix.lower()
    base = path.with_suffix("") if given in KNOWN_EXTENSIONS else path
    hea, mat, npz, npy = (Path(f"{base}{ext}") for ext in (".hea", ".mat", ".npz", ".npy"))
    if given == ".npz" or (given not in KNOWN_EXTENSIONS and npz.exists() and not hea.exists()):
        if not npz.exists():
            raise UnreadableRecordError(npz, "no such file")
        return _read_npz(npz)
    if given == ".npy" or (given not in KNOWN_EXTENSIONS and npy.exists() and not hea.exists()):
        if not npy.exists():
            raise UnreadableRecordError(npy, "no such file")
        return _read_npy(npy, fs=fs, leads=leads)
    if hea.exists():
        return _read_wfdb(base)
    if mat.exists():
        return _read_cpsc_mat(mat)
    if path.is_file():
        raise UnreadableRecordError(path, f"unknown record format {path.suffix!r} "
                                          f"(expected one of {', '.join(KNOWN_EXTENSIONS)})")
    raise UnreadableRecordError(path, "no such record (looked for .hea, .mat, .npz, .npy)")


# ----------------------------------------------------------------------------------- WFDB


def _read_wfdb(base: Path) -> Record:
    import wfdb

    hea = Path(f"{base}.hea")
    header = check_header(hea)  # before wfdb fills absent fields with silent defaults
    # one rdrecord call parses the header once (wfdb's header parser dominates reading time)
    try:
        rec = wfdb.rdrecord(str(base), physical=False)
    except FileNotFoundError as exc:
        missing = Path(exc.filename).name if exc.filename else "?"
        raise UnreadableRecordError(hea, f"signal file {missing} named in the header is missing "
                                         f"(looked in {hea.parent})") from exc
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on bad headers or data
        raise UnreadableRecordError(hea, f"malformed header or truncated/corrupt signal data "
                                         f"({type(exc).__name__}: {exc})") from exc
    if not rec.sig_name:
        raise UnreadableRecordError(hea, "header declares no signals")
    if not math.isclose(float(rec.fs), header.fs, rel_tol=1e-9):  # e.g. "5e2": wfdb reads 5
        raise InvalidHeaderError(hea, f"sampling frequency written in a form wfdb reads as "
                                      f"{rec.fs} Hz, not {header.fs:g} Hz", field="fs")
    digital = rec.d_signal
    if digital is None or digital.ndim != 2 or digital.shape[1] != len(rec.sig_name):
        raise UnreadableRecordError(hea, "signal data do not match the channels in the header")
    if rec.sig_len and digital.shape[0] != rec.sig_len:
        raise UnreadableRecordError(hea, f"header declares {rec.sig_len} samples, "
                                         f"data holds {digital.shape[0]} (truncated file?)")
    if digital.shape[0] == 0:
        raise InvalidSignalError(hea, "signal has no samples")
    _verify_checksums(hea, rec)
    units = list(rec.units or ["mV"] * len(rec.sig_name))
    keep, scale, dropped = _voltage_channels(hea, list(rec.sig_name), units)
    physical = rec.dac(expanded=False, return_res=64, inplace=False)
    signal = (physical[:, keep] * np.asarray(scale)[None, :]).T.astype(np.float32)
    comments = list(rec.comments or [])
    meta = parse_header_comments(comments)
    meta["header_comments"] = comments
    meta["units_in_file"] = units
    meta["header_warnings"] = header.warnings
    meta["dropped_channels"] = dropped
    meta["path"] = str(hea)
    return Record(
        signal=np.ascontiguousarray(signal), fs=float(rec.fs),
        leads=tuple(normalize_lead_name(rec.sig_name[k]) for k in keep), record_id=base.name,
        recorded_at=_header_datetime(rec), meta=meta, source=str(base))


def _voltage_channels(hea: Path, names: list[str], units: list[str]
                      ) -> tuple[list[int], list[float], list[str]]:
    """(kept channel indices, their scale to mV, dropped 'NAME (unit)'): a standard lead in a
    non-voltage unit is refused; any other non-voltage channel (ABP, respiration) is dropped."""
    keep, scale, dropped = [], [], []
    for k, (name, unit) in enumerate(zip(names, units)):
        key = (unit or "mV").strip().lower()
        if key in _UNIT_TO_MV:
            keep.append(k)
            scale.append(_UNIT_TO_MV[key])
        elif normalize_lead_name(name) in STANDARD_LEADS:
            raise InvalidSignalError(hea, f"lead {name} has unit {unit!r}; expected mV, uV or V",
                                     lead=name)
        else:
            dropped.append(f"{name} ({unit})")
    if not keep:
        raise InvalidSignalError(hea, f"no channel in volts: {', '.join(dropped)}")
    return keep, scale, dropped


def _verify_checksums(hea: Path, rec: Any) -> None:
    """Refuse data whose per-channel checksum differs from the header (header/data disagree)."""
    declared = rec.checksum
    if not declared or any(c is None for c in declared):
        return
    actual = rec.calc_checksum(expanded=False)
    bad = [name for name, want, got in zip(rec.sig_name, declared, actual)
           if int(want) % 65536 != int(got) % 65536]
    if bad:
        raise UnreadableRecordError(hea, f"checksum mismatch between header and data for "
                                         f"lead(s) {', '.join(bad)}")


def _unit_scale_to_mv(path: Path, unit: Any) -> float:
    key = str(unit).strip().lower() if isinstance(unit, str) else None
    if key not in _UNIT_TO_MV:
        raise InvalidSignalError(path, f"unit {unit!r}; expected mV, uV or V")
    return _UNIT_TO_MV[key]


def _header_datetime(rec: Any) -> datetime | None:
    if rec.base_date is None:
        return None
    if rec.base_time is None:
        return datetime(rec.base_date.year, rec.base_date.month, rec.base_date.day)
    return datetime.combine(rec.base_date, rec.base_time)


_KEY_VALUE = re.compile(r"^\s*#?\s*([A-Za-z][\w ()/.-]*?)\s*:\s*(.*?)\s*$")
_MIT_AGE_SEX = re.compile(r"^\s*(\d{1,3})\s+([MF])\b")


def parse_header_comments(comments: Sequence[str]) -> dict[str, Any]:
    """Parse WFDB header comments into ``age`` (int), ``sex`` ("M"/"F"), ``dx`` (SNOMED codes).

    Understands the CinC-2021 convention (``#Age: 85``, ``#Sex: Male``, ``#Dx: 1,2``), PTB
    Diagnostic (``age: 81``, ``sex: female``) and MIT/QT DB (``69 M ...``). All ``key: value``
    lines are kept under ``meta["header"]`` with lower-case keys.
    """
    fields: dict[str, str] = {}
    age: int | None = None
    sex: str | None = None
    for line in comments:
        match = _KEY_VALUE.match(line)
        if match:
            fields.setdefault(match.group(1).strip().lower(), match.group(2))
            continue
        mit = _MIT_AGE_SEX.match(line)
        if mit and age is None:
            age, sex = int(mit.group(1)), mit.group(2)
    age = _parse_age(fields.get("age")) if "age" in fields else age
    sex = _parse_sex(fields.get("sex")) if "sex" in fields else sex
    dx_text = fields.get("dx", "")
    dx = [code.strip() for code in dx_text.split(",") if code.strip()
          and code.strip().lower() not in ("unknown", "nan")]
    return {"age": age, "sex": sex, "dx": dx, "header": fields}


def _parse_age(text: str | None) -> int | None:
    match = re.match(r"\s*(\d{1,3}(?:\.\d+)?)", text or "")
    return int(float(match.group(1))) if match else None


def _parse_sex(text: str | None) -> str | None:
    key = (text or "").strip().lower()
    if key in ("m", "male", "man", "0"):
        return "M"
    if key in ("f", "female", "woman", "1"):
        return "F"
    return None


# ----------------------------------------------------------------------------- CPSC-2018


def _read_cpsc_mat(mat: Path) -> Record:
    import scipy.io

    try:
        content = scipy.io.loadmat(str(mat))
    except Exception as exc:
        raise UnreadableRecordError(mat, f"not a readable MATLAB file ({exc})") from exc
    if "ECG" not in content:
        raise UnreadableRecordError(mat, "MATLAB file without a WFDB header and without the "
                                         "CPSC-2018 'ECG' struct")
    try:
        ecg = content["ECG"][0, 0]
        data = _real_array(mat, ecg["data"])
        sex = _parse_sex(str(np.ravel(ecg["sex"])[0]))
        age_raw = np.ravel(ecg["age"])
        age = int(age_raw[0]) if age_raw.size and np.isfinite(age_raw[0]) else None
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        if isinstance(exc, RecordError):
            raise
        raise UnreadableRecordError(mat, f"malformed CPSC-2018 ECG struct ({exc})") from exc
    if data.ndim != 2 or data.shape[0] != len(CPSC2018_LEADS):
        raise InvalidSignalError(mat, f"CPSC-2018 data has shape {data.shape}, expected (12, n)")
    return _array_record(mat, data, CPSC2018_FS_HZ, list(CPSC2018_LEADS), 1.0,
                         meta={"age": age, "sex": sex})


# --------------------------------------------------------------------------------- NumPy


def _read_npz(npz: Path) -> Record:
    try:
        with np.load(npz, allow_pickle=False) as content:
            missing = [key for key in ("signal", "fs", "leads") if key not in content.files]
            if missing:
                raise UnreadableRecordError(npz, f".npz lacks key(s) {', '.join(missing)} "
                                                 "(convention: signal, fs, leads)")
            # a compressed .npz can expand enormously: check the stored size before loading
            stored = content.zip.getinfo("signal.npy").file_size
            if stored > 8 * MAX_RECORD_SAMPLES + 4096:
                raise UnreadableRecordError(npz, f"signal holds {stored:,} bytes uncompressed, over "
                                                 f"the {MAX_RECORD_SAMPLES:,}-sample limit")
            arrays = {key: content[key] for key in content.files}
    except RecordError:
        raise
    except Exception as exc:
        raise UnreadableRecordError(npz, f"not a readable .npz file ({exc})") from exc
    units = arrays.get("units", np.array("mV"))
    scale = _unit_scale_to_mv(npz, units.item() if units.ndim == 0 else units)
    record = _array_record(npz, arrays["signal"], _sampling_rate(npz, arrays["fs"]),
                           _lead_names(npz, arrays["leads"]), scale)
    for key in ("record_id", "patient_id"):
        if key in arrays:
            value = arrays[key]
            if value.ndim != 0:
                raise UnreadableRecordError(npz, f"{key} must be a single value, got shape "
                                                 f"{value.shape}")
            setattr(record, key, str(value.item()))
    return record


def _read_npy(npy: Path, fs: float | None, leads: Sequence[str] | None) -> Record:
    sidecar = npy.with_suffix(".json")
    if (fs is None or leads is None) and sidecar.exists():
        try:
            info = json.loads(sidecar.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnreadableRecordError(sidecar, f"unreadable sidecar JSON ({exc})") from exc
        if not isinstance(info, dict):
            raise UnreadableRecordError(sidecar, "sidecar JSON must be an object "
                                                 "{'fs': ..., 'leads': [...]}")
        fs = info.get("fs") if fs is None else fs
        leads = info.get("leads") if leads is None else leads
    if fs is None or leads is None:
        raise UnreadableRecordError(npy, ".npy needs fs and leads (pass them, or write a sidecar "
                                         f"{sidecar.name} with {{'fs': ..., 'leads': [...]}})")
    try:
        signal = np.load(npy, allow_pickle=False, mmap_mode="r")
        if signal.size > MAX_RECORD_SAMPLES:
            raise UnreadableRecordError(npy, f"array holds {signal.size:,} values, over the "
                                             f"{MAX_RECORD_SAMPLES:,}-sample limit")
        signal = np.array(signal)
    except RecordError:
        raise
    except Exception as exc:
        raise UnreadableRecordError(npy, f"not a readable .npy file ({exc})") from exc
    return _array_record(npy, signal, _sampling_rate(npy, fs), _lead_names(npy, leads), 1.0)


def _sampling_rate(path: Path, value: Any) -> float:
    """The sampling rate (Hz) from an array or JSON field: one plausible number, else
    `InvalidHeaderError` (field ``fs``)."""
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "iuf":
        return check_fs(path, value if array.size == 1 else f"an array of shape {array.shape}")
    return check_fs(path, array.item())


def _lead_names(path: Path, value: Any) -> list[str]:
    """Lead names from a 1-D array or a JSON list of strings."""
    if isinstance(value, str):
        raise UnreadableRecordError(path, f"leads must be a list of names, got the string {value!r}")
    array = np.asarray(value)
    if array.ndim != 1 or array.dtype.kind not in "UO" or not all(isinstance(x, str) for x in
                                                                     array.tolist()):
        raise UnreadableRecordError(path, f"leads must be a 1-D list of names, got "
                                          f"{array.dtype} {array.shape}")
    return [str(x) for x in array.tolist()]


def _real_array(path: Path, value: Any) -> np.ndarray:
    """A real (integer/float) numeric array; bool, complex, text and objects are refused."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise InvalidSignalError(path, f"signal must hold real numbers, got dtype {array.dtype}")
    return array


def _array_record(path: Path, signal: np.ndarray, fs: float, leads: list[str],
                  scale_to_mv: float, meta: dict[str, Any] | None = None) -> Record:
    signal = _real_array(path, signal)
    if signal.ndim != 2:
        raise InvalidSignalError(path, f"signal must be a 2-D array (leads x samples), got "
                                       f"shape {signal.shape}")
    if signal.shape[0] != len(leads) and signal.shape[1] == len(leads):
        signal = signal.T  # accept (n_samples, n_leads) when the lead count disambiguates
    if signal.shape[0] != len(leads):
        raise InvalidSignalError(path, f"{len(leads)} lead names for a signal of shape "
                                       f"{signal.shape}")
    if signal.shape[0] == 0 or signal.shape[1] == 0:
        raise InvalidSignalError(path, f"signal has no samples (shape {signal.shape})")
    check_size(path, signal.shape[0], signal.shape[1], fs)
    base_meta: dict[str, Any] = {"age": None, "sex": None, "dx": [], "path": str(path)}
    base_meta.update(meta or {})
    return Record(signal=np.ascontiguousarray(signal * scale_to_mv, dtype=np.float32), fs=fs,
                  leads=tuple(normalize_lead_name(n) for n in leads), record_id=path.stem,
                  meta=base_meta, source=str(path))


__all__ = ["load_record", "parse_header_comments", "RecordError", "FS_RANGE_HZ"]
