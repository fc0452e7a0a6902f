"""The comparison report: one report.md plus CSV tables and PNG figures for a set of models.

Statistics (also written into every report):
- AUROC/AUPRC point estimates come from scikit-learn; 95% CIs are percentile intervals of a
  bootstrap that resamples patients (all records of a drawn patient come along); every model is
  evaluated on the same resamples, so differences are paired.
- The comparison table's p-value tests "macro AUROC equals the reference's": with a single label
  it is DeLong's test on that label; with several labels it is the paired patient bootstrap of the
  macro-AUROC difference (DeLong has no standard macro form, and the bootstrap also respects
  several ECGs per patient). The per-label table gives both DeLong and bootstrap p per label.
- Thresholded metrics (optional) use a threshold chosen on the model's validation predictions.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .metrics import label_metrics, thresholded_table
from .plots import MACRO, plot_label_efficiency, plot_roc_curves
from .predictions import PredictionFileError, Predictions, align_predictions, load_predictions
from .stats import delong_test, macro_replicates, paired_bootstrap_p_value, patient_bootstrap, \
    percentile_ci


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
    comparison: pd.DataFrame
    per_label: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    reference: str = ""


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


def _row_label(r: ModelResult) -> str:
    return f"{r.name} @ {r.label_fraction:g}"


def compare_results(results: Sequence[ModelResult], reference: int | str | None = None,
                    n_boot: int = 1000, seed: int = 0, ci_level: float = 0.95,
                    threshold_rule: str | None = None, threshold_target: float = 0.9
                    ) -> ComparisonTables:
    """Compute the comparison and per-label tables (see the module docstring for the methods).

    `reference`: an index into `results`, or a model name (that name's largest label fraction);
    default: the first model's name at its largest label fraction.
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
            warnings.append(f"{_row_label(r)}: not paired with the reference ({err}); "
                            "no p-value")
    paired = [i for i, a in enumerate(aligned) if a is not None]
    ref_metrics = label_metrics(ref.y_true, ref.y_score, ref.class_names)
    warnings += [f"reference: {w}" for w in ref_metrics.warnings]
    include = ref_metrics.per_label["auroc"].notna().to_numpy()
    joint = patient_bootstrap(ref.y_true, np.stack([aligned[i].y_score for i in paired]),
                              ref.patient_ids, n_boot=n_boot, seed=seed)
    ref_pos = paired.index(ref_i)
    ref_macro = macro_replicates(joint.boot_auroc[ref_pos], include)
    comp_rows, label_rows = [], []
    for i, (r, p) in enumerate(zip(results, preds)):
        if i in paired:  # reuse the joint resamples: CIs and differences are paired
            p, boot, pos, inc = aligned[i], joint, paired.index(i), include
        m = label_metrics(p.y_true, p.y_score, p.class_names)
        if i not in paired:
            boot, pos = patient_bootstrap(p.y_true, p.y_score, p.patient_ids, n_boot, seed), 0
            inc = m.per_label["auroc"].notna().to_numpy()
        if i != ref_i:
            warnings += [f"{_row_label(r)}: {w}" for w in m.warnings if w not in ref_metrics.warnings]
        point = m.per_label  # scikit-learn values; the bootstrap's own equal them (tested)
        macro_auroc = float(point["auroc"].to_numpy()[inc].mean()) if inc.any() else float("nan")
        macro_auprc = float(point["auprc"].to_numpy()[inc].mean()) if inc.any() else float("nan")
        boot_macro = macro_replicates(boot.boot_auroc[pos], inc)
        auroc_ci = percentile_ci(boot_macro, ci_level)
        auprc_ci = percentile_ci(macro_replicates(boot.boot_auprc[pos], inc), ci_level)
        p_value, p_method = float("nan"), ""
        if i == ref_i:
            p_method = "reference"
        elif i in paired and inc.sum() == 1:
            k = int(np.flatnonzero(inc)[0])
            p_value = delong_test(p.y_true[:, k], p.y_score[:, k], ref.y_score[:, k]).p_value
            p_method = "DeLong"
        elif i in paired:
            p_value = paired_bootstrap_p_value(boot_macro - ref_macro)
            p_method = "paired patient bootstrap (macro)"
        comp_rows.append({
            "model": r.name, "modality": r.modality, "pretraining": r.pretraining,
            "label_fraction": r.label_fraction, "n_records": len(p),
            "n_patients": boot.n_patients, "macro_auroc": macro_auroc,
            "auroc_lo": auroc_ci[0], "auroc_hi": auroc_ci[1], "macro_auprc": macro_auprc,
            "auprc_lo": auprc_ci[0], "auprc_hi": auprc_ci[1],
            "delta_auroc_vs_ref": macro_auroc - ref_metrics.macro_auroc if i in paired
            else float("nan"),
            "p_value": p_value, "p_method": p_method, "is_reference": i == ref_i})
        val = r.load_val() if threshold_rule else None
        thr = (thresholded_table(val.y_true, val.y_score, p.y_true, p.y_score, p.class_names,
                                 threshold_rule, threshold_target) if val is not None else None)
        for k, name in enumerate(p.class_names):
            row = {"model": r.name, "label_fraction": r.label_fraction, "label": name,
                   "n": len(p), "n_pos": int(p.y_true[:, k].sum())}
            lo, hi = percentile_ci(boot.boot_auroc[pos, :, k], ci_level)
            plo, phi = percentile_ci(boot.boot_auprc[pos, :, k], ci_level)
            row.update(auroc=point["auroc"].iloc[k], auroc_lo=lo, auroc_hi=hi,
                       auprc=point["auprc"].iloc[k], auprc_lo=plo, auprc_hi=phi,
                       delong_z=np.nan, p_delong=np.nan, p_boot=np.nan)
            two_class = 0 < row["n_pos"] < len(p)
            if i in paired and i != ref_i and two_class:
                d = delong_test(p.y_true[:, k], p.y_score[:, k], ref.y_score[:, k])
                row.update(delong_z=d.z, p_delong=d.p_value, p_boot=paired_bootstrap_p_value(
                    boot.boot_auroc[pos, :, k] - joint.boot_auroc[ref_pos, :, k]))
            if thr is not None:
                t = thr.iloc[k]
                row.update({f"thr_{c}": t.get(c, np.nan)
                            for c in ("threshold", "sensitivity", "specificity", "ppv", "f1")})
            label_rows.append(row)
    return ComparisonTables(pd.DataFrame(comp_rows), pd.DataFrame(label_rows), warnings,
                            _row_label(results[ref_i]))


@dataclass
class ReportFiles:
    report_md: Path
    comparison_csv: Path
    per_label_csv: Path
    figures: dict[str, Path]


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _markdown_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def _comparison_markdown(t: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "model": t["model"] + np.where(t["is_reference"], " (ref)", ""),
        "modality": t["modality"], "pretraining": t["pretraining"],
        "label fraction": [f"{f:g}" for f in t["label_fraction"]],
        "macro AUROC [95% CI]": [f"{_fmt(a)} [{_fmt(lo)}, {_fmt(hi)}]"
                                 for a, lo, hi in zip(t["macro_auroc"], t["auroc_lo"], t["auroc_hi"])],
        "macro AUPRC": [_fmt(a) for a in t["macro_auprc"]],
        "p vs ref": [_fmt_p(p) for p in t["p_value"]],
        "test": t["p_method"]})
    return _markdown_table(shown)


