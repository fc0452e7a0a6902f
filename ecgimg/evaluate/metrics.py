"""Discrimination metrics for multi-label ECG classifiers (AUROC, AUPRC, thresholded metrics).

Ranking metrics come from scikit-learn. A label with a single class in the evaluated set has no
defined AUROC: it is reported as NaN, excluded from the macro average, and named in `warnings`
(small test sets and low label fractions hit this often; a crash would lose the whole run).
Thresholds are chosen on validation predictions and applied unchanged to test predictions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

THRESHOLD_RULES = ("specificity", "sensitivity", "f1")


@dataclass
class LabelMetrics:
    """Per-label table (label, n, n_pos, auroc, auprc) plus macro averages over valid labels."""

    per_label: pd.DataFrame
    macro_auroc: float
    macro_auprc: float
    warnings: list[str] = field(default_factory=list)

    @property
    def valid_labels(self) -> list[str]:
        return self.per_label.loc[self.per_label["auroc"].notna(), "label"].tolist()


def as_label_matrix(y_true, y_score, class_names: Sequence[str] | None = None):
    """Validate and return (y (N,K) int, scores (N,K) float, class names)."""
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    s = s[:, None] if s.ndim == 1 else s
    if y.shape != s.shape or y.ndim != 2:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must have the same (N, K) shape")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf")
    names = list(class_names) if class_names is not None else [f"label_{k}" for k in range(y.shape[1])]
    if len(names) != y.shape[1]:
        raise ValueError(f"{len(names)} class names for {y.shape[1]} label columns")
    return y.astype(int), s, names


def label_metrics(y_true, y_score, class_names: Sequence[str] | None = None) -> LabelMetrics:
    """Per-label and macro AUROC/AUPRC; single-class labels are NaN and left out of the macro."""
    y, s, names = as_label_matrix(y_true, y_score, class_names)
    rows, warnings = [], []
    for k, name in enumerate(names):
        n_pos = int(y[:, k].sum())
        if 0 < n_pos < len(y):
            auroc = float(roc_auc_score(y[:, k], s[:, k]))
            auprc = float(average_precision_score(y[:, k], s[:, k]))
        else:
            auroc = auprc = float("nan")
            warnings.append(f"label {name!r} has a single class ({n_pos} positives of {len(y)}): "
                            "AUROC/AUPRC undefined, excluded from the macro average")
        rows.append({"label": name, "n": len(y), "n_pos": n_pos, "auroc": auroc, "auprc": auprc})
    table = pd.DataFrame(rows)
    valid = table["auroc"].notna()
    macro_auroc = float(table.loc[valid, "auroc"].mean()) if valid.any() else float("nan")
    macro_auprc = float(table.loc[valid, "auprc"].mean()) if valid.any() else float("nan")
    return LabelMetrics(table, macro_auroc, macro_auprc, warnings)


def choose_threshold(y_true, y_score, rule: str = "specificity", target: float = 0.9) -> float:
    """Score threshold (predict positive when score >= threshold) for one label.

    rule="specificity": the lowest threshold whose specificity >= target (max sensitivity there);
    rule="sensitivity": the highest threshold whose sensitivity >= target (max specificity);
    rule="f1": the threshold that maximises F1. Choose it on validation data, not on test.
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(y_score, dtype=np.float64)
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; use one of {THRESHOLD_RULES}")
    if y.min() == y.max():
        raise ValueError("cannot choose a threshold on a single-class label")
    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    thresholds = np.minimum(thresholds, np.nextafter(np.inf, 0))  # first threshold is +inf
    if rule == "specificity":
        ok = np.flatnonzero(1 - fpr >= target - 1e-12)
        return float(thresholds[ok[-1]])  # fpr grows along the curve: last ok = lowest threshold
    if rule == "sensitivity":
        ok = np.flatnonzero(tpr >= target - 1e-12)
        return float(thresholds[ok[0]])
    n_pos = y.sum()
    tp = tpr * n_pos
    fp = fpr * (len(y) - n_pos)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * tp / (2 * tp + fp + (n_pos - tp)))
    return float(thresholds[int(np.argmax(f1))])


def thresholded_metrics(y_true, y_score, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity, PPV and F1 when predicting positive at score >= threshold."""
    y = np.asarray(y_true).astype(bool)
    pred = np.asarray(y_score, dtype=np.float64) >= threshold
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    tn = int(np.sum(~pred & ~y))

    def ratio(a: int, b: int) -> float:
        return a / b if b else float("nan")

    return {"threshold": float(threshold), "sensitivity": ratio(tp, tp + fn),
            "specificity": ratio(tn, tn + fp), "ppv": ratio(tp, tp + fp),
            "f1": ratio(2 * tp, 2 * tp + fp + fn), "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def thresholded_table(y_val, s_val, y_test, s_test, class_names: Sequence[str] | None = None,
                      rule: str = "specificity", target: float = 0.9) -> pd.DataFrame:
    """Per-label thresholded test metrics with each threshold chosen on validation by `rule`.

    Labels whose validation or test set has a single class get NaN metrics (no crash).
    """
    yv, sv, names = as_label_matrix(y_val, s_val, class_names)
    yt, st, _ = as_label_matrix(y_test, s_test, names)
    rows = []
    for k, name in enumerate(names):
        row = {"label": name, "rule": rule, "target": target}
        if yv[:, k].min() == yv[:, k].max():
            row.update(threshold=float("nan"), note="single class in validation")
        else:
            row.update(thresholded_metrics(yt[:, k], st[:, k],
                                           choose_threshold(yv[:, k], sv[:, k], rule, target)))
        rows.append(row)
    return pd.DataFrame(rows)
