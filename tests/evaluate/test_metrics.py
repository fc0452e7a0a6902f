"""AUROC/AUPRC match scikit-learn; single-class labels are NaN; thresholds come from validation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from ecgimg.evaluate.metrics import (choose_threshold, label_metrics, thresholded_metrics,
                                     thresholded_table)


def _data(n=300, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.3).astype(int)
    return y, y + rng.normal(size=(n, k))


def test_per_label_and_macro_equal_sklearn():
    y, s = _data()
    m = label_metrics(y, s, ["AF", "LVSD", "SEX"])
    ref = [roc_auc_score(y[:, k], s[:, k]) for k in range(3)]
    np.testing.assert_allclose(m.per_label["auroc"], ref)
    np.testing.assert_allclose(m.per_label["auprc"],
                               [average_precision_score(y[:, k], s[:, k]) for k in range(3)])
    assert m.macro_auroc == pytest.approx(np.mean(ref))
    assert m.warnings == [] and m.valid_labels == ["AF", "LVSD", "SEX"]


def test_single_class_label_is_nan_and_excluded_with_warning():
    y, s = _data()
    y[:, 1] = 0
    m = label_metrics(y, s, ["AF", "LVSD", "SEX"])
    assert np.isnan(m.per_label.loc[1, "auroc"]) and np.isnan(m.per_label.loc[1, "auprc"])
    assert m.macro_auroc == pytest.approx(np.mean([roc_auc_score(y[:, k], s[:, k])
                                                   for k in (0, 2)]))
    assert len(m.warnings) == 1 and "LVSD" in m.warnings[0]


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        label_metrics(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="0/1"):
        label_metrics(np.array([0, 2, 1]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="class names"):
        label_metrics(np.array([0, 1]), np.array([0.1, 0.2]), ["a", "b"])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), target=st.floats(0.5, 0.99))
def test_threshold_rules_meet_their_targets_optimally(seed, target):
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(20), np.zeros(30)].astype(int)
    s = np.round(y + rng.normal(size=50), 1)
    t = choose_threshold(y, s, "specificity", target)
    got = thresholded_metrics(y, s, t)
    assert got["specificity"] >= target - 1e-12
    # any lower candidate threshold breaks the specificity target
    lower = s[s < t]
    if lower.size:
        assert thresholded_metrics(y, s, lower.max())["specificity"] < target
    t = choose_threshold(y, s, "sensitivity", target)
    assert thresholded_metrics(y, s, t)["sensitivity"] >= target - 1e-12
    higher = s[s > t]
    if higher.size:
        assert thresholded_metrics(y, s, higher.min())["sensitivity"] < target


def test_f1_rule_maximises_f1_and_matches_sklearn():
    y, s = _data(seed=3)
    y, s = y[:, 0], s[:, 0]
    t = choose_threshold(y, s, "f1")
    best = max(f1_score(y, s >= c) for c in np.unique(s))
    got = thresholded_metrics(y, s, t)
    assert got["f1"] == pytest.approx(best)
    assert got["f1"] == pytest.approx(f1_score(y, s >= t))


def test_threshold_chosen_on_validation_is_applied_to_test():
    yv, sv = _data(seed=1)
    yt, st_ = _data(seed=2)
    table = thresholded_table(yv, sv, yt, st_, ["a", "b", "c"], rule="specificity", target=0.9)
    for k in range(3):
        t = choose_threshold(yv[:, k], sv[:, k], "specificity", 0.9)
        assert table.loc[k, "threshold"] == t
        assert table.loc[k, "sensitivity"] == thresholded_metrics(yt[:, k], st_[:, k], t)[
            "sensitivity"]


def test_single_class_validation_label_gives_nan_row():
    yv, sv = _data(seed=1)
    yv[:, 2] = 1
    yt, st_ = _data(seed=2)
    table = thresholded_table(yv, sv, yt, st_, rule="f1")
    assert np.isnan(table.loc[2, "threshold"]) and table.loc[2, "note"].startswith("single")
    with pytest.raises(ValueError, match="rule"):
        choose_threshold(yv[:, 0], sv[:, 0], "youden")
