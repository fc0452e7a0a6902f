"""The comparison tables behind every report: AUROC/AUPRC with patient CIs and patient-aware tests.

- Point estimates come from scikit-learn; 95% CIs are percentile intervals of a bootstrap that
  resamples *patients* (all records of a drawn patient come along). Every model paired with the
  reference is scored on the same resamples, so differences between any two of them are paired
  and their CIs come from the same replicates.
- p-values respect repeated ECGs per patient: with a single label, DeLong's test clustered by
  patient (Obuchowski 1997; it equals plain DeLong when each patient has one ECG, and is named
  "DeLong" then); with several labels, the paired patient bootstrap of the macro-AUROC difference.
- Holm's adjustment runs over every p-value of one comparison call (the family of a report), so
  "significant" in a report means "after correcting for the number of comparisons shown".
- Contrasts: besides "each model vs the reference", any (model, baseline) pairs, compared at
  every label fraction both have (e.g. BCL vs scratch at 10% labels).
- Thresholded metrics (optional) use a threshold chosen on the model's validation predictions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .metrics import label_metrics, thresholded_table
from .predictions import PredictionFileError, Predictions, align_predictions, load_predictions
from .stats import (BootstrapDistribution, clustered_delong_test, delong_test, holm_adjust,
                    macro_replicates, paired_bootstrap_p_value, patient_bootstrap, percentile_ci)

P_REFERENCE = "reference"
P_DELONG = "DeLong"
P_CLUSTERED_DELONG = "DeLong, clustered by patient"
P_BOOTSTRAP = "paired patient bootstrap (macro)"


@dataclass
class ModelResult:
    """One evaluated model: identity for the tables plus its test (and optional val) predictions.

    Rows of one `name` at several `label_fraction`s form one label-efficiency curve.
    """

    name: str
    modality: str
    pretraining: str
    label_fraction: float
    predictions: Predictions | str | Path
    val_predictions: Predictions | str | Path | None = None

    @classmethod
    def from_predictions(cls, predictions: Predictions | str | Path,
                         val_predictions: Predictions | str | Path | None = None) -> "ModelResult":
        """Build the row from a predictions file's sidecar (model, modality, pretraining,
        label_fraction), so saved runs can be compared without retraining."""
        meta = _load(predictions).meta
        missing = [k for k in ("model", "modality", "pretraining", "label_fraction")
                   if meta.get(k) is None]
        if missing:
            where = predictions if not isinstance(predictions, Predictions) else "predictions"
            raise PredictionFileError(where, f"sidecar lacks {missing}")
        return cls(str(meta["model"]), str(meta["modality"]), str(meta["pretraining"]),
                   float(meta["label_fraction"]), predictions, val_predictions)

    def load(self) -> Predictions:
        return _load(self.predictions)

    def load_val(self) -> Predictions | None:
        return None if self.val_predictions is None else _load(self.val_predictions)


def _load(p: Predictions | str | Path) -> Predictions:
    return p if isinstance(p, Predictions) else load_predictions(p)


@dataclass
class ComparisonTables:
    comparison: pd.DataFrame        # one row per model and label fraction, p-value vs the reference
    per_label: pd.DataFrame         # one row per model, label fraction and label
    contrasts: pd.DataFrame         # one row per requested (model, baseline) pair and label fraction
    warnings: list[str] = field(default_factory=list)
    reference: str = ""


def row_label(r: ModelResult) -> str:
    return f"{r.name} @ {r.label_fraction:g}"


def _reference_index(results: Sequence[ModelResult], reference: int | str | None) -> int:
    if reference is None:  # the first model's name, at its largest label fraction
        reference = results[0].name
    elif isinstance(reference, int):
        if not 0 <= reference < len(results):
            raise ValueError(f"reference index {reference} out of range for {len(results)} models")
        return reference
    hits = [i for i, r in enumerate(results) if r.name == reference]
    if not hits:
        raise ValueError(f"reference model {reference!r} not among {[r.name for r in results]}")
    return max(hits, key=lambda i: results[i].label_fraction)


class _PairedScores:
    """Every model aligned to the reference's records, with one shared patient bootstrap."""

    def __init__(self, ref: Predictions, aligned: list[Predictions | None], include: np.ndarray,
                 n_boot: int, seed: int):
        self.ref, self.include = ref, include
        self.paired = [i for i, a in enumerate(aligned) if a is not None]
        self.aligned = aligned
        self.boot: BootstrapDistribution = patient_bootstrap(
            ref.y_true, np.stack([aligned[i].y_score for i in self.paired]), ref.patient_ids,
            n_boot=n_boot, seed=seed)
        self.one_ecg_per_patient = len(np.unique(ref.patient_ids)) == len(ref.patient_ids)

    def position(self, i: int) -> int:
        return self.paired.index(i)

    def macro(self, i: int) -> np.ndarray:
        return macro_replicates(self.boot.boot_auroc[self.position(i)], self.include)

    def test(self, i: int, j: int) -> tuple[float, float, float, float, str]:
        """(AUROC_i - AUROC_j, CI low, CI high, p, method) for two paired models."""
        diff = self.macro(i) - self.macro(j)
        point = float(np.mean(self.boot.auroc[self.position(i), self.include])
                      - np.mean(self.boot.auroc[self.position(j), self.include]))
        lo, hi = percentile_ci(diff)
        if self.include.sum() == 1:
            k = int(np.flatnonzero(self.include)[0])
            p = _delong_p(self.ref, self.aligned[i].y_score[:, k], self.aligned[j].y_score[:, k], k,
                          self.one_ecg_per_patient)
            method = P_DELONG if self.one_ecg_per_patient else P_CLUSTERED_DELONG
            return point, lo, hi, p, method
        return point, lo, hi, paired_bootstrap_p_value(diff), P_BOOTSTRAP


