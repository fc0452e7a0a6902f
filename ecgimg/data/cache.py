"""Signal cache: a dataset converted once into a memory-mapped float32 array plus an index table.

Layout of a cache directory:

* ``signals.f32`` — raw little-endian float32, shape [N, 12, n_samples] (C order), mV,
  leads in STANDARD_LEADS order; opened read-only with `numpy.memmap`.
* ``index.csv`` — one row per signal: record_id, patient_id, recorded_at, split, source, then
  label columns: ``task`` for binary/scalar labels, ``task/CLASS`` (0/1) for multi-label sets.
  An empty cell means "label unknown for this record".
* ``cache.json`` — shape, fs, window and the kind + classes of each task.
* ``report.json`` — records skipped (file, record_id, reason, error type) and counts.

Records are written sequentially, so memory stays flat however large the dataset; a bad record
is skipped and reported, nothing else is lost.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgimg.data.canonical import canonicalize
from ecgimg.data.errors import RecordError
from ecgimg.data.readers import load_record
from ecgimg.data.record import STANDARD_LEADS, Record
from ecgimg.data.splits import assert_patient_disjoint

SIGNALS_FILE, INDEX_FILE, META_FILE, REPORT_FILE = ("signals.f32", "index.csv", "cache.json",
                                                    "report.json")
ID_COLUMNS = ("record_id", "patient_id", "recorded_at", "split", "source")


def build_cache(records: Iterable[Record | str | Path] | Sequence[Any], out_dir: str | Path,
                fs: float = 500, seconds: float = 10.0, *,
                splits: Sequence[str | None] | Callable[[Record], str | None] | None = None,
                derive_limb_leads: bool = False, crop: str = "start",
                min_seconds: float | None = None, progress: bool = True) -> "SignalCache":
    """Canonicalise every record and write a `SignalCache` to `out_dir`.

    `records` may be a sequence (a dataset whose ``[i]`` may raise `RecordError`), any iterable
    of `Record`s, or paths. The split of a record comes from `splits` (a list aligned with
    `records`, or a function of the record), else from ``record.meta["split"]``. The written
    split is checked with `assert_patient_disjoint`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_samples = int(round(fs * seconds))
    total = len(records) if hasattr(records, "__len__") else None
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    label_values: list[dict[str, Any]] = []
    with open(out / SIGNALS_FILE, "wb") as signals_file:
        for position, item in tqdm(_items(records), total=total, disable=not progress,
                                   desc=f"cache {out.name}", unit="rec"):
            try:
                record = item() if callable(item) else item
                if isinstance(record, (str, Path)):
                    record = load_record(record)
                canonical = canonicalize(record, fs=fs, seconds=seconds, crop=crop,
                                         derive_limb_leads=derive_limb_leads,
                                         min_seconds=min_seconds)
            except RecordError as exc:
                skipped.append({"position": position, "file": exc.path, "reason": exc.reason,
                                "error_type": type(exc).__name__})
                continue
            signals_file.write(np.ascontiguousarray(canonical.signal, dtype="<f4").tobytes())
            rows.append(_id_row(canonical, _split_of(canonical, position, splits)))
            label_values.append(dict(canonical.labels))
    index, tasks = _index_table(rows, label_values)
    assert_patient_disjoint(list(index["split"]), list(index["patient_id"]))
    index.to_csv(out / INDEX_FILE, index=False)
    meta = {"n_records": len(index), "shape": [len(index), len(STANDARD_LEADS), n_samples],
            "dtype": "float32", "fs": fs, "seconds": seconds, "leads": list(STANDARD_LEADS),
            "crop": crop, "tasks": tasks}
    (out / META_FILE).write_text(json.dumps(meta, indent=1))
    report = {"n_written": len(index), "n_skipped": len(skipped), "skipped": skipped}
    (out / REPORT_FILE).write_text(json.dumps(report, indent=1))
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
    return {"record_id": record.record_id, "patient_id": record.patient_id,
            "recorded_at": record.recorded_at.isoformat() if record.recorded_at else None,
            "split": split, "source": record.source}


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
    index = pd.DataFrame(rows, columns=list(ID_COLUMNS))
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
            raise FileNotFoundError(f"{path}: not a signal cache (no {META_FILE})")
        meta = json.loads(meta_file.read_text())
        index = pd.read_csv(path / INDEX_FILE, dtype={c: "string" for c in ID_COLUMNS},
                            keep_default_na=False, na_values={
                                c: [""] for c in _label_columns_of(meta)})
        for column in ID_COLUMNS:  # empty cell -> None (pandas would give "" or <NA>)
            index[column] = pd.Series([None if pd.isna(v) or v == "" else str(v)
                                       for v in index[column]], dtype=object)
        shape = tuple(meta["shape"])
        expected_bytes = int(np.prod(shape)) * 4
        actual_bytes = os.path.getsize(path / SIGNALS_FILE)
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

    def split_indices(self, split: str) -> np.ndarray:
        """Row numbers of one split ("train", "val", "test", ...)."""
        return np.nonzero((self.index["split"] == split).to_numpy())[0]

    def report(self) -> dict[str, Any]:
        return json.loads((self.path / REPORT_FILE).read_text())


def _label_columns_of(meta: dict[str, Any]) -> list[str]:
    columns = []
    for task, info in meta["tasks"].items():
        columns += ([task] if info["kind"] != "multilabel"
                    else [f"{task}/{name}" for name in info["classes"]])
    return columns
