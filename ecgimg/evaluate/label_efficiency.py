"""Nested label-fraction subsets for label-efficiency curves, sampled by patient.

One seeded permutation of the patients is drawn and each fraction f keeps its first
ceil(f * n_patients) patients (never fewer than `min_patients`), so the subsets are nested
(1% ⊂ 10% ⊂ 50% ⊂ 100%) and never split a patient. When `labels` are given, a small set of
"cover" patients is moved to the front of the permutation first: for each label and class
(positive, negative), the earliest patient in the permutation holding a record of that class.
Every subset therefore contains at least one positive and one negative per label wherever the
whole set does; if the cover set is larger than a subset's quota, that subset grows to the cover
set (its real fraction is then above f; compare `len(subset)` with the target).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def nested_label_fractions(patient_ids, fractions: Sequence[float] = (0.01, 0.1, 0.5, 1.0),
                           seed: int = 0, labels=None, min_patients: int = 1
                           ) -> dict[float, np.ndarray]:
    """Map each fraction to sorted record indices of a patient-level, nested, seeded subset.

    patient_ids: (N,) one id per record; labels: optional (N,) or (N, K) 0/1 array.
    """
    pid = np.asarray(patient_ids)
    if pid.ndim != 1 or pid.size == 0:
        raise ValueError(f"patient_ids must be a non-empty 1-D array, got shape {pid.shape}")
    fr = [float(f) for f in fractions]
    if any(not (0 < f <= 1) for f in fr):
        raise ValueError(f"fractions must lie in (0, 1], got {fr}")
    if min_patients < 1:
        raise ValueError("min_patients must be >= 1")
    unique_ids, patient_of_record = np.unique(pid, return_inverse=True)
    n_patients = len(unique_ids)
    order = np.random.default_rng(seed).permutation(n_patients)
    n_cover = 0
    if labels is not None:
        order, n_cover = _cover_first(order, patient_of_record, np.asarray(labels), n_patients)
    rank_of_patient = np.empty(n_patients, dtype=int)
    rank_of_patient[order] = np.arange(n_patients)
    record_rank = rank_of_patient[patient_of_record]
    subsets = {}
    for f in fr:
        quota = max(math.ceil(f * n_patients - 1e-9), min_patients, n_cover)
        subsets[f] = np.flatnonzero(record_rank < min(quota, n_patients))
    return subsets


def _cover_first(order: np.ndarray, patient_of_record: np.ndarray, labels: np.ndarray,
                 n_patients: int) -> tuple[np.ndarray, int]:
    """Move the label cover patients to the front of `order`; return (order, cover size)."""
    y = labels[:, None] if labels.ndim == 1 else labels
    if y.shape[0] != patient_of_record.shape[0]:
        raise ValueError(f"labels have {y.shape[0]} rows for {patient_of_record.shape[0]} records")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1")
    # has[p, k, c]: patient p holds a record of class c for label k
    has = np.zeros((n_patients, y.shape[1], 2), dtype=bool)
    for c in (0, 1):
        np.logical_or.at(has[:, :, c], patient_of_record, y == c)
    cover: list[int] = []
    covered = np.zeros((y.shape[1], 2), dtype=bool)
    for k in range(y.shape[1]):
        for c in (0, 1):
            if covered[k, c]:
                continue
            holders = order[has[order, k, c]]
            if holders.size:  # else: no record of that class anywhere; nothing to ensure
                cover.append(int(holders[0]))
                covered |= has[holders[0]]
    rest = order[~np.isin(order, cover)]
    return np.concatenate([np.array(cover, dtype=int), rest]), len(cover)