def _delong_p(ref: Predictions, score_a, score_b, k: int, one_ecg_per_patient: bool) -> float:
    y = ref.y_true[:, k]
    if one_ecg_per_patient:
        return delong_test(y, score_a, score_b).p_value
    try:
        return clustered_delong_test(y, score_a, score_b, ref.patient_ids).p_value
    except ValueError:  # too few patients of one class for a between-patient variance
        return float("nan")


def compare_results(results: Sequence[ModelResult], reference: int | str | None = None,
                    n_boot: int = 1000, seed: int = 0, ci_level: float = 0.95,
                    threshold_rule: str | None = None, threshold_target: float = 0.9,
                    contrasts: Sequence[tuple[str, str]] = ()) -> ComparisonTables:
    """Comparison, per-label and contrast tables (see the module docstring for the methods).

    `reference`: an index into `results`, or a model name (that name's largest label fraction);
    default: the first model's name at its largest label fraction. `contrasts`: (model, baseline)
    name pairs compared at every label fraction both were evaluated at.
    """
    if not results:
        raise ValueError("no model results to compare")
    ref_i = _reference_index(results, reference)
    preds = [r.load() for r in results]
    ref = preds[ref_i]
    warnings: list[str] = []
    aligned: list[Predictions | None] = []
    for r, p in zip(results, preds):
        try:
            aligned.append(align_predictions(ref, p)[1])
        except PredictionFileError as err:
            aligned.append(None)
            warnings.append(f"{row_label(r)}: not paired with the reference ({err}); no p-value")
    ref_metrics = label_metrics(ref.y_true, ref.y_score, ref.class_names)
    warnings += [f"reference: {w}" for w in ref_metrics.warnings]
    include = ref_metrics.per_label["auroc"].notna().to_numpy()
    scores = _PairedScores(ref, aligned, include, n_boot, seed)
    comp_rows, label_rows = [], []
    for i, (r, p) in enumerate(zip(results, preds)):
        if i in scores.paired:  # reuse the joint resamples: CIs and differences are paired
            p, boot, pos, inc = aligned[i], scores.boot, scores.position(i), include
        m = label_metrics(p.y_true, p.y_score, p.class_names)
        if i not in scores.paired:
            boot, pos = patient_bootstrap(p.y_true, p.y_score, p.patient_ids, n_boot, seed), 0
            inc = m.per_label["auroc"].notna().to_numpy()
        if i != ref_i:
            warnings += [f"{row_label(r)}: {w}" for w in m.warnings if w not in ref_metrics.warnings]
        point = m.per_label  # scikit-learn values; the bootstrap's own equal them (tested)
        macro_auroc = float(point["auroc"].to_numpy()[inc].mean()) if inc.any() else float("nan")
        macro_auprc = float(point["auprc"].to_numpy()[inc].mean()) if inc.any() else float("nan")
        auroc_ci = percentile_ci(macro_replicates(boot.boot_auroc[pos], inc), ci_level)
        auprc_ci = percentile_ci(macro_replicates(boot.boot_auprc[pos], inc), ci_level)
        delta, delta_lo, delta_hi, p_value, p_method = (float("nan"),) * 4 + ("",)
        if i == ref_i:
            p_method = P_REFERENCE
        elif i in scores.paired:
            delta, delta_lo, delta_hi, p_value, p_method = scores.test(i, ref_i)
        comp_rows.append({
            "model": r.name, "modality": r.modality, "pretraining": r.pretraining,
            "label_fraction": r.label_fraction, "n_records": len(p),
            "n_patients": boot.n_patients, "macro_auroc": macro_auroc,
            "auroc_lo": auroc_ci[0], "auroc_hi": auroc_ci[1], "macro_auprc": macro_auprc,
            "auprc_lo": auprc_ci[0], "auprc_hi": auprc_ci[1], "delta_auroc_vs_ref": delta,
            "delta_lo": delta_lo, "delta_hi": delta_hi, "p_value": p_value, "p_method": p_method,
            "is_reference": i == ref_i})
        label_rows += _label_rows(r, p, boot, pos, scores, i, ref_i, ci_level, threshold_rule,
                                  threshold_target)
    comparison = pd.DataFrame(comp_rows)
    contrast_table = _contrasts(results, scores, contrasts, warnings)
    # Holm over the whole family shown in one report: vs-reference rows and contrasts together
    family = np.concatenate([comparison["p_value"].to_numpy(float),
                             contrast_table["p_value"].to_numpy(float)])
    adjusted = holm_adjust(family)
    comparison["p_holm"] = adjusted[:len(comparison)]
    contrast_table["p_holm"] = adjusted[len(comparison):]
    return ComparisonTables(comparison, pd.DataFrame(label_rows), contrast_table, warnings,
                            row_label(results[ref_i]))