def _per_label_markdown(t: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "model": t["model"], "fraction": [f"{f:g}" for f in t["label_fraction"]],
        "label": t["label"], "n_pos/n": [f"{a}/{b}" for a, b in zip(t["n_pos"], t["n"])],
        "AUROC [95% CI]": [f"{_fmt(a)} [{_fmt(lo)}, {_fmt(hi)}]"
                           for a, lo, hi in zip(t["auroc"], t["auroc_lo"], t["auroc_hi"])],
        "AUPRC": [_fmt(a) for a in t["auprc"]],
        "p DeLong": [_fmt_p(p) for p in t["p_delong"]],
        "p bootstrap": [_fmt_p(p) for p in t["p_boot"]]})
    if "thr_sensitivity" in t:
        shown["sens / spec / F1 @ val thr"] = [
            f"{_fmt(a, 2)} / {_fmt(b, 2)} / {_fmt(c, 2)}"
            for a, b, c in zip(t["thr_sensitivity"], t["thr_specificity"], t["thr_f1"])]
    return _markdown_table(shown)


def _place_figure(src: Path, fig_dir: Path) -> Path | None:
    """Copy an external PNG into the report's figures folder so the report is self-contained."""
    src = Path(src)
    if not src.is_file():
        return None
    dst = fig_dir / src.name
    if src.resolve() != dst.resolve():
        shutil.copyfile(src, dst)
    return dst


