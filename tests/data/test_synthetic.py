"""Synthetic cohort: exact limb-lead laws, determinism, patient signature, learnable labels."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ecgimg.data import (STANDARD_LEADS, SignalCache, assert_patient_disjoint, synthetic_cohort,
                         synthetic_cohort_cache)
from ecgimg.data.features import simple_features


@pytest.fixture(scope="module")
def cohort():
    return synthetic_cohort(120, 3, seed=11)


@pytest.fixture(scope="module")
def arrays(cohort):
    signals = np.stack([r.signal for r in cohort])
    patients = np.array([r.patient_id for r in cohort])
    return signals, patients, simple_features(signals, fs=500.0)


def test_shapes_ids_and_labels(cohort):
    assert len(cohort) == 360
    assert len({r.record_id for r in cohort}) == 360
    assert cohort[4].patient_id == "syn00001" and cohort[4].leads == STANDARD_LEADS
    for r in cohort:
        assert r.signal.shape == (12, 5000) and r.signal.dtype == np.float32 and r.fs == 500
        assert set(r.labels) == {"lvsd", "sex", "af"}
        assert np.isfinite(r.signal).all() and np.abs(r.signal).max() < 6.0
    dates = [r.recorded_at for r in cohort if r.patient_id == "syn00002"]
    assert dates == sorted(dates) and len(set(dates)) == 3
    prevalence = {t: np.mean([r.labels[t] for r in cohort]) for t in ("lvsd", "sex", "af")}
    assert 0.12 < prevalence["lvsd"] < 0.4 and 0.3 < prevalence["sex"] < 0.7
    assert 0.04 < prevalence["af"] < 0.35, prevalence


def test_einthoven_and_goldberger_hold(arrays):
    s = arrays[0].astype(np.float64)
    lead_i, lead_ii = s[:, 0], s[:, 1]
    assert np.abs(lead_ii - lead_i - s[:, 2]).max() < 1e-5
    assert np.abs(s[:, 3] + (lead_i + lead_ii) / 2).max() < 1e-5
    assert np.abs(s[:, 4] - (lead_i - lead_ii / 2)).max() < 1e-5
    assert np.abs(s[:, 5] - (lead_ii - lead_i / 2)).max() < 1e-5


def test_deterministic_and_patient_independent_of_cohort_size(cohort):
    again = synthetic_cohort(4, 3, seed=11)
    small = synthetic_cohort(2, 2, seed=11)
    for a, b in zip(again, cohort[:12]):
        np.testing.assert_array_equal(a.signal, b.signal)
        assert a.labels == b.labels and a.recorded_at == b.recorded_at
    np.testing.assert_array_equal(small[2].signal, cohort[3].signal)  # patient 1, first ECG
    other = synthetic_cohort(1, 1, seed=12)
    assert not np.allclose(other[0].signal, cohort[0].signal)


def test_af_varies_within_some_patient_and_has_irregular_rr():
    records = synthetic_cohort(40, 4, seed=5)
    by_patient = {}
    for r in records:
        by_patient.setdefault(r.patient_id, set()).add(r.labels["af"])
    assert any(len(v) == 2 for v in by_patient.values())
    irregular = [r.meta["synthetic"]["rr_irregularity"] for r in records if r.labels["af"]]
    regular = [r.meta["synthetic"]["rr_irregularity"] for r in records if not r.labels["af"]]
    assert np.median(irregular) > 2 * np.median(regular)


def test_same_patient_ecgs_are_nearest_neighbours(arrays):
    _, patients, features = arrays
    z = StandardScaler().fit_transform(features[:, :-3])  # amplitude features only
    dist = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    accuracy = np.mean(patients[dist.argmin(axis=1)] == patients)
    chance = 2 / (len(patients) - 1)
    print(f"NN identification {accuracy:.3f} (chance {chance:.4f})")
    assert accuracy > 20 * chance, accuracy


@pytest.mark.parametrize("task", ["lvsd", "sex", "af"])
def test_labels_learnable_but_not_trivial(cohort, arrays, task):
    _, patients, features = arrays
    y = np.array([r.labels[task] for r in cohort])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    scores = cross_val_predict(model, features, y, groups=patients, cv=GroupKFold(3),
                               method="predict_proba")[:, 1]
    auroc = roc_auc_score(y, scores)
    print(f"{task} AUROC {auroc:.3f}")
    assert 0.62 < auroc < 0.99, (task, auroc)


def test_cohort_cache_has_patient_level_split(tmp_path):
    cache = synthetic_cohort_cache(tmp_path / "syn", n_patients=30, ecgs_per_patient=2, seed=3)
    reopened = SignalCache.open(tmp_path / "syn")
    assert reopened.signals.shape == (60, 12, 5000)
    assert set(reopened.index["split"]) <= {"train", "val", "test"}
    assert len(reopened.split_indices("train")) > 30
    assert_patient_disjoint(list(cache.index["split"]), list(cache.index["patient_id"]))
    names, matrix = reopened.targets("lvsd")
    assert names == ["lvsd"] and matrix.shape == (60, 1) and set(np.unique(matrix)) <= {0.0, 1.0}
