"""DeLong against pROC and a slow reference; patient bootstrap against scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import average_precision_score, roc_auc_score

from ecgimg.evaluate.stats import (clustered_delong_test, delong_components, delong_test,
                                   holm_adjust, macro_replicates, paired_bootstrap_p_value,
                                   patient_bootstrap, percentile_ci)

import _asah


def _slow_delong(y, scores):
    """Textbook DeLong (1988): structural components by explicit double loops over pairs."""
    y = np.asarray(y)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    aucs, v10s, v01s = [], [], []
    for s in scores:
        psi = np.zeros((len(pos), len(neg)))
        for a, i in enumerate(pos):
            for b, j in enumerate(neg):
                psi[a, b] = 1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0
        aucs.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    v10s, v01s = np.array(v10s), np.array(v01s)
    m, n = len(pos), len(neg)
    cov = np.zeros((len(scores), len(scores)))
    for r in range(len(scores)):
        for s in range(len(scores)):
            s10 = np.sum((v10s[r] - aucs[r]) * (v10s[s] - aucs[s])) / (m - 1)
            s01 = np.sum((v01s[r] - aucs[r]) * (v01s[s] - aucs[s])) / (n - 1)
            cov[r, s] = s10 / m + s01 / n
    return np.array(aucs), cov


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_delong_equals_slow_double_loop(seed):
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(17), np.zeros(23)].astype(int)
    a = y + rng.normal(size=40)
    b = np.round(0.5 * y + rng.normal(size=40), 1)  # rounded: many ties
    aucs, _, _, cov = delong_components(y, np.vstack([a, b]))
    ref_aucs, ref_cov = _slow_delong(y, [a, b])
    np.testing.assert_allclose(aucs, ref_aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-10, atol=1e-15)
    result = delong_test(y, a, b)
    z = (ref_aucs[0] - ref_aucs[1]) / np.sqrt(ref_cov[0, 0] + ref_cov[1, 1] - 2 * ref_cov[0, 1])
    assert result.z == pytest.approx(z, rel=1e-10)
    assert result.p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-10)


def test_delong_reproduces_proc_on_asah():
    y = np.array(_asah.OUTCOME_POOR)
    markers = {"wfns": _asah.WFNS, "ndka": _asah.NDKA, "s100b": _asah.S100B}
    aucs, _, _, cov = delong_components(y, np.vstack(list(markers.values())))
    for k, name in enumerate(markers):
        assert cov[k, k] == pytest.approx(_asah.PROC_VAR[name], rel=1e-10)
        assert aucs[k] == pytest.approx(roc_auc_score(y, markers[name]), abs=1e-12)
    for name, auc in _asah.PROC_AUC.items():
        assert aucs[list(markers).index(name)] == pytest.approx(auc, abs=5e-5)
    for (a, b), (z_ref, p_ref) in _asah.PROC_TEST.items():
        res = delong_test(y, markers[a], markers[b])
        assert res.z == pytest.approx(z_ref, rel=1e-9)
        assert res.p_value == pytest.approx(p_ref, rel=1e-9)
        swapped = delong_test(y, markers[b], markers[a])
        assert swapped.z == pytest.approx(-z_ref, rel=1e-9) and swapped.p_value == res.p_value


def test_delong_identical_scores_give_p_one():
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.9, 0.3, 0.8, 0.2, 0.5])
    res = delong_test(y, s, 2 * s + 1)  # same ranking
    assert res.z == 0 and res.p_value == 1.0 and res.auc_a == res.auc_b


@pytest.mark.parametrize("y,msg", [([1, 1, 1], "both classes"), ([0, 2, 1], "0/1")])
def test_delong_rejects_bad_labels(y, msg):
    with pytest.raises(ValueError, match=msg):
        delong_test(y, [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


def _cohort(n_patients, records_per_patient=3, n_labels=3, seed=0, signal=1.0):
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_patients), records_per_patient)
    patient_y = rng.random((n_patients, n_labels)) < 0.3
    y = patient_y[pid].astype(int)
    s = signal * y + rng.normal(size=y.shape)
    return y, s, pid


def test_bootstrap_point_estimate_equals_sklearn_with_ties():
    y, s, pid = _cohort(60)
    s = np.round(s, 0)  # heavy ties
    boot = patient_bootstrap(y, s, pid, n_boot=5, seed=0)
    for k in range(y.shape[1]):
        assert boot.auroc[0, k] == pytest.approx(roc_auc_score(y[:, k], s[:, k]), abs=1e-12)
        assert boot.auprc[0, k] == pytest.approx(average_precision_score(y[:, k], s[:, k]),
                                                 abs=1e-12)


def test_each_replicate_equals_sklearn_on_the_resampled_patients():
    y, s, pid = _cohort(40, records_per_patient=2)
    s = np.round(s, 1)
    boot = patient_bootstrap(y, s, pid, n_boot=4, seed=7)
    # rebuild the resamples: the same generator draws patient indices (patients sorted by id)
    draws = np.random.default_rng(7).integers(0, 40, size=(4, 40))
    for b in range(4):
        rows = np.concatenate([np.flatnonzero(pid == p) for p in draws[b]])
        for k in range(y.shape[1]):
            yy, ss = y[rows, k], s[rows, k]
            if 0 < yy.sum() < len(yy):
                assert boot.boot_auroc[0, b, k] == pytest.approx(roc_auc_score(yy, ss), abs=1e-12)
                assert boot.boot_auprc[0, b, k] == pytest.approx(
                    average_precision_score(yy, ss), abs=1e-12)


def test_bootstrap_resamples_whole_patients():
    """Copying every patient's records changes nothing when whole patients are resampled;
    treating each record as its own patient would (wrongly) narrow the interval."""
    y, s, pid = _cohort(80, records_per_patient=1)
    base = patient_bootstrap(y, s, pid, n_boot=300, seed=3)
    y3, s3, pid3 = np.repeat(y, 3, axis=0), np.repeat(s, 3, axis=0), np.repeat(pid, 3)
    copied = patient_bootstrap(y3, s3, pid3, n_boot=300, seed=3)
    np.testing.assert_allclose(copied.boot_auroc, base.boot_auroc, atol=1e-12)
    as_records = patient_bootstrap(y3, s3, np.arange(len(pid3)), n_boot=300, seed=3)
    width = lambda b: np.subtract(*percentile_ci(b.boot_auroc[0, :, 0])[::-1])  # noqa: E731
    assert width(as_records) < 0.8 * width(base)


def test_ci_covers_point_and_narrows_with_more_patients():
    widths = []
    for n_patients in (50, 800):
        y, s, pid = _cohort(n_patients, seed=n_patients)
        boot = patient_bootstrap(y, s, pid, n_boot=300, seed=0)
        include = np.ones(y.shape[1], bool)
        lo, hi = percentile_ci(macro_replicates(boot.boot_auroc[0], include))
        point = boot.auroc[0].mean()
        assert lo < point < hi
        widths.append(hi - lo)
    assert widths[1] < 0.5 * widths[0]


def test_bootstrap_is_seeded():
    y, s, pid = _cohort(30)
    a = patient_bootstrap(y, s, pid, n_boot=50, seed=1).boot_auroc
    b = patient_bootstrap(y, s, pid, n_boot=50, seed=1).boot_auroc
    c = patient_bootstrap(y, s, pid, n_boot=50, seed=2).boot_auroc
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c, equal_nan=True)


def test_single_class_resamples_are_nan_not_errors():
    y = np.zeros((20, 1), int)
    y[0] = 1  # one positive patient: many resamples miss it
    s = np.linspace(0, 1, 20)[:, None]
    boot = patient_bootstrap(y, s, np.arange(20), n_boot=100, seed=0)
    assert np.isnan(boot.boot_auroc).any() and np.isfinite(boot.boot_auroc).any()
    lo, hi = percentile_ci(boot.boot_auroc[0, :, 0])
    assert np.isfinite(lo) and np.isfinite(hi)


def test_paired_bootstrap_p_value():
    y, s, pid = _cohort(150, seed=4)
    rng = np.random.default_rng(9)
    weak = 0.3 * y + rng.normal(size=y.shape)
    boot = patient_bootstrap(y, np.stack([s, s, weak]), pid, n_boot=400, seed=0)
    inc = np.ones(y.shape[1], bool)
    macro = macro_replicates(boot.boot_auroc, inc)  # (3, B)
    assert paired_bootstrap_p_value(macro[0] - macro[1]) == 1.0  # identical models
    assert paired_bootstrap_p_value(macro[0] - macro[2]) < 0.01
    assert paired_bootstrap_p_value(np.array([np.nan])) != paired_bootstrap_p_value(
        np.array([np.nan]))  # all-NaN replicates: NaN p


def test_bootstrap_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="patient_ids"):
        patient_bootstrap([0, 1, 0], [0.1, 0.2, 0.3], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        patient_bootstrap([0, 1, 0], [0.1, np.nan, 0.3], [1, 2, 3])


# ----------------------------------------------------------------------------- clustered DeLong
def test_clustered_delong_equals_delong_with_one_record_per_patient():
    y = np.array(_asah.OUTCOME_POOR)
    for a, b in (("wfns", "ndka"), ("ndka", "s100b")):
        sa, sb = getattr(_asah, a.upper()), getattr(_asah, b.upper())
        plain = delong_test(y, sa, sb)
        clustered = clustered_delong_test(y, sa, sb, np.arange(len(y)))
        assert clustered.z == pytest.approx(plain.z, rel=1e-10)
        assert clustered.p_value == pytest.approx(plain.p_value, rel=1e-10)
        assert clustered.var_a == pytest.approx(plain.var_a, rel=1e-10)
        assert clustered.cov_ab == pytest.approx(plain.cov_ab, rel=1e-9, abs=1e-15)


def _clustered_null(rng, n_patients=60, per_patient=3, patient_sd=1.5):
    """Two equally good scorers whose errors are shared within a patient (H0: equal AUROC)."""
    pid = np.repeat(np.arange(n_patients), per_patient)
    y = (rng.random(n_patients) < 0.4).astype(int)[pid]
    a = y + patient_sd * rng.normal(size=n_patients)[pid] + rng.normal(size=pid.size)
    b = y + patient_sd * rng.normal(size=n_patients)[pid] + rng.normal(size=pid.size)
    return y, a, b, pid


def test_clustered_delong_variance_matches_the_patient_bootstrap():
    rng = np.random.default_rng(5)
    y, a, b, pid = _clustered_null(rng, n_patients=200)
    res = clustered_delong_test(y, a, b, pid)
    boot = patient_bootstrap(y, np.stack([a, b]), pid, n_boot=2000, seed=1)
    diff = boot.boot_auroc[0, :, 0] - boot.boot_auroc[1, :, 0]
    var_diff = res.var_a + res.var_b - 2 * res.cov_ab
    assert var_diff == pytest.approx(np.nanvar(diff), rel=0.2)
    assert res.var_a == pytest.approx(np.nanvar(boot.boot_auroc[0, :, 0]), rel=0.2)
    # plain DeLong treats the 3 ECGs of a patient as independent: far too small a variance
    plain = delong_test(y, a, b)
    assert plain.var_a + plain.var_b - 2 * plain.cov_ab < 0.6 * var_diff


def test_clustered_delong_keeps_its_level_where_plain_delong_does_not():
    rng = np.random.default_rng(0)
    p_clustered, p_plain = [], []
    for _ in range(300):
        y, a, b, pid = _clustered_null(rng)
        p_clustered.append(clustered_delong_test(y, a, b, pid).p_value)
        p_plain.append(delong_test(y, a, b).p_value)
    assert np.mean(np.array(p_clustered) < 0.05) < 0.09
    assert np.mean(np.array(p_plain) < 0.05) > 0.12


def test_clustered_delong_refuses_too_few_patients():
    y = np.array([1, 1, 0, 0])
    with pytest.raises(ValueError, match="patients"):
        clustered_delong_test(y, [0.9, 0.8, 0.1, 0.2], [0.7, 0.6, 0.3, 0.1], [0, 0, 1, 1])


def test_holm_adjustment():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.5])
    adjusted = holm_adjust(p)
    np.testing.assert_allclose(adjusted[[0, 3, 1, 4]], [0.04, 0.09, 0.09, 0.5])
    assert np.isnan(adjusted[2])
    assert (adjusted[np.isfinite(p)] >= p[np.isfinite(p)]).all()
    assert holm_adjust([]).size == 0