def write_report(out_dir: str | Path, results: Sequence[ModelResult],
                 figures: Mapping[str, str | Path] | None = None,
                 reference: int | str | None = None, title: str = "ecgimg comparison",
                 n_boot: int = 1000, seed: int = 0, roc_labels: Sequence[str] | None = None,
                 threshold_rule: str | None = None, threshold_target: float = 0.9,
                 notes: Sequence[str] = ()) -> ReportFiles:
    """Write report.md, comparison.csv, per_label.csv and figures/*.png into `out_dir`.

    `figures` maps a caption to an existing PNG (e.g. "MAE reconstruction", "rendered training
    images"); they are copied next to the report. ROC (one curve per model name, at its largest
    label fraction) and label-efficiency figures are drawn here.
    """
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    tables = compare_results(results, reference, n_boot, seed,
                             threshold_rule=threshold_rule, threshold_target=threshold_target)
    comparison_csv = out_dir / "comparison.csv"
    per_label_csv = out_dir / "per_label.csv"
    tables.comparison.to_csv(comparison_csv, index=False)
    tables.per_label.to_csv(per_label_csv, index=False)

    made: dict[str, Path] = {}
    largest: dict[str, ModelResult] = {}
    for r in results:
        if r.name not in largest or r.label_fraction > largest[r.name].label_fraction:
            largest[r.name] = r
    curves = {name: r.load() for name, r in largest.items()}
    per_label = tables.per_label
    drawable = list(dict.fromkeys(per_label.loc[per_label["auroc"].notna(), "label"]))
    labels = list(roc_labels) if roc_labels is not None else \
        ([MACRO] + drawable if 1 < len(drawable) <= 5 else [MACRO])
    made["ROC curves (each model at its largest label fraction)"] = plot_roc_curves(
        curves, fig_dir / "roc.png", labels=labels, title=f"{title}: ROC")
    comp = tables.comparison
    if comp.groupby("model")["label_fraction"].nunique().max() > 1:
        eff = comp.rename(columns={"macro_auroc": "auroc"})
        made["Label efficiency: macro AUROC vs labelled fraction (95% patient-bootstrap CI)"] = \
            plot_label_efficiency(eff, fig_dir / "label_efficiency.png", title=f"{title}: label efficiency")
    missing = []
    for caption, src in (figures or {}).items():
        placed = _place_figure(Path(src), fig_dir)
        if placed is None:
            missing.append(f"{caption}: {src} not found")
        else:
            made[caption] = placed

    lines = [f"# {title}", "",
             f"Reference model: **{tables.reference}**. Test set: {int(comp['n_records'].iloc[0])} "
             f"records of {int(comp['n_patients'].iloc[0])} patients "
             f"(of the reference). Bootstrap: {n_boot} patient resamples, seed {seed}.", "",
             "## Comparison", "", _comparison_markdown(comp), "",
             "## Per label", "", _per_label_markdown(tables.per_label), "", "## Figures", ""]
    for caption, path in made.items():
        lines += [f"**{caption}**", "", f"![{caption}]({path.relative_to(out_dir).as_posix()})", ""]
    lines += ["## Methods", "",
              "- AUROC and AUPRC (average precision) from scikit-learn; macro = mean over labels "
              "with both classes in the reference's test set.",
              "- 95% CIs: percentile bootstrap resampling *patients* with replacement (all "
              "records of a drawn patient come along); all models share the resamples.",
              "- `p vs ref`: DeLong's test when the task has one label; otherwise the paired "
              "patient bootstrap of the macro-AUROC difference (two-sided). Per-label table: "
              "DeLong (assumes independent records) and paired bootstrap per label.",
              "- Tables: `comparison.csv`, `per_label.csv`."]
    if threshold_rule:
        lines.append(f"- Thresholds chosen on validation by {threshold_rule} >= "
                     f"{threshold_target}, applied to test.")
    lines += [f"- {n}" for n in notes]
    if tables.warnings or missing:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in tables.warnings + missing]
    report_md = out_dir / "report.md"
    report_md.write_text("\n".join(lines) + "\n")
    return ReportFiles(report_md, comparison_csv, per_label_csv, made)
