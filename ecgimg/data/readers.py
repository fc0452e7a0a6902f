"""One reader per on-disk ECG format, all returning a `Record` in millivolts.

Formats (the path may be given with or without its extension):

* WFDB: ``NAME.hea`` plus its signal files (``.dat`` in any WFDB format, or ``.mat`` as in the
  PhysioNet/CinC 2020-21 challenges), read with the ``wfdb`` package. Units from the header
  (uV and V are converted to mV; a lead with any other unit is refused). Per-channel checksums in
  the header are verified, so a header that disagrees with the data is caught.
* CPSC-2018 original ``.mat`` (no header): a MATLAB struct ``ECG{sex, age, data}`` whose ``data``
  is (12, n) in mV at 500 Hz in the standard order I, II, III, aVR, aVL, aVF, V1-V6.
* NumPy ``.npz``: keys ``signal`` (n_leads, n_samples) in mV, ``fs`` (Hz), ``leads`` (names);
  optional ``record_id``, ``patient_id``, ``units`` ("mV", "uV" or "V").
* NumPy ``.npy``: the bare (n_leads, n_samples) array in mV; ``fs`` and ``leads`` come from the
  keyword arguments or from a sidecar ``NAME.json`` holding ``{"fs": ..., "leads": [...]}``.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ecgimg.data.errors import InvalidSignalError, RecordError, UnreadableRecordError
from ecgimg.data.record import Record, normalize_lead_name

KNOWN_EXTENSIONS = (".hea", ".dat", ".mat", ".npz", ".npy")

#: CPSC-2018 sampling rate (Hz) and lead order, from the challenge description.
CPSC2018_FS_HZ = 500.0
CPSC2018_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "v": 1e3}


def load_record(path: str | Path, *, fs: float | None = None,
                leads: Sequence[str] | None = None, allow_nonfinite: bool = False) -> Record:
    """Read one ECG record of any supported format into a `Record` (signal float32, mV).

    `fs` and `leads` are only used for bare ``.npy`` arrays (which carry neither).
    Every failure raises a subclass of `RecordError` naming the file and the problem; NaN/inf
    samples (e.g. WFDB "invalid sample" markers) are refused unless `allow_nonfinite`.
    """
    record = _dispatch(Path(path), fs, leads)
    if not allow_nonfinite:
        finite = np.isfinite(record.signal).all(axis=1)
        if not finite.all():
            bad = ", ".join(name for name, ok in zip(record.leads, finite) if not ok)
            raise InvalidSignalError(record.meta.get("path", path),
                                     f"NaN or infinite samples in lead(s) {bad}")
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
    # one rdrecord call parses the header once (wfdb's header parser dominates reading time)
    try:
        rec = wfdb.rdrecord(str(base), physical=False)
    except FileNotFoundError as exc:
        missing = Path(exc.filename) if exc.filename else hea
        raise UnreadableRecordError(missing, f"signal file named in {hea.name} is missing"
                                    ) from exc
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on bad headers or data
        raise UnreadableRecordError(hea, f"malformed header or truncated/corrupt signal data "
                                         f"({type(exc).__name__}: {exc})") from exc
    if not rec.sig_name:
        raise UnreadableRecordError(hea, "header declares no signals")
    digital = rec.d_signal
    if digital is None or digital.ndim != 2 or digital.shape[1] != len(rec.sig_name):
        raise UnreadableRecordError(hea, "signal data do not match the channels in the header")
    if rec.sig_len and digital.shape[0] != rec.sig_len:
        raise UnreadableRecordError(hea, f"header declares {rec.sig_len} samples, "
                                         f"data holds {digital.shape[0]} (truncated file?)")
    _verify_checksums(hea, rec)
    physical = rec.dac(expanded=False, return_res=64, inplace=False)
    scale = np.array([_unit_scale_to_mv(hea, unit, name)
                      for unit, name in zip(rec.units or ["mV"] * len(rec.sig_name),
                                            rec.sig_name)])
    signal = (physical * scale[None, :]).T.astype(np.float32)
    comments = list(rec.comments or [])
    meta = parse_header_comments(comments)
    meta["header_comments"] = comments
    meta["units_in_file"] = list(rec.units or [])
    meta["path"] = str(hea)
    return Record(
        signal=np.ascontiguousarray(signal), fs=float(rec.fs),
        leads=tuple(normalize_lead_name(n) for n in rec.sig_name), record_id=base.name,
        recorded_at=_header_datetime(rec), meta=meta, source=str(base))


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


def _unit_scale_to_mv(hea: Path, unit: str | None, lead: str) -> float:
    key = (unit or "mV").strip().lower()
    if key not in _UNIT_TO_MV:
        raise InvalidSignalError(hea, f"lead {lead} has unit {unit!r}; expected mV, uV or V")
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
        data = np.asarray(ecg["data"], dtype=np.float64)
        sex = _parse_sex(str(np.ravel(ecg["sex"])[0]))
        age_raw = np.ravel(ecg["age"])
        age = int(age_raw[0]) if age_raw.size and np.isfinite(age_raw[0]) else None
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise UnreadableRecordError(mat, f"malformed CPSC-2018 ECG struct ({exc})") from exc
    if data.ndim != 2 or data.shape[0] != len(CPSC2018_LEADS):
        raise InvalidSignalError(mat, f"CPSC-2018 data has shape {data.shape}, expected (12, n)")
    return Record(signal=np.ascontiguousarray(data, dtype=np.float32), fs=CPSC2018_FS_HZ,
                  leads=CPSC2018_LEADS, record_id=mat.stem,
                  meta={"age": age, "sex": sex, "dx": [], "path": str(mat)}, source=str(mat))


# --------------------------------------------------------------------------------- NumPy


def _read_npz(npz: Path) -> Record:
    try:
        with np.load(npz, allow_pickle=False) as content:
            arrays = {key: content[key] for key in content.files}
    except Exception as exc:
        raise UnreadableRecordError(npz, f"not a readable .npz file ({exc})") from exc
    missing = [key for key in ("signal", "fs", "leads") if key not in arrays]
    if missing:
        raise UnreadableRecordError(npz, f".npz lacks key(s) {', '.join(missing)} "
                                         "(convention: signal, fs, leads)")
    units = str(arrays["units"]) if "units" in arrays else "mV"
    scale = _unit_scale_to_mv(npz, units, "all")
    record = _array_record(npz, arrays["signal"], float(arrays["fs"]),
                           [str(x) for x in np.atleast_1d(arrays["leads"])], scale)
    if "record_id" in arrays:
        record.record_id = str(arrays["record_id"])
    if "patient_id" in arrays:
        record.patient_id = str(arrays["patient_id"])
    return record


def _read_npy(npy: Path, fs: float | None, leads: Sequence[str] | None) -> Record:
    sidecar = npy.with_suffix(".json")
    if (fs is None or leads is None) and sidecar.exists():
        try:
            info = json.loads(sidecar.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UnreadableRecordError(sidecar, f"unreadable sidecar JSON ({exc})") from exc
        fs = info.get("fs") if fs is None else fs
        leads = info.get("leads") if leads is None else leads
    if fs is None or leads is None:
        raise UnreadableRecordError(npy, ".npy needs fs and leads (pass them, or write a sidecar "
                                         f"{sidecar.name} with {{'fs': ..., 'leads': [...]}})")
    try:
        signal = np.load(npy, allow_pickle=False)
    except Exception as exc:
        raise UnreadableRecordError(npy, f"not a readable .npy file ({exc})") from exc
    return _array_record(npy, signal, float(fs), list(leads), 1.0)


def _array_record(path: Path, signal: np.ndarray, fs: float, leads: list[str],
                  scale_to_mv: float) -> Record:
    if signal.ndim != 2 or not np.issubdtype(signal.dtype, np.number):
        raise InvalidSignalError(path, f"signal must be a 2-D numeric array, got "
                                       f"{signal.dtype} {signal.shape}")
    if signal.shape[0] != len(leads) and signal.shape[1] == len(leads):
        signal = signal.T  # accept (n_samples, n_leads) when the lead count disambiguates
    if signal.shape[0] != len(leads):
        raise InvalidSignalError(path, f"{len(leads)} lead names for a signal of shape "
                                       f"{signal.shape}")
    if not fs > 0:
        raise InvalidSignalError(path, f"sampling rate must be positive, got {fs}")
    return Record(signal=np.ascontiguousarray(signal * scale_to_mv, dtype=np.float32), fs=fs,
                  leads=tuple(normalize_lead_name(n) for n in leads), record_id=path.stem,
                  meta={"age": None, "sex": None, "dx": [], "path": str(path)},
                  source=str(path))


__all__ = ["load_record", "parse_header_comments", "RecordError"]
