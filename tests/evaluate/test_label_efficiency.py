"""Nested label fractions: nested, whole patients only, seeded, with both classes per label."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgimg.evaluate.label_efficiency import nested_label_fractions

FRACTIONS = (0.01, 0.1, 0.5, 1.0)


def _cohort(n_patients=300, seed=0):
    rng = np.random.default_rng(seed)
    per_patient = rng.integers(1, 5, n_patients)
    pid = np.repeat([f"P{i:04d}" for i in range(n_patients)], per_patient)
    labels = (rng.random((len(pid), 3)) < [0.02, 0.3, 0.6]).astype(int)
    return pid, labels


@settings(max_examples=25, deadline=None)
@given(n_patients=st.integers(5, 400), seed=st.integers(0, 1000))
def test_subsets_are_nested_patient_whole_and_sized(n_patients, seed):
    pid, labels = _cohort(n_patients, seed)
    subsets = nested_label_fractions(pid, FRACTIONS, seed=seed)
    prev = np.array([], dtype=int)
    for f in FRACTIONS:
        idx = subsets[f]
        assert set(prev) <= set(idx)  # nested
        chosen = set(pid[idx])
        assert set(np.flatnonzero(np.isin(pid, list(chosen)))) == set(idx)  # whole patients
        assert len(chosen) == max(int(np.ceil(f * n_patients - 1e-9)), 1)
        prev = idx
    assert len(subsets[1.0]) == len(pid)


def test_seeded():
    pid, _ = _cohort()
    a = nested_label_fractions(pid, FRACTIONS, seed=3)
    b = nested_label_fractions(pid, FRACTIONS, seed=3)
    c = nested_label_fractions(pid, FRACTIONS, seed=4)
    assert all(np.array_equal(a[f], b[f]) for f in FRACTIONS)
    assert not np.array_equal(a[0.1], c[0.1])


def test_every_subset_has_both_classes_per_label_when_asked():
    pid, labels = _cohort()
    plain = nested_label_fractions(pid, FRACTIONS, seed=0)
    # a rare label: positive only in one patient outside the plain 1% subset
    outside = np.setdiff1d(pid, pid[plain[0.01]])[0]
    labels[:, 0] = pid == outside
    assert labels[plain[0.01], 0].sum() == 0
    covered = nested_label_fractions(pid, FRACTIONS, seed=0, labels=labels)
    for f in FRACTIONS:
        y = labels[covered[f]]
        assert (y.max(axis=0) == 1).all() and (y.min(axis=0) == 0).all()
    prev = set()
    for f in FRACTIONS:
        assert prev <= set(covered[f])
        prev = set(covered[f])


def test_label_absent_everywhere_is_tolerated():
    pid, labels = _cohort(50)
    labels[:, 1] = 0
    subsets = nested_label_fractions(pid, FRACTIONS, seed=0, labels=labels)
    assert len(subsets[0.01]) > 0


def test_min_patients_and_bad_arguments():
    pid, _ = _cohort(100)
    subsets = nested_label_fractions(pid, (0.01, 1.0), seed=0, min_patients=5)
    assert len(set(pid[subsets[0.01]])) == 5
    with pytest.raises(ValueError, match="fractions"):
        nested_label_fractions(pid, (0.0, 1.0))
    with pytest.raises(ValueError, match="rows"):
        nested_label_fractions(pid, labels=np.zeros((3, 1)))


def _ptbxl_superclasses(root):
    """PTB-XL diagnostic superclasses per record (protocol of Wagner et al. 2020), test-local."""
    import ast

    import pandas as pd
    db = pd.read_csv(root / "ptbxl_database.csv")
    scp = pd.read_csv(root / "scp_statements.csv", index_col=0)
    classes = scp.loc[scp["diagnostic"] == 1, "diagnostic_class"]
    names = sorted(classes.unique())
    labels = np.zeros((len(db), len(names)), dtype=int)
    for i, codes in enumerate(db["scp_codes"]):
        for code in ast.literal_eval(codes):
            if code in classes.index:
                labels[i, names.index(classes[code])] = 1
    return db, labels


@pytest.mark.shared_data
def test_real_ptbxl_patients_and_labels(ptbxl_root):
    db, labels = _ptbxl_superclasses(ptbxl_root)
    train = np.flatnonzero(db["strat_fold"] <= 8)
    pid = db["patient_id"].to_numpy()[train]
    assert len(np.unique(pid)) < len(pid)  # the subset has patients with several records
    subsets = nested_label_fractions(pid, FRACTIONS, seed=0, labels=labels[train])
    prev = set()
    for f in FRACTIONS:
        idx = subsets[f]
        assert prev <= set(idx)
        prev = set(idx)
        chosen = np.isin(pid, pid[idx])
        assert set(np.flatnonzero(chosen)) == set(idx)  # no patient split across the boundary
        y = labels[train][idx]
        assert (y.max(axis=0) == 1).all() and (y.min(axis=0) == 0).all()
