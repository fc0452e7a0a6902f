"""Signal cache: a dataset converted once into a memory-mapped float32 array plus an index table.

Layout of a cache directory:

* ``signals.f32`` — raw little-endian float32, shape [N, 12, n_samples] (C order), mV,
  leads in STANDARD_LEADS order; opened read-only with `numpy.memmap`.
* ``index.csv`` — one row per signal: record_id, patient_id, recorded_at, split, source; then
  what canonicalisation did and found (`CANONICAL_COLUMNS`): ``lead_flags`` (``"V3:flat"``, see
  `ecgimg.data.quality`), ``source_fs`` (Hz), ``crop_start_s``, ``padded_fraction``,
  ``derived_leads`` (``"III;aVF"``); then label columns: ``task`` for binary/scalar labels,
  ``task/CLASS`` (0/1) for multi-label sets. An empty cell means "label unknown for this record".
* ``cache.json`` — shape, fs, window and the kind + classes of each task. Written last: a
  directory without it is not a cache.
* ``report.json`` — records skipped (file, record_id, reason, error type), records kept with
  warnings (flagged leads, header fields wfdb would have guessed), and counts.

Records are written sequentially, so memory stays flat however large the dataset. A bad record is
skipped and reported, nothing else is lost: `RecordError`s are expected, any other exception
raised by one record is reported too (``"unexpected": true``). Every file is written under a
temporary name and renamed into place only when the whole batch is done, so an interrupted build
(Ctrl-C, a full disk, a patient leak) leaves no half-written cache behind.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgimg.data.canonical import canonicalize
from ecgimg.data.errors import RecordError
from ecgimg.data.quality import flags_from_text, flags_to_text
from ecgimg.data.readers import load_record
from ecgimg.data.record import STANDARD_LEADS, Record
from ecgimg.data.splits import assert_patient_disjoint

SIGNALS_FILE, INDEX_FILE, META_FILE, REPORT_FILE = ("signals.f32", "index.csv", "cache.json",
                                                    "report.json")
ID_COLUMNS = ("record_id", "patient_id", "recorded_at", "split", "source")
#: per-record facts of canonicalisation kept in the index (text columns, then numbers)
CANONICAL_TEXT_COLUMNS = ("lead_flags", "derived_leads")
CANONICAL_COLUMNS = ("lead_flags", "source_fs", "crop_start_s", "padded_fraction",
                     "derived_leads")


@dataclass
class CanonicalItem:
    """One item of a batch: its canonical record, or why it was skipped (``problem``)."""

    position: int
    record: Record | None = None
    problem: dict[str, Any] | None = None

    @property
    def warnings(self) -> list[str]:
        """Flagged leads and header fields a reader had to assume, as readable lines."""
        if self.record is None:
            return []
        meta = self.record.meta
        flags = [f"lead {lead} {'+'.join(names)}"
                 for lead, names in (meta.get("lead_flags") or {}).items()]
        return flags + list(meta.get("header_warnings") or [])


def canonical_records(records: Any, fs: float = 500, seconds: float = 10.0, *,
                      derive_limb_leads: bool = False, crop: str = "start",
                      min_seconds: float | None = None) -> Iterator[CanonicalItem]:
    """Read (when given paths) and canonicalise every item of `records`, one at a time.

    A failing item yields a `CanonicalItem` with ``problem`` = {position, file, reason,
    error_type[, unexpected]} instead of raising: typed `RecordError`s, and any other exception
    raised while producing that one item (a bug or an I/O error in one file must not lose the
    batch). An iterable that itself fails ends the batch with one such problem
    (``"aborted": true``), since nothing more can be drawn from it. KeyboardInterrupt and
    SystemExit are not caught.
    """
    iterator = iter(_items(records))
    position = 0
    while True:
        try:
            position, item = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # the iterable itself broke: report, then stop
            yield CanonicalItem(position + 1, problem={
                **_problem(position + 1, exc, None), "aborted": True})
            return
        try:
            record = item() if callable(item) else item
            source = record if isinstance(record, (str, Path)) else None
            if source is not None:
                record = load_record(record)
            if not isinstance(record, Record):
                raise TypeError(f"item {position} is a {type(record).__name__}, not a Record or "
                                "a path")
            yield CanonicalItem(position, record=canonicalize(
                record, fs=fs, seconds=seconds, crop=crop, derive_limb_leads=derive_limb_leads,
                min_seconds=min_seconds))
        except Exception as exc:
            yield CanonicalItem(position, problem=_problem(position, exc, item))


def _problem(position: int, exc: Exception, item: Any) -> dict[str, Any]:
    path = getattr(exc, "path", None) if isinstance(exc, RecordError) else None
    if path is None and isinstance(item, (str, Path)):
        path = str(item)
    entry = {"position": position, "file": path,
             "reason": exc.reason if isinstance(exc, RecordError) else str(exc),
             "error_type": type(exc).__name__}
    if not isinstance(exc, RecordError):
        entry["unexpected"] = True
    return entry


def build_cache(records: Iterable[Record | str | Path] | Sequence[Any], out_dir: str | Path,
                fs: float = 500, seconds: float = 10.0, *,
                splits: Sequence[str | None] | Callable[[Record], str | None] | None = None,
                derive_limb_leads: bool = False, crop: str = "start",
                min_seconds: float | None = None, progress: bool = True) -> "SignalCache":
    """Canonicalise every record and write a `SignalCache` to `out_dir`.

    `records` may be a sequence (a dataset whose ``[i]`` may raise `RecordError`), any iterable
    of `Record`s, or paths. The split of a record comes from `splits` (a list aligned with
    `records`, or a function of the record), else from ``record.meta["split"]``. The written
    split is checked with `assert_patient_disjoint`. Bad records are skipped and listed in
    ``report.json``; records kept with flagged leads or header warnings are listed there too.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / META_FILE).unlink(missing_ok=True)  # the old cache (if any) stops being one now
    n_samples = int(round(fs * seconds))
    total = len(records) if hasattr(records, "__len__") else None
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    warned: list[dict[str, Any]] = []
    label_values: list[dict[str, Any]] = []
    temporary = {name: out / f".{name}.tmp-{os.getpid()}"
                 for name in (SIGNALS_FILE, INDEX_FILE, REPORT_FILE, META_FILE)}
    try:
        with open(temporary[SIGNALS_FILE], "wb") as signals_file:
            items = canonical_records(records, fs, seconds, derive_limb_leads=derive_limb_leads,
                                      crop=crop, min_seconds=min_seconds)
            for item in tqdm(items, total=total, disable=not progress, desc=f"cache {out.name}",
                             unit="rec"):
                if item.problem is not None:
                    skipped.append(item.problem)
                    continue
                canonical = item.record
                split = _split_of(canonical, item.position, splits)
                signals_file.write(np.ascontiguousarray(canonical.signal, dtype="<f4").tobytes())
                rows.append(_id_row(canonical, split))
                label_values.append(dict(canonical.labels))
                if item.warnings:
                    warned.append({"position": item.position, "record_id": canonical.record_id,
                                   "file": canonical.meta.get("path") or canonical.source,
                                   "warnings": item.warnings})
        index, tasks = _index_table(rows, label_values)
        assert_patient_disjoint(list(index["split"]), list(index["patient_id"]))
        index.to_csv(temporary[INDEX_FILE], index=False)
        report = {"n_written": len(index), "n_skipped": len(skipped), "skipped": skipped,
                  "n_with_warnings": len(warned), "warnings": warned}
        temporary[REPORT_FILE].write_text(json.dumps(report, indent=1))
        meta = {"n_records": len(index), "shape": [len(index), len(STANDARD_LEADS), n_samples],
                "dtype": "float32", "fs": fs, "seconds": seconds, "leads": list(STANDARD_LEADS),
                "crop": crop, "tasks": tasks}
        temporary[META_FILE].write_text(json.dumps(meta, indent=1))
        for name in (SIGNALS_FILE, INDEX_FILE, REPORT_FILE, META_FILE):  # cache.json last
            os.replace(temporary[name], out / name)
    finally:
        for path in temporary.values():
            path.unlink(missing_ok=True)
    return SignalCache.open(out)


