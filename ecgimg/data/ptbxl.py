"""PTB-XL in its official layout, with the label sets and split of the PTB-XL benchmark.

Label sets follow the protocol of Strodthoff et al. (2020), "Deep Learning for ECG Analysis:
Benchmarks and Insights from PTB-XL": ``scp_codes`` is parsed with `ast.literal_eval` and every
statement key counts regardless of its likelihood value, then aggregated through
``scp_statements.csv``:

* ``diagnostic``: codes with diagnostic == 1;   ``subdiagnostic``: their diagnostic_subclass;
* ``superdiagnostic``: their diagnostic_class;   ``form``: codes with form == 1;
* ``rhythm``: codes with rhythm == 1;            ``all``: every statement.

Plus ``sex`` (0 male, 1 female, as PTB-XL codes it) and ``age`` (years; PTB-XL writes 300 for
ages above 89, mapped here to 90). Standard split: strat_fold 1-8 train, 9 val, 10 test (folds
respect patients; checked with `assert_patient_disjoint`). The benchmark drops records with no
statement for a task; `SignalCache.labelled_indices` applies that rule.
"""
from __future__ import annotations

import ast
import math
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from ecgimg.data.errors import UnreadableRecordError
from ecgimg.data.readers import load_record
from ecgimg.data.record import Record
from ecgimg.data.splits import assert_patient_disjoint

PTBXL_TASKS = ("diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm", "all")
STANDARD_FOLDS = {"train": tuple(range(1, 9)), "val": (9,), "test": (10,)}
PTBXL_AGE_CAP_CODE, PTBXL_AGE_CAP_YEARS = 300, 90
DATABASE_COLUMNS = ("ecg_id", "patient_id", "age", "sex", "scp_codes", "strat_fold",
                    "recording_date")
STATEMENT_COLUMNS = ("diagnostic", "diagnostic_subclass", "diagnostic_class", "form", "rhythm")


