"""Patient-level splits: seeded, stable across processes and machines, and leak-checked.

Patients are ranked by a cryptographic hash of (seed, patient id) — never Python's salted `hash`
— so a split is identical in every process and does not depend on the order of records.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Mapping, Sequence

import numpy as np

from ecgimg.data.errors import PatientLeakError

DEFAULT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def stable_unit_hash(key: str, seed: int = 0) -> float:
    """Map (seed, key) to a float in [0, 1), identical in every process and on every machine."""
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def patient_keys(patient_ids: Sequence[str | None],
                 record_ids: Sequence[str] | None = None) -> list[str]:
    """Grouping key per record: the patient id, or the record itself when the patient is unknown."""
    keys = []
    for i, pid in enumerate(patient_ids):
        if pid is None or (isinstance(pid, float) and np.isnan(pid)) or str(pid) == "":
            keys.append(f"\x00record:{record_ids[i] if record_ids is not None else i}")
        else:
            keys.append(str(pid))
    return keys


def patient_split(patient_ids: Sequence[str | None],
                  fractions: Mapping[str, float] | None = None, seed: int = 0,
                  record_ids: Sequence[str] | None = None, exact: bool = True) -> np.ndarray:
    """Split label per record such that all records of one patient share a split.

    `fractions` maps split name -> share of patients (normalised to sum 1); a record with no
    patient id is its own patient. Patients are ordered by their stable hash; with
    ``exact=True`` (default) the first round(share * n_patients) go to the first split and so on
    (largest remainder), so even a 20-patient cohort gets every split it asks for. With
    ``exact=False`` each patient falls in the hash bucket of its share, which keeps a patient's
    split fixed when the cohort grows, at the cost of shares met only on average.
    """
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    if not fractions or not all(isinstance(share, (int, float)) and np.isfinite(share)
                                and share >= 0 for share in fractions.values()):
        raise ValueError(f"fractions must be non-negative finite shares, got {fractions}")
    total = float(sum(fractions.values()))
    if total <= 0:
        raise ValueError(f"fractions must not all be zero, got {fractions}")
    names = list(fractions)
    shares = np.array([fractions[name] / total for name in names])
    keys = patient_keys(patient_ids, record_ids)
    unique = sorted(set(keys), key=lambda key: (stable_unit_hash(key, seed), key))
    if exact:
        counts = _largest_remainder(shares, len(unique))
        order = np.repeat(np.arange(len(names)), counts)
        split_of = {key: names[order[rank]] for rank, key in enumerate(unique)}
    else:
        edges = np.cumsum(shares)
        edges[-1] = 1.0
        split_of = {key: names[int(np.searchsorted(edges, stable_unit_hash(key, seed),
                                                   side="right"))] for key in unique}
    labels = np.array([split_of[key] for key in keys], dtype=object)
    assert_patient_disjoint(labels, patient_ids)
    return labels


def _largest_remainder(shares: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to n, as close as possible to shares * n."""
    ideal = shares * n
    counts = np.floor(ideal).astype(int)
    leftover = n - counts.sum()
    counts[np.argsort(-(ideal - counts), kind="stable")[:leftover]] += 1
    return counts


def assert_patient_disjoint(split_labels: Sequence[str],
                            patient_ids: Sequence[str | None]) -> None:
    """Raise `PatientLeakError` naming the patients that appear in more than one split."""
    if len(split_labels) != len(patient_ids):
        raise ValueError(f"{len(split_labels)} split labels for {len(patient_ids)} patient ids")
    splits_of: dict[str, set[str]] = defaultdict(set)
    for split, key in zip(split_labels, patient_keys(patient_ids)):
        if split is not None and not key.startswith("\x00record:"):
            splits_of[key].add(str(split))
    leaks = {pid: sorted(s) for pid, s in splits_of.items() if len(s) > 1}
    if leaks:
        shown = "; ".join(f"{pid} in {'/'.join(s)}" for pid, s in sorted(leaks.items())[:10])
        more = f" (and {len(leaks) - 10} more)" if len(leaks) > 10 else ""
        raise PatientLeakError(f"{len(leaks)} patient(s) appear in more than one split: "
                               f"{shown}{more}")
