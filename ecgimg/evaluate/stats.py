"""Uncertainty for AUROC/AUPRC: patient-level bootstrap CIs, paired tests and DeLong's test.

ECG cohorts hold several records per patient, and records of one patient are correlated, so the
bootstrap resamples *patients* (each drawn patient brings all of their records). DeLong's test is
the classical analytic test for two ROC curves scored on the same records; it assumes independent
records, so with many ECGs per patient prefer the paired patient bootstrap.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata

# Bootstraps are evaluated in blocks of this many resamples to cap memory at ~B_BLOCK x N floats.
_BOOT_BLOCK = 250


# ----------------------------------------------------------------------------- DeLong
@dataclass(frozen=True)
class DeLongResult:
    """DeLong test of AUC_a == AUC_b on the same records (two-sided)."""

    auc_a: float
    auc_b: float
    z: float
    p_value: float
    var_a: float
    var_b: float
    cov_ab: float


def _check_binary(y_true: np.ndarray, what: str = "y_true") -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{what} must hold only 0/1 labels")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise ValueError(f"{what} must contain both classes (got {n_pos} positives of {y.size})")
    return y.astype(bool)


def delong_components(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and DeLong structural components of several classifiers on the same records.

    Fast midrank algorithm of Sun & Xu (2014, IEEE SPL 21:1389): O(M N log N) instead of the
    O(M m n) double loop. `scores` is (M, N) or (N,). Returns (aucs (M,), v10 (M, m) one
    component per positive, v01 (M, n) one per negative, covariance (M, M)). Ties count 1/2.
    """
    pos = _check_binary(y_true)
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if s.shape[1] != pos.size:
        raise ValueError(f"scores shape {s.shape} does not match {pos.size} labels")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf")
    x, y = s[:, pos], s[:, ~pos]  # positives, negatives
    m, n = x.shape[1], y.shape[1]
    rank_x = rankdata(x, axis=1)  # midranks within positives
    rank_y = rankdata(y, axis=1)  # midranks within negatives
    rank_all = rankdata(np.concatenate([x, y], axis=1), axis=1)  # midranks in the pooled sample
    aucs = (rank_all[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (rank_all[:, :m] - rank_x) / n  # P(score of a negative < this positive)
    v01 = 1.0 - (rank_all[:, m:] - rank_y) / m  # P(score of a positive > this negative)
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, v10, v01, s10 / m + s01 / n


def _z_test(aucs: np.ndarray, cov: np.ndarray) -> DeLongResult:
    """Two-sided z test of AUC_a - AUC_b from the 2x2 covariance of the two AUCs."""
    var_diff = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = aucs[0] - aucs[1]
    if var_diff <= 1e-300:
        z, p = 0.0, 1.0 if diff == 0 else 0.0
    else:
        z = float(diff / np.sqrt(var_diff))
        p = float(2 * norm.sf(abs(z)))
    return DeLongResult(float(aucs[0]), float(aucs[1]), z, p, float(cov[0, 0]),
                        float(cov[1, 1]), float(cov[0, 1]))


def delong_test(y_true, score_a, score_b) -> DeLongResult:
    """DeLong, DeLong & Clarke-Pearson (1988) test for two correlated ROC curves, two-sided.

    When the two curves have identical components (same ranking) z is 0 and p is 1.
    """
    aucs, _, _, cov = delong_components(y_true, np.vstack([score_a, score_b]))
    return _z_test(aucs, cov)


def clustered_delong_test(y_true, score_a, score_b, cluster_ids) -> DeLongResult:
    """DeLong's test with records clustered by patient (Obuchowski 1997, Biometrics 53:567).

    Records of one patient are correlated, so DeLong's variance (which treats them as independent)
    is too small and its p-values too optimistic. Obuchowski's nonparametric estimator sums the
    structural components within each cluster and takes their variance *between* clusters:

        S10 = I10 / ((I10 - 1) M) * sum_i (V10_i - m_i A)(V10_i' - m_i A')
        S01 = I01 / ((I01 - 1) N) * sum_i (V01_i - n_i A)(V01_i' - n_i A')
        S11 = I / (I - 1) * sum_i (V10_i - m_i A)(V01_i' - n_i A')
        cov(A, A') = S10 / M + S01 / N + (S11 + S11') / (M N)

    with M, N positives/negatives overall, m_i, n_i per cluster, I10 / I01 the clusters holding
    any positive / negative, I all clusters. With one record per patient it equals DeLong's test
    exactly (tested). Hand-written: neither scipy nor scikit-learn has a clustered ROC test.
    """
    pos = _check_binary(y_true)
    clusters = np.asarray(cluster_ids)
    if clusters.shape != pos.shape:
        raise ValueError(f"cluster_ids shape {clusters.shape} does not match {pos.size} labels")
    aucs, v10, v01, _ = delong_components(y_true, np.vstack([score_a, score_b]))
    _, cluster = np.unique(clusters, return_inverse=True)
    n_clusters = int(cluster.max()) + 1
    m, n = int(pos.sum()), int((~pos).sum())
    m_i = np.bincount(cluster[pos], minlength=n_clusters)
    n_i = np.bincount(cluster[~pos], minlength=n_clusters)
    # per-cluster sums of the structural components, one row per model: (2, I)
    v10_sum = np.stack([np.bincount(cluster[pos], weights=v, minlength=n_clusters) for v in v10])
    v01_sum = np.stack([np.bincount(cluster[~pos], weights=v, minlength=n_clusters) for v in v01])
    d10 = v10_sum - m_i[None] * aucs[:, None]
    d01 = v01_sum - n_i[None] * aucs[:, None]
    i10, i01 = int((m_i > 0).sum()), int((n_i > 0).sum())
    if i10 < 2 or i01 < 2:
        raise ValueError(f"clustered DeLong needs >= 2 patients with positives and with negatives "
                         f"(got {i10} and {i01})")
    s10 = i10 / ((i10 - 1) * m) * (d10 @ d10.T)
    s01 = i01 / ((i01 - 1) * n) * (d01 @ d01.T)
    s11 = n_clusters / (n_clusters - 1) * (d10 @ d01.T)
    cov = s10 / m + s01 / n + (s11 + s11.T) / (m * n)
    return _z_test(aucs, cov)


def holm_adjust(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN entries are left out and stay NaN).

    Controls the family-wise error rate for the several comparisons of one report; hand-written
    (six lines) rather than pulling statsmodels in for it.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    order = valid[np.argsort(p[valid], kind="mergesort")]
    k = len(order)
    adjusted = np.maximum.accumulate((k - np.arange(k)) * p[order]) if k else np.array([])
    out[order] = np.minimum(adjusted, 1.0)
    return out


# ----------------------------------------------------------------------------- bootstrap
@dataclass
class BootstrapDistribution:
    """Point estimates and bootstrap replicates of AUROC/AUPRC for M models x K labels.

    auroc/auprc: (M, K) on the full set (NaN where a label has one class);
    boot_auroc/boot_auprc: (M, B, K) replicates (NaN where a resample has one class).
    """

    auroc: np.ndarray
    auprc: np.ndarray
    boot_auroc: np.ndarray
    boot_auprc: np.ndarray
    n_patients: int
    seed: int

    @property
    def n_boot(self) -> int:
        return self.boot_auroc.shape[1]


def _weighted_auroc_auprc(score: np.ndarray, positive: np.ndarray, weights: np.ndarray):
    """AUROC and average precision of one label under B weight vectors (B, N) at once.

    Record weights are bootstrap multiplicities, so this equals scikit-learn's roc_auc_score /
    average_precision_score on the resampled set (ties: 1/2 for AUROC, one threshold per distinct
    score for AP). Hand-written because per-resample sklearn calls make 1000 boots ~100x slower.
    """
    order = np.argsort(-score, kind="mergesort")
    s_sorted = score[order]
    is_pos = positive[order].astype(np.float64)
    w = weights[:, order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    pos_w = np.add.reduceat(w * is_pos, starts, axis=1)
    neg_w = np.add.reduceat(w * (1.0 - is_pos), starts, axis=1)
    total_pos, total_neg = pos_w.sum(axis=1), neg_w.sum(axis=1)
    cum_neg = np.cumsum(neg_w, axis=1)
    neg_below = total_neg[:, None] - cum_neg  # negatives scored strictly lower than the group
    with np.errstate(invalid="ignore", divide="ignore"):
        auroc = (pos_w * (neg_below + 0.5 * neg_w)).sum(axis=1) / (total_pos * total_neg)
        tp = np.cumsum(pos_w, axis=1)
        precision = tp / np.maximum(tp + cum_neg, 1e-300)
        auprc = (pos_w * precision).sum(axis=1) / total_pos
    one_class = (total_pos == 0) | (total_neg == 0)
    auroc[one_class] = np.nan
    auprc[one_class] = np.nan
    return auroc, auprc


def _as_model_stack(y_true, y_scores):
    """(N,) labels with (N,) or (M, N) scores, or (N, K) labels with (N, K) or (M, N, K)."""
    y = np.asarray(y_true)
    scores = np.asarray(y_scores, dtype=np.float64)
    if scores.ndim == y.ndim:  # one model
        scores = scores[None]
    if y.ndim == 1:
        y, scores = y[:, None], scores[..., None]
    if scores.ndim != 3 or scores.shape[1:] != y.shape:
        raise ValueError(f"scores shape {np.shape(y_scores)} does not match labels {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0/1 labels")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
    return y.astype(bool), scores


def patient_bootstrap(y_true, y_scores, patient_ids, n_boot: int = 1000,
                      seed: int = 0) -> BootstrapDistribution:
    """Bootstrap AUROC/AUPRC by patient for one or several models scored on the same records.

    y_true (N,) or (N, K); y_scores (N,), (N, K) or (M, N, K); patient_ids (N,). Each resample
    draws the patients with replacement and keeps all records of each drawn patient (with the
    patient's multiplicity). All models share the same resamples, so differences are paired.
    """
    y, scores = _as_model_stack(y_true, y_scores)
    pid = np.asarray(patient_ids)
    if pid.shape != (y.shape[0],):
        raise ValueError(f"patient_ids shape {pid.shape} does not match {y.shape[0]} records")
    _, patient_of_record = np.unique(pid, return_inverse=True)
    n_patients = int(patient_of_record.max()) + 1
    n_models, _, n_labels = scores.shape
    rng = np.random.default_rng(seed)
    boot_auroc = np.full((n_models, n_boot, n_labels), np.nan)
    boot_auprc = np.full((n_models, n_boot, n_labels), np.nan)
    for start in range(0, n_boot, _BOOT_BLOCK):
        b = min(_BOOT_BLOCK, n_boot - start)
        draws = rng.integers(0, n_patients, size=(b, n_patients))
        flat = (draws + n_patients * np.arange(b)[:, None]).ravel()
        counts = np.bincount(flat, minlength=b * n_patients).reshape(b, n_patients)
        weights = counts[:, patient_of_record].astype(np.float64)
        for mi in range(n_models):
            for k in range(n_labels):
                a, p = _weighted_auroc_auprc(scores[mi, :, k], y[:, k], weights)
                boot_auroc[mi, start:start + b, k] = a
                boot_auprc[mi, start:start + b, k] = p
    ones = np.ones((1, y.shape[0]))
    point_auroc = np.full((n_models, n_labels), np.nan)
    point_auprc = np.full((n_models, n_labels), np.nan)
    for mi in range(n_models):
        for k in range(n_labels):
            a, p = _weighted_auroc_auprc(scores[mi, :, k], y[:, k], ones)
            point_auroc[mi, k], point_auprc[mi, k] = a[0], p[0]
    return BootstrapDistribution(point_auroc, point_auprc, boot_auroc, boot_auprc,
                                 n_patients, seed)


def macro_replicates(boot_values: np.ndarray, include: np.ndarray) -> np.ndarray:
    """Macro average over the included labels per replicate, (..., B, K) -> (..., B).

    A replicate in which an included label has a single class is NaN (dropped from CIs) rather
    than averaged over fewer labels, which would mix different estimands.
    """
    include = np.asarray(include, dtype=bool)
    if not include.any():
        return np.full(boot_values.shape[:-1], np.nan)
    return boot_values[..., include].mean(axis=-1)


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile confidence interval ignoring NaN replicates; (nan, nan) if none are valid."""
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(r, [alpha, 1 - alpha])
    return float(lo), float(hi)


def paired_bootstrap_p_value(diff_replicates: np.ndarray) -> float:
    """Two-sided p-value for H0: difference == 0 from paired bootstrap replicates of it.

    p = 2 * min(P(d <= 0), P(d >= 0)) with the +1 correction of Davison & Hinkley (1997),
    capped at 1. NaN replicates (single-class resamples) are ignored.
    """
    d = np.asarray(diff_replicates, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    below = (np.sum(d <= 0) + 1) / (d.size + 1)
    above = (np.sum(d >= 0) + 1) / (d.size + 1)
    return float(min(1.0, 2 * min(below, above)))
