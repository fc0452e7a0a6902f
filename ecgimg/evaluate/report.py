"""The comparison report: report.md (tables, findings in words, figures, methods) plus CSVs and PNGs.

The numbers come from `comparison.compare_results` (patient-bootstrap CIs, patient-aware p-values,
Holm adjustment); this module only lays them out, so a report never says more than its tables.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .comparison import ComparisonTables, ModelResult, compare_results
from .plots import MACRO, plot_label_efficiency, plot_roc_curves

#: family-wise significance level the findings use (after Holm's adjustment)
ALPHA = 0.05


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


def _ci(point: float, lo: float, hi: float, digits: int = 3) -> str:
    return f"{_fmt(point, digits)} [{_fmt(lo, digits)}, {_fmt(hi, digits)}]"


def _delta(point: float, lo: float, hi: float) -> str:
    if not np.isfinite(point):
        return "–"
    return f"{point:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _comparison_markdown(t: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "model": t["model"] + np.where(t["is_reference"], " (ref)", ""),
        "modality": t["modality"], "pretraining": t["pretraining"],
        "label fraction": [f"{f:g}" for f in t["label_fraction"]],
        "macro AUROC [95% CI]": [_ci(a, lo, hi) for a, lo, hi in
                                 zip(t["macro_auroc"], t["auroc_lo"], t["auroc_hi"])],
        "macro AUPRC": [_fmt(a) for a in t["macro_auprc"]],
        "Δ vs ref [95% CI]": [_delta(d, lo, hi) for d, lo, hi in
                              zip(t["delta_auroc_vs_ref"], t["delta_lo"], t["delta_hi"])],
        "p vs ref": [_fmt_p(p) for p in t["p_value"]],
        "p (Holm)": [_fmt_p(p) for p in t["p_holm"]],
        "test": t["p_method"]})
    return _markdown_table(shown)


def _contrast_markdown(t: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "model vs baseline": [f"{m} vs {b}" for m, b in zip(t["model"], t["baseline"])],
        "label fraction": [f"{f:g}" for f in t["label_fraction"]],
        "AUROC model / baseline": [f"{_fmt(a)} / {_fmt(b)}" for a, b in
                                   zip(t["auroc"], t["baseline_auroc"])],
        "Δ [95% CI]": [_delta(d, lo, hi) for d, lo, hi in
                       zip(t["delta"], t["delta_lo"], t["delta_hi"])],
        "p": [_fmt_p(p) for p in t["p_value"]], "p (Holm)": [_fmt_p(p) for p in t["p_holm"]],
        "test": t["p_method"]})
    return _markdown_table(shown)


def _per_label_markdown(t: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "model": t["model"], "fraction": [f"{f:g}" for f in t["label_fraction"]],
        "label": t["label"], "n_pos/n": [f"{a}/{b}" for a, b in zip(t["n_pos"], t["n"])],
        "AUROC [95% CI]": [_ci(a, lo, hi) for a, lo, hi in
                           zip(t["auroc"], t["auroc_lo"], t["auroc_hi"])],
        "AUPRC": [_fmt(a) for a in t["auprc"]],
        "p DeLong (clustered)": [_fmt_p(p) for p in t["p_delong"]],
        "p bootstrap": [_fmt_p(p) for p in t["p_boot"]]})
    if "thr_sensitivity" in t:
        shown["sens / spec / F1 @ val thr"] = [
            f"{_fmt(a, 2)} / {_fmt(b, 2)} / {_fmt(c, 2)}"
            for a, b, c in zip(t["thr_sensitivity"], t["thr_specificity"], t["thr_f1"])]
    return _markdown_table(shown)


def _verdict(delta: float, lo: float, hi: float, p: float, p_holm: float, method: str) -> str:
    """One sentence: the difference, its CI, the test, and whether it survives Holm at ALPHA."""
    if not np.isfinite(p):
        return f"difference {_delta(delta, lo, hi)}; no test was possible."
    if p_holm < ALPHA:
        word = "significantly better" if delta > 0 else "significantly worse"
        judged = f"**{word}** (p = {_fmt_p(p)}, {method}; Holm-adjusted {_fmt_p(p_holm)} < {ALPHA:g})"
    elif p < ALPHA:
        judged = (f"nominally different (p = {_fmt_p(p)}, {method}) but **not significant** after "
                  f"Holm's correction (adjusted {_fmt_p(p_holm)})")
    else:
        judged = f"**not significantly different** (p = {_fmt_p(p)}, {method})"
    return f"ΔAUROC {_delta(delta, lo, hi)}: {judged}."


def findings(tables: ComparisonTables) -> list[str]:
    """One sentence per comparison (each model vs the reference, then each contrast)."""
    lines = []
    comp = tables.comparison
    for row in comp[~comp["is_reference"]].itertuples(index=False):
        lines.append(f"- {row.model} @ {row.label_fraction:g} vs {tables.reference}: " + _verdict(
            row.delta_auroc_vs_ref, row.delta_lo, row.delta_hi, row.p_value, row.p_holm,
            row.p_method))
    for row in tables.contrasts.itertuples(index=False):
        lines.append(f"- {row.model} vs {row.baseline} @ {row.label_fraction:g}: " + _verdict(
            row.delta, row.delta_lo, row.delta_hi, row.p_value, row.p_holm, row.p_method))
    return lines


def _prevalence(tables: ComparisonTables) -> str:
    ref = tables.per_label[(tables.per_label["model"] + " @ " + tables.per_label["label_fraction"]
                            .map("{:g}".format)) == tables.reference]
    return ", ".join(f"{r.label} {r.n_pos}/{r.n} ({r.n_pos / max(r.n, 1):.0%})"
                     for r in ref.itertuples(index=False))


def _place_figure(src: Path, fig_dir: Path) -> Path | None:
    """Copy an external PNG into the report's figures folder so the report is self-contained."""
    src = Path(src)
    if not src.is_file():
        return None
    dst = fig_dir / src.name
    if src.resolve() != dst.resolve():
        shutil.copyfile(src, dst)
    return dst