def _items(records: Any) -> Iterable[tuple[int, Any]]:
    """(position, record-or-thunk): sequences are indexed lazily so a bad item can be skipped."""
    if hasattr(records, "__len__") and hasattr(records, "__getitem__"):
        for i in range(len(records)):
            yield i, (lambda i=i: records[i])
    else:
        yield from enumerate(records)


def _split_of(record: Record, position: int, splits: Any) -> str | None:
    if callable(splits):
        return splits(record)
    if splits is not None:
        return splits[position]
    return record.meta.get("split")


def _id_row(record: Record, split: str | None) -> dict[str, Any]:
    canonical = record.meta.get("canonical", {})
    return {"record_id": record.record_id, "patient_id": record.patient_id,
            "recorded_at": record.recorded_at.isoformat() if record.recorded_at else None,
            "split": split, "source": record.source,
            "lead_flags": flags_to_text(record.meta.get("lead_flags") or {}),
            "source_fs": canonical.get("source_fs"), "crop_start_s": canonical.get("start_s"),
            "padded_fraction": canonical.get("padded_fraction"),
            "derived_leads": ";".join(canonical.get("derived_leads") or [])}


def _index_table(rows: list[dict], labels: list[dict]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Id columns plus one column per binary/scalar task and per class of multi-label tasks."""
    kinds: dict[str, str] = {}
    classes: dict[str, set[str]] = {}
    for entry in labels:
        for task, value in entry.items():
            if value is None:
                continue
            if isinstance(value, (list, tuple, set, frozenset)):
                kinds[task] = "multilabel"
                classes.setdefault(task, set()).update(str(v) for v in value)
            elif kinds.get(task) != "multilabel":
                is_binary = value in (0, 1) and kinds.get(task, "binary") == "binary"
                kinds[task] = "binary" if is_binary else "scalar"
    columns: dict[str, list[Any]] = {}
    tasks: dict[str, Any] = {}
    for task in sorted(kinds):
        if kinds[task] == "multilabel":
            names = sorted(classes[task])
            tasks[task] = {"kind": "multilabel", "classes": names}
            for name in names:
                columns[f"{task}/{name}"] = [
                    np.nan if entry.get(task) is None else float(name in map(str, entry[task]))
                    for entry in labels]
        else:
            tasks[task] = {"kind": kinds[task], "classes": [task]}
            columns[task] = [np.nan if entry.get(task) is None else float(entry[task])
                             for entry in labels]
    index = pd.DataFrame(rows, columns=list(ID_COLUMNS) + list(CANONICAL_COLUMNS))
    clash = sorted(set(columns) & set(index.columns))
    if clash:
        raise ValueError(f"label task(s) {clash} would overwrite index columns of the same name")
    for name, values in columns.items():
        index[name] = values
    return index, tasks


@dataclass
class SignalCache:
    """A written cache: ``signals`` memmap [N, 12, n] float32 mV and the ``index`` table."""

    path: Path
    signals: np.memmap
    index: pd.DataFrame
    meta: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path) -> "SignalCache":
        path = Path(path)
        meta_file = path / META_FILE
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path}: not a signal cache (no {META_FILE}; an interrupted "
                                    "build leaves none)")
        try:
            meta = json.loads(meta_file.read_text())
            shape = tuple(int(n) for n in meta["shape"])
            label_columns = _label_columns_of(meta)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{meta_file}: not a readable cache description ({exc!r})") from exc
        text = ID_COLUMNS + CANONICAL_TEXT_COLUMNS
        try:
            index = pd.read_csv(path / INDEX_FILE, dtype={c: "string" for c in text},
                                keep_default_na=False, na_values={c: [""] for c in label_columns})
        except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
            raise ValueError(f"{path / INDEX_FILE}: unreadable cache index ({exc})") from exc
        missing = [c for c in (*ID_COLUMNS, *label_columns) if c not in index.columns]
        if missing:
            raise ValueError(f"{path / INDEX_FILE}: cache index lacks column(s) {missing}")
        for column in ID_COLUMNS:  # empty cell -> None (pandas would give "" or <NA>)
            index[column] = pd.Series([None if pd.isna(v) or v == "" else str(v)
                                       for v in index[column]], dtype=object)
        for column in CANONICAL_TEXT_COLUMNS:  # caches written before these columns: ""
            values = index[column] if column in index else [""] * len(index)
            index[column] = pd.Series(["" if pd.isna(v) else str(v) for v in values], dtype=object)
        expected_bytes = int(np.prod(shape)) * 4
        signals_file = path / SIGNALS_FILE
        actual_bytes = signals_file.stat().st_size if signals_file.is_file() else -1
        if actual_bytes != expected_bytes or len(index) != shape[0]:
            raise ValueError(f"{path}: cache is inconsistent ({actual_bytes} bytes of signal for "
                             f"shape {shape}, {len(index)} index rows)")
        signals = (np.memmap(path / SIGNALS_FILE, dtype="<f4", mode="r", shape=shape)
                   if shape[0] else np.zeros(shape, dtype=np.float32))
        return cls(path=path, signals=signals, index=index, meta=meta)

    def __len__(self) -> int:
        return len(self.index)

    def __reduce__(self):
        # DataLoader workers receive a reopened memmap, not a pickled copy of every signal
        return (SignalCache.open, (str(self.path),))

    @property
    def tasks(self) -> dict[str, Any]:
        return self.meta["tasks"]

    @property
    def fs(self) -> float:
        """Sampling rate of the cached signals, Hz."""
        return float(self.meta["fs"])

    @property
    def leads(self) -> tuple[str, ...]:
        return tuple(self.meta["leads"])

    def targets(self, task: str) -> tuple[list[str], np.ndarray]:
        """(class names, float32 [N, K] matrix; NaN where the label is unknown) for a task."""
        if task not in self.tasks:
            raise KeyError(f"{self.path}: no task {task!r}; available: {sorted(self.tasks)}")
        info = self.tasks[task]
        names = list(info["classes"])
        columns = [task] if info["kind"] != "multilabel" else [f"{task}/{n}" for n in names]
        return names, self.index[columns].to_numpy(dtype=np.float32)

    def labelled_indices(self, task: str) -> np.ndarray:
        """Rows whose label is known; for multi-label sets rows with at least one class (as the
        PTB-XL benchmark drops records with no statement of a task)."""
        _, matrix = self.targets(task)
        known = ~np.isnan(matrix).any(axis=1)
        if self.tasks[task]["kind"] == "multilabel":
            known &= np.nan_to_num(matrix).sum(axis=1) > 0
        return np.nonzero(known)[0]

    def split_indices(self, split: str, exclude_flagged: bool = False) -> np.ndarray:
        """Row numbers of one split ("train", "val", "test", ...); with `exclude_flagged`, only
        records without a flagged lead."""
        rows = np.nonzero((self.index["split"] == split).to_numpy())[0]
        return np.setdiff1d(rows, self.flagged_indices()) if exclude_flagged else rows

    def lead_flags(self, row: int) -> dict[str, list[str]]:
        """{lead: [flags]} of one record (`ecgimg.data.quality`); {} when none is flagged."""
        return flags_from_text(self.index["lead_flags"].iloc[row])

    def flagged_indices(self) -> np.ndarray:
        """Rows of records with at least one flagged lead."""
        return np.nonzero((self.index["lead_flags"] != "").to_numpy())[0]

    def report(self) -> dict[str, Any]:
        return json.loads((self.path / REPORT_FILE).read_text())


def _label_columns_of(meta: dict[str, Any]) -> list[str]:
    columns = []
    for task, info in meta["tasks"].items():
        columns += ([task] if info["kind"] != "multilabel"
                    else [f"{task}/{name}" for name in info["classes"]])
    return columns
