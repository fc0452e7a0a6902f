"""What ecg-render renders: record references found in its inputs, read through `ecgimg.data`.

Every record is read by the project's readers (`PTBXL`, `WFDBFolder`, `load_record`, or a
`SignalCache` built by them, whose rows are canonical 12-lead signals), so the unit, checksum and NaN
checks apply and identities (record id, patient id, split, labels) are the ones
a signal cache of the same data has: a PTB-XL page is `ptbxl00001.png`, as the cache names it.
A reference is small and picklable; workers open the dataset themselves (once per process).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgimg.data import PTBXL, SignalCache, WFDBFolder, load_record
from ecgimg.data.cache import META_FILE
from ecgimg.data.record import Record

RECORD_SUFFIXES = (".hea", ".mat", ".npz", ".npy")


@dataclass(frozen=True)
class RecordRef:
    """One record to render: where it lives and who it belongs to (patient None = unknown)."""

    record_id: str
    kind: str  # "ptbxl" (PTB-XL root row), "cache" (SignalCache row), "folder" (WFDBFolder row), "file"
    root: str
    position: int
    path: str
    patient_id: str | None = None
    split: str | None = None

    @property
    def identity(self) -> str:
        """The patient, or the record itself when the patient is unknown (its own patient)."""
        return self.patient_id if self.patient_id is not None else f"record:{self.record_id}"


def discover(inputs) -> list[RecordRef]:
    """Every record of every input (PTB-XL root, signal cache, folder of records, or record file),
    de-duplicated by path, in a stable order: inputs in order, each in its reader's order."""
    found: dict[str, RecordRef] = {}
    for raw in inputs:
        path = Path(raw)
        if (path / "ptbxl_database.csv").is_file():
            table = _dataset("ptbxl", str(path)).metadata
            refs = [RecordRef(f"ptbxl{int(row.ecg_id):05d}", "ptbxl", str(path), i, str(row.path),
                              None if row.patient_id != row.patient_id else str(int(row.patient_id)),
                              row.split) for i, row in enumerate(table.itertuples())]
        elif (path / META_FILE).is_file():
            index = _dataset("cache", str(path)).index
            refs = [RecordRef(str(row.record_id), "cache", str(path), i, f"{path}#{i}", row.patient_id, row.split)
                    for i, row in enumerate(index.itertuples())]
        elif path.is_dir():
            table = _dataset("folder", str(path)).metadata
            refs = [RecordRef(str(row.record_id), "folder", str(path), i, str(row.path), row.patient_id, row.split)
                    for i, row in enumerate(table.itertuples())]
        else:
            base = path.with_suffix("") if path.suffix.lower() in RECORD_SUFFIXES else path
            refs = [RecordRef(base.name, "file", str(base), 0, str(base))]
        for ref in refs:
            found.setdefault(ref.path, ref)
    return list(found.values())


def load(ref: RecordRef) -> Record:
    """The record, read by its dataset reader (labels, patient and split included)."""
    if ref.kind == "file":
        return load_record(ref.path)
    if ref.kind == "cache":
        return _cache_record(_dataset("cache", ref.root), ref)
    return _dataset(ref.kind, ref.root)[ref.position]


@functools.lru_cache(maxsize=8)
def _dataset(kind: str, root: str):
    return {"ptbxl": PTBXL, "cache": SignalCache.open, "folder": WFDBFolder}[kind](root)


def _cache_record(cache: SignalCache, ref: RecordRef) -> Record:
    """A cache row as a Record; labels as the cache holds them (multi-label: the classes present)."""
    row = cache.index.iloc[ref.position]
    labels = {}
    for task, info in cache.tasks.items():
        if info["kind"] == "multilabel":
            values = [row[f"{task}/{c}"] for c in info["classes"]]
            labels[task] = None if any(v != v for v in values) else [c for c, v in zip(info["classes"], values) if v > 0]
        else:
            labels[task] = None if row[task] != row[task] else float(row[task])
    return Record(np.asarray(cache.signals[ref.position]), cache.fs, cache.leads, ref.record_id,
                  patient_id=ref.patient_id, labels=labels, source=row["source"], meta={"split": ref.split})