def _figures(out_dir: Path, results: Sequence[ModelResult], tables: ComparisonTables, title: str,
             roc_labels: Sequence[str] | None, figures: Mapping[str, str | Path] | None
             ) -> tuple[dict[str, Path], list[str]]:
    """ROC and label-efficiency plots drawn here, plus the given PNGs copied in; (made, missing)."""
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
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
    return made, missing


METHODS = [
    "- AUROC and AUPRC (average precision) from scikit-learn; macro = mean over labels with both "
    "classes in the reference's test set.",
    "- 95% CIs: percentile bootstrap resampling *patients* with replacement (all records of a drawn "
    "patient come along); all models share the resamples, so Δ CIs are paired.",
    "- p-values respect repeated ECGs per patient: one label → DeLong's test clustered by patient "
    "(Obuchowski 1997; plain DeLong when every patient has one ECG); several labels → paired "
    "patient bootstrap of the macro-AUROC difference. Two-sided.",
    f"- Holm's step-down adjustment over every p-value in this report (vs-reference rows and "
    f"contrasts); a finding is called significant when the adjusted p < {ALPHA:g}.",
    "- Tables: `comparison.csv`, `contrasts.csv`, `per_label.csv`.",
]


def write_report(out_dir: str | Path, results: Sequence[ModelResult],
                 figures: Mapping[str, str | Path] | None = None,
                 reference: int | str | None = None, title: str = "ecgimg comparison",
                 n_boot: int = 1000, seed: int = 0, roc_labels: Sequence[str] | None = None,
                 threshold_rule: str | None = None, threshold_target: float = 0.9,
                 notes: Sequence[str] = (), contrasts: Sequence[tuple[str, str]] = (),
                 intro: Sequence[str] = ()) -> ReportFiles:
    """Write report.md, comparison.csv, contrasts.csv, per_label.csv and figures/*.png.

    `figures` maps a caption to an existing PNG (copied next to the report); ROC and
    label-efficiency figures are drawn here. `intro` paragraphs (task, label, budgets, why the
    reference) open the report; `notes` go under Methods; `contrasts` are (model, baseline) pairs.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = compare_results(results, reference, n_boot, seed, threshold_rule=threshold_rule,
                             threshold_target=threshold_target, contrasts=contrasts)
    comparison_csv = out_dir / "comparison.csv"
    per_label_csv = out_dir / "per_label.csv"
    tables.comparison.to_csv(comparison_csv, index=False)
    tables.per_label.to_csv(per_label_csv, index=False)
    tables.contrasts.to_csv(out_dir / "contrasts.csv", index=False)
    made, missing = _figures(out_dir, results, tables, title, roc_labels, figures)

    comp = tables.comparison
    lines = [f"# {title}", "", *[f"{paragraph}\n" for paragraph in intro],
             f"Reference model: **{tables.reference}**. Test set: {int(comp['n_records'].iloc[0])} "
             f"records of {int(comp['n_patients'].iloc[0])} patients (of the reference); positives "
             f"{_prevalence(tables)}. Bootstrap: {n_boot} patient resamples, seed {seed}.", "",
             "## Comparison with the reference", "", _comparison_markdown(comp), ""]
    if len(tables.contrasts):
        lines += ["## Pretraining and method contrasts (same label fraction)", "",
                  _contrast_markdown(tables.contrasts), ""]
    lines += ["## Findings", "", *findings(tables), "",
              "## Per label", "", _per_label_markdown(tables.per_label), "", "## Figures", ""]
    for caption, path in made.items():
        lines += [f"**{caption}**", "", f"![{caption}]({path.relative_to(out_dir).as_posix()})", ""]
    lines += ["## Methods", "", *METHODS]
    if threshold_rule:
        lines.append(f"- Thresholds chosen on validation by {threshold_rule} >= "
                     f"{threshold_target}, applied to test.")
    lines += [f"- {n}" for n in notes]
    if tables.warnings or missing:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in tables.warnings + missing]
    report_md = out_dir / "report.md"
    report_md.write_text("\n".join(lines) + "\n")
    return ReportFiles(report_md, comparison_csv, per_label_csv, made)