class PTBXL:
    """Lazy, indexable sequence of PTB-XL `Record`s with a ``metadata`` DataFrame.

    Rows of ``ptbxl_database.csv`` whose signal file is absent are skipped. Files without a
    metadata row (the subset's records100 has 1,102) are added as unlabelled records (no patient,
    labels, or split) only when ``include_unlabelled=True``.
    """

    def __init__(self, root: str | Path, sampling_rate: int = 500,
                 include_unlabelled: bool = False,
                 folds: dict[str, tuple[int, ...]] | None = None):
        if sampling_rate not in (100, 500):
            raise ValueError(f"PTB-XL sampling_rate must be 100 or 500, got {sampling_rate}")
        self.root = Path(root)
        self.sampling_rate = sampling_rate
        if not self.root.is_dir():
            raise UnreadableRecordError(self.root, "no such folder (expected the PTB-XL root, "
                                                   "holding ptbxl_database.csv)")
        database = self.root / "ptbxl_database.csv"
        statements = self.root / "scp_statements.csv"
        for needed in (database, statements):
            if not needed.is_file():
                raise UnreadableRecordError(needed, "PTB-XL metadata file missing")
        file_column = "filename_hr" if sampling_rate == 500 else "filename_lr"
        self.statements = _read_table(statements, STATEMENT_COLUMNS, index_col=0)
        table = _read_table(database, DATABASE_COLUMNS + (file_column,))
        table["scp_codes"] = [_scp_codes(database, ecg_id, text)
                              for ecg_id, text in zip(table["ecg_id"], table["scp_codes"])]
        table["path"] = [str(self.root / name) for name in table[file_column]]
        table = table[[Path(f"{p}.hea").is_file() for p in table["path"]]]
        if table.empty:
            raise UnreadableRecordError(self.root, f"none of the records in {database.name} has "
                                                   f"its {file_column} file (records"
                                                   f"{sampling_rate}/...) under this root")
        table = table.assign(split=_fold_split(table["strat_fold"], folds or STANDARD_FOLDS),
                             labelled=True)
        if include_unlabelled:
            table = pd.concat([table, self._unlabelled_rows(set(table["ecg_id"]))],
                              ignore_index=True)
        self.metadata = table.reset_index(drop=True)
        self._patient_ids = [_patient_id(v) for v in self.metadata["patient_id"]]
        assert_patient_disjoint(list(self.metadata["split"]), self._patient_ids)
        self.label_sets = {task: sorted({c for codes in self.metadata["scp_codes"]
                                         if isinstance(codes, dict)
                                         for c in self.aggregate(codes, task)})
                           for task in PTBXL_TASKS}

    def _unlabelled_rows(self, known_ids: set[int]) -> pd.DataFrame:
        folder = self.root / f"records{self.sampling_rate}"
        rows = []
        for hea in sorted(folder.rglob("*.hea")):
            ecg_id = int(hea.stem.split("_")[0])
            if ecg_id not in known_ids:
                rows.append({"ecg_id": ecg_id, "path": str(hea.with_suffix("")),
                             "split": None, "labelled": False, "scp_codes": None})
        return pd.DataFrame(rows)

    def aggregate(self, scp_codes: dict[str, float], task: str) -> list[str]:
        """Classes of one record for one benchmark task (likelihood values are ignored)."""
        table = self.statements
        codes = [c for c in scp_codes if c in table.index]
        if task == "all":
            return sorted(set(scp_codes))
        if task in ("diagnostic", "subdiagnostic", "superdiagnostic"):
            column = {"diagnostic": None, "subdiagnostic": "diagnostic_subclass",
                      "superdiagnostic": "diagnostic_class"}[task]
            diagnostic = [c for c in codes if table.at[c, "diagnostic"] == 1.0]
            if column is None:
                return sorted(set(diagnostic))
            return sorted({str(table.at[c, column]) for c in diagnostic
                           if isinstance(table.at[c, column], str)})
        if task in ("form", "rhythm"):
            return sorted({c for c in codes if table.at[c, task] == 1.0})
        raise KeyError(f"unknown PTB-XL task {task!r}; choose from {PTBXL_TASKS}")

    def __len__(self) -> int:
        return len(self.metadata)

    def __getitem__(self, i: int) -> Record:
        row = self.metadata.iloc[i]
        record = load_record(row["path"])
        record.record_id = f"ptbxl{int(row['ecg_id']):05d}"
        record.patient_id = self._patient_ids[i]
        record.source = "ptbxl"
        record.meta["split"] = row["split"]
        if row["labelled"]:
            record.recorded_at = _recording_date(row["recording_date"])
            record.labels = self._labels(row)
            record.meta.update(strat_fold=int(row["strat_fold"]), scp_codes=row["scp_codes"],
                               age=record.labels["age"],
                               sex=None if record.labels["sex"] is None
                               else ("F" if record.labels["sex"] else "M"))
        return record

    def __iter__(self) -> Iterator[Record]:
        for i in range(len(self)):
            yield self[i]

    def _labels(self, row: pd.Series) -> dict[str, Any]:
        labels: dict[str, Any] = {task: self.aggregate(row["scp_codes"], task)
                                  for task in PTBXL_TASKS}
        labels["sex"] = None if pd.isna(row["sex"]) else int(row["sex"])
        age = row["age"]
        labels["age"] = (None if pd.isna(age) else
                         float(PTBXL_AGE_CAP_YEARS if age == PTBXL_AGE_CAP_CODE else age))
        return labels


def _read_table(path: Path, columns: tuple[str, ...], **kwargs) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, **kwargs)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnreadableRecordError(path, f"unreadable PTB-XL table ({exc})") from exc
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UnreadableRecordError(path, f"missing PTB-XL column(s) {', '.join(missing)}")
    return table


def _scp_codes(database: Path, ecg_id: Any, text: Any) -> dict[str, float]:
    """One row's scp_codes dict ({"NORM": 100.0, ...}), or an error naming the row."""
    try:
        codes = ast.literal_eval(str(text))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        codes = None
    if not isinstance(codes, dict):
        raise UnreadableRecordError(database, f"ecg_id {ecg_id}: scp_codes {str(text)[:60]!r} is "
                                              "not a dict of statement codes")
    return codes


def _recording_date(value: Any) -> datetime | None:
    """The recording time, or None when the cell is empty or not a date (metadata, not signal:
    the record stays usable)."""
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _patient_id(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(int(value))


def _fold_split(folds: pd.Series, split_folds: dict[str, tuple[int, ...]]) -> list[str | None]:
    lookup = {fold: name for name, fold_ids in split_folds.items() for fold in fold_ids}
    return [lookup.get(int(f)) if not pd.isna(f) else None for f in folds]


__all__ = ["PTBXL", "PTBXL_TASKS", "STANDARD_FOLDS"]