def _label_rows(r: ModelResult, p: Predictions, boot: BootstrapDistribution, pos: int,
                scores: _PairedScores, i: int, ref_i: int, ci_level: float,
                threshold_rule: str | None, threshold_target: float) -> list[dict]:
    """Per-label AUROC/AUPRC with CIs, clustered DeLong and paired bootstrap p vs the reference."""
    point = label_metrics(p.y_true, p.y_score, p.class_names).per_label
    val = r.load_val() if threshold_rule else None
    thr = (thresholded_table(val.y_true, val.y_score, p.y_true, p.y_score, p.class_names,
                             threshold_rule, threshold_target) if val is not None else None)
    rows = []
    for k, name in enumerate(p.class_names):
        row = {"model": r.name, "label_fraction": r.label_fraction, "label": name,
               "n": len(p), "n_pos": int(p.y_true[:, k].sum())}
        lo, hi = percentile_ci(boot.boot_auroc[pos, :, k], ci_level)
        plo, phi = percentile_ci(boot.boot_auprc[pos, :, k], ci_level)
        row.update(auroc=point["auroc"].iloc[k], auroc_lo=lo, auroc_hi=hi,
                   auprc=point["auprc"].iloc[k], auprc_lo=plo, auprc_hi=phi,
                   p_delong=np.nan, p_boot=np.nan)
        two_class = 0 < row["n_pos"] < len(p)
        if i in scores.paired and i != ref_i and two_class:
            ref_pos = scores.position(ref_i)
            row.update(p_delong=_delong_p(scores.ref, p.y_score[:, k], scores.ref.y_score[:, k], k,
                                          scores.one_ecg_per_patient),
                       p_boot=paired_bootstrap_p_value(
                           boot.boot_auroc[pos, :, k] - boot.boot_auroc[ref_pos, :, k]))
        if thr is not None:
            t = thr.iloc[k]
            row.update({f"thr_{c}": t.get(c, np.nan)
                        for c in ("threshold", "sensitivity", "specificity", "ppv", "f1")})
        rows.append(row)
    return rows


CONTRAST_COLUMNS = ("model", "baseline", "label_fraction", "auroc", "baseline_auroc", "delta",
                    "delta_lo", "delta_hi", "p_value", "p_method")


def _contrasts(results: Sequence[ModelResult], scores: _PairedScores,
               pairs: Sequence[tuple[str, str]], warnings: list[str]) -> pd.DataFrame:
    """Each (model, baseline) pair at every label fraction both have, on the shared resamples."""
    where = {(r.name, r.label_fraction): i for i, r in enumerate(results)}
    rows = []
    for model, baseline in pairs:
        fractions = sorted({f for (name, f) in where if name == model}
                           & {f for (name, f) in where if name == baseline})
        if not fractions:
            warnings.append(f"contrast {model} vs {baseline}: no common label fraction")
        for fraction in fractions:
            i, j = where[(model, fraction)], where[(baseline, fraction)]
            if i not in scores.paired or j not in scores.paired:
                warnings.append(f"contrast {model} vs {baseline} @ {fraction:g}: not paired")
                continue
            delta, lo, hi, p, method = scores.test(i, j)
            rows.append({"model": model, "baseline": baseline, "label_fraction": fraction,
                         "auroc": float(np.mean(scores.boot.auroc[scores.position(i), scores.include])),
                         "baseline_auroc": float(np.mean(
                             scores.boot.auroc[scores.position(j), scores.include])),
                         "delta": delta, "delta_lo": lo, "delta_hi": hi, "p_value": p,
                         "p_method": method})
    return pd.DataFrame(rows, columns=list(CONTRAST_COLUMNS))
