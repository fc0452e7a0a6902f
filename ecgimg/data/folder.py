"""Generic record folders: recursive scan, optional labels table, CinC-2021 header labels.

The folder may hold WFDB records (``.hea`` + ``.dat``/``.mat``), CPSC-2018 ``.mat`` structs and
``.npz`` files, nested at any depth. Labels come from two places:

* header comments (CinC-2021 convention): ``dx`` = list of SNOMED-CT codes, ``sex``
  (1 female, 0 male), ``age`` (years) — filled in when a record is loaded;
* an optional CSV with one row per record (`record_col` holds the file stem), a patient column
  and label columns (numbers kept as is; text split on ``,``/``;`` into a multi-label set).

Without a split column, records get a seeded patient-level split (`patient_split`); records
without a patient id count as their own patient.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from ecgimg.data.errors import UnreadableRecordError
from ecgimg.data.readers import KNOWN_EXTENSIONS, load_record
from ecgimg.data.record import Record
from ecgimg.data.splits import assert_patient_disjoint, patient_split


def record_paths(root: str | Path) -> list[Path]:
    """Every record under `root` (recursive), as extension-less base paths, sorted.

    `root` may also be one record, with or without its extension (``rec``, ``rec.hea``). A
    ``.mat`` beside a ``.hea`` of the same name is the WFDB record's signal file, not a record
    of its own. A path that is neither raises `UnreadableRecordError`.
    """
    root = Path(root)
    if root.is_file():
        return [root.with_suffix("") if root.suffix.lower() in KNOWN_EXTENSIONS else root]
    if not root.is_dir():
        if any(Path(f"{root}{ext}").is_file() for ext in KNOWN_EXTENSIONS):
            return [root]  # a record named without its extension
        raise UnreadableRecordError(root, "no such file or folder")
    bases = {p.with_suffix("") for p in root.rglob("*.hea")}
    for pattern in ("*.mat", "*.npz", "*.npy"):
        bases |= {p.with_suffix("") for p in root.rglob(pattern) if p.with_suffix("") not in bases}
    return sorted(bases)


class WFDBFolder:
    """Lazy, indexable sequence of `Record`s from a folder, with a ``metadata`` DataFrame."""

    def __init__(self, root: str | Path, labels_csv: str | Path | None = None,
                 record_col: str = "record_id", patient_col: str | None = None,
                 label_cols: Sequence[str] | None = None, split_col: str | None = None,
                 split_fractions: dict[str, float] | None = None, split_seed: int = 0,
                 source: str | None = None):
        self.root = Path(root)
        self.source = source or self.root.name
        if not self.root.is_dir():
            raise UnreadableRecordError(self.root, "no such folder")
        paths = record_paths(self.root)
        if not paths:
            raise UnreadableRecordError(self.root, "no records found (looked for "
                                                   f"{', '.join(KNOWN_EXTENSIONS)}, recursively)")
        table = pd.DataFrame({"record_id": [p.name for p in paths],
                              "path": [str(p) for p in paths]})
        if labels_csv is not None:
            labels = _labels_table(Path(labels_csv), record_col,
                                   [c for c in (patient_col, split_col, *(label_cols or ()))
                                    if c is not None])
            dup = table["record_id"][table["record_id"].duplicated()].tolist()
            if dup:
                raise UnreadableRecordError(self.root, f"record name(s) {sorted(set(dup))[:5]} "
                                                       f"occur in several sub-folders, so "
                                                       f"{Path(labels_csv).name} cannot be joined "
                                                       "on them")
            table = table.merge(labels, on="record_id", how="left")
        else:
            missing = [c for c in (patient_col, split_col, *(label_cols or ())) if c is not None]
            if missing:
                raise ValueError(f"columns {missing} need a labels_csv")
        self.label_cols = list(label_cols or [])
        self.patient_col = patient_col
        patient_ids = ([_clean_id(v) for v in table[patient_col]] if patient_col
                       else [None] * len(table))
        table["patient_id"] = pd.Series(patient_ids, dtype=object)
        if split_col is not None:
            table["split"] = [None if pd.isna(v) else str(v) for v in table[split_col]]
            assert_patient_disjoint(list(table["split"]), patient_ids)
        else:
            table["split"] = patient_split(patient_ids, split_fractions, seed=split_seed,
                                           record_ids=list(table["path"]))
        self.metadata = table

    def __len__(self) -> int:
        return len(self.metadata)

    def __getitem__(self, i: int) -> Record:
        row = self.metadata.iloc[i]
        record = load_record(row["path"])
        record.patient_id = row["patient_id"]
        record.source = self.source
        record.meta["split"] = row["split"]
        record.labels = header_labels(record.meta)
        for column in self.label_cols:
            record.labels[column] = _label_value(row[column])
        return record

    def __iter__(self) -> Iterator[Record]:
        for i in range(len(self)):
            yield self[i]


def _labels_table(path: Path, record_col: str, needed: list[str]) -> pd.DataFrame:
    """The labels CSV with `record_col` renamed to record_id; every named column must exist and
    each record appear once."""
    try:
        labels = pd.read_csv(path, dtype={record_col: str})
    except FileNotFoundError:
        raise UnreadableRecordError(path, "labels table not found") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnreadableRecordError(path, f"unreadable labels table ({exc})") from exc
    missing = [c for c in [record_col, *needed] if c not in labels.columns]
    if missing:
        raise UnreadableRecordError(path, f"no column(s) {missing}; columns: "
                                          f"{list(labels.columns)}")
    repeated = labels[record_col][labels[record_col].duplicated()].tolist()
    if repeated:
        raise UnreadableRecordError(path, f"record(s) {sorted(set(repeated))[:5]} appear in "
                                          "several rows")
    return labels.rename(columns={record_col: "record_id"})


def header_labels(meta: dict[str, Any]) -> dict[str, Any]:
    """CinC-2021 header labels: ``dx`` (SNOMED codes), ``sex`` (1 female / 0 male), ``age``."""
    labels: dict[str, Any] = {"dx": list(meta.get("dx") or [])}
    if meta.get("sex") in ("M", "F"):
        labels["sex"] = int(meta["sex"] == "F")
    if meta.get("age") is not None:
        labels["age"] = float(meta["age"])
    return labels


def _clean_id(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value) == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _label_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,;]", value) if part.strip()]
    return value.item() if hasattr(value, "item") else value
