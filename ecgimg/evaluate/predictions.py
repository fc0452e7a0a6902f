"""Saved predictions of an evaluated model, so any two runs can be compared later without retraining.

On disk: `<name>.csv` with columns record_id, patient_id, `true_<class>`..., `score_<class>`...
and a JSON sidecar `<name>.json` (model, modality, pretraining, label fraction, split, class names,
config hash, anything else in `meta`). Paired statistics need both models on the same records, so
`align_predictions` matches files on record_id and refuses files that do not cover the same
records, classes or true labels.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .metrics import as_label_matrix

TRUE_PREFIX, SCORE_PREFIX = "true_", "score_"
SIDECAR_KEYS = ("model", "modality", "pretraining", "label_fraction", "split", "config_hash")


class PredictionFileError(ValueError):
    """A predictions file is unreadable or inconsistent (names the file and the problem)."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


@dataclass
class Predictions:
    """Scores of one model on one split: y_true and y_score are (N, K) aligned with record_ids."""

    record_ids: np.ndarray
    patient_ids: np.ndarray
    class_names: list[str]
    y_true: np.ndarray
    y_score: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.record_ids = np.asarray(self.record_ids).astype(str)
        self.patient_ids = np.asarray(self.patient_ids).astype(str)
        self.y_true, self.y_score, self.class_names = as_label_matrix(
            self.y_true, self.y_score, self.class_names)
        n = len(self.y_true)
        if self.record_ids.shape != (n,) or self.patient_ids.shape != (n,):
            raise PredictionFileError(None, f"{len(self.record_ids)} record ids and "
                                      f"{len(self.patient_ids)} patient ids for {n} rows")
        if len(np.unique(self.record_ids)) != n:
            raise PredictionFileError(None, "record_id values are not unique")

    def __len__(self) -> int:
        return len(self.y_true)

    def subset(self, index) -> "Predictions":
        return Predictions(self.record_ids[index], self.patient_ids[index], self.class_names,
                           self.y_true[index], self.y_score[index], dict(self.meta))


def config_hash(config: dict) -> str:
    """Short stable hash of a resolved config (canonical JSON, sorted keys)."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def sidecar_path(csv_path: str | Path) -> Path:
    return Path(csv_path).with_suffix(".json")


def save_predictions(path: str | Path, preds: Predictions) -> Path:
    """Write the CSV and its JSON sidecar; returns the CSV path."""
    path = Path(path)
    if path.suffix != ".csv":
        raise PredictionFileError(path, "predictions file must end in .csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"record_id": preds.record_ids, "patient_id": preds.patient_ids})
    for k, name in enumerate(preds.class_names):
        table[TRUE_PREFIX + name] = preds.y_true[:, k]
    for k, name in enumerate(preds.class_names):
        table[SCORE_PREFIX + name] = preds.y_score[:, k]
    table.to_csv(path, index=False)  # full repr precision: scores round-trip exactly
    sidecar = {key: preds.meta.get(key) for key in SIDECAR_KEYS}
    sidecar.update({k: v for k, v in preds.meta.items() if k not in sidecar})
    sidecar["class_names"] = list(preds.class_names)
    sidecar["n_records"] = len(preds)
    sidecar_path(path).write_text(json.dumps(sidecar, indent=2, default=str) + "\n")
    return path


def load_predictions(path: str | Path) -> Predictions:
    """Read a predictions CSV + sidecar written by `save_predictions`."""
    path = Path(path)
    side = sidecar_path(path)
    if not path.is_file():
        raise PredictionFileError(path, "predictions file not found")
    if not side.is_file():
        raise PredictionFileError(path, f"JSON sidecar {side.name} not found")
    try:
        meta = json.loads(side.read_text())
        table = pd.read_csv(path, dtype={"record_id": str, "patient_id": str})
    except (ValueError, OSError) as err:
        raise PredictionFileError(path, f"cannot parse: {err}") from err
    names = meta.pop("class_names", None)
    meta.pop("n_records", None)
    if not names:
        raise PredictionFileError(side, "sidecar has no class_names")
    needed = ["record_id", "patient_id"] + [TRUE_PREFIX + n for n in names] + \
             [SCORE_PREFIX + n for n in names]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise PredictionFileError(path, f"missing columns {missing}")
    try:
        return Predictions(table["record_id"].to_numpy(), table["patient_id"].to_numpy(), names,
                           table[[TRUE_PREFIX + n for n in names]].to_numpy(),
                           table[[SCORE_PREFIX + n for n in names]].to_numpy(dtype=float), meta)
    except ValueError as err:
        raise PredictionFileError(path, str(err)) from err


def align_predictions(a: Predictions, b: Predictions,
                      class_names: Sequence[str] | None = None) -> tuple[Predictions, Predictions]:
    """Reorder `b` to `a`'s record order (optionally restricted to `class_names`) for paired tests.

    Raises PredictionFileError when the record sets, the classes or the true labels differ.
    """
    names = list(class_names) if class_names is not None else list(a.class_names)
    for p, tag in ((a, "first"), (b, "second")):
        absent = [n for n in names if n not in p.class_names]
        if absent:
            raise PredictionFileError(p.meta.get("path"), f"{tag} predictions lack classes {absent}")
    if class_names is None and set(a.class_names) != set(b.class_names):
        raise PredictionFileError(None, f"class names differ: {a.class_names} vs {b.class_names}")
    only_a = np.setdiff1d(a.record_ids, b.record_ids)
    only_b = np.setdiff1d(b.record_ids, a.record_ids)
    if only_a.size or only_b.size:
        raise PredictionFileError(None, f"predictions cover different records: {only_a.size} only "
                                  f"in the first (e.g. {list(only_a[:3])}), {only_b.size} only in "
                                  f"the second (e.g. {list(only_b[:3])})")
    pos_b = {rid: i for i, rid in enumerate(b.record_ids)}
    order = np.array([pos_b[r] for r in a.record_ids], dtype=int)

    def pick(p: Predictions, rows) -> Predictions:
        cols = [p.class_names.index(n) for n in names]
        return Predictions(p.record_ids[rows], p.patient_ids[rows], names,
                           p.y_true[rows][:, cols], p.y_score[rows][:, cols], dict(p.meta))

    a2, b2 = pick(a, np.arange(len(a))), pick(b, order)
    if not np.array_equal(a2.y_true, b2.y_true):
        bad = np.flatnonzero((a2.y_true != b2.y_true).any(axis=1))
        raise PredictionFileError(None, f"true labels disagree on {bad.size} records "
                                  f"(e.g. {list(a2.record_ids[bad[:3]])})")
    if not np.array_equal(a2.patient_ids, b2.patient_ids):
        raise PredictionFileError(None, "patient ids disagree for the same record ids")
    return a2, b2
