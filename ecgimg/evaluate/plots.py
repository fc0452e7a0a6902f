"""Report figures as PNG: ROC curves of several models, label-efficiency curves.

Uses matplotlib's object API with the Agg canvas (no pyplot global state), so it runs headless and
from worker processes.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from .predictions import Predictions

MACRO = "macro"
_FPR_GRID = np.linspace(0.0, 1.0, 201)


def _roc_on_grid(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    fpr, tpr, _ = roc_curve(y, s)
    return np.interp(_FPR_GRID, fpr, tpr)


def macro_roc(preds: Predictions) -> tuple[np.ndarray, np.ndarray, float]:
    """Macro ROC: TPR of every two-class label interpolated on one FPR grid and averaged.

    Returns (fpr, tpr, macro AUROC = mean of per-label AUROCs, as in the tables).
    """
    tprs, aucs = [], []
    for k in range(preds.y_true.shape[1]):
        y = preds.y_true[:, k]
        if 0 < y.sum() < len(y):
            tprs.append(_roc_on_grid(y, preds.y_score[:, k]))
            aucs.append(roc_auc_score(y, preds.y_score[:, k]))
    if not tprs:
        return _FPR_GRID, np.full_like(_FPR_GRID, np.nan), float("nan")
    tpr = np.mean(tprs, axis=0)
    tpr[0] = 0.0
    return _FPR_GRID, tpr, float(np.mean(aucs))


def _save(fig: Figure, out_path: str | Path) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out_path, dpi=110)
    return out_path


def plot_roc_curves(models: Mapping[str, Predictions], out_path: str | Path,
                    labels: Sequence[str] = (MACRO,), title: str = "ROC curves") -> Path:
    """One panel per entry of `labels` (a class name or "macro"), all models on each panel."""
    if not models:
        raise ValueError("no models to plot")
    n_panels = len(labels)
    n_cols = min(3, n_panels)
    n_rows = math.ceil(n_panels / n_cols)
    fig = Figure(figsize=(4.2 * n_cols, 4.0 * n_rows + 0.4), layout="constrained")
    fig.suptitle(title)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, label in zip(axes, labels):
        for name, preds in models.items():
            if label == MACRO:
                fpr, tpr, auc = macro_roc(preds)
            else:
                if label not in preds.class_names:
                    raise ValueError(f"model {name!r} has no class {label!r}")
                k = preds.class_names.index(label)
                y, s = preds.y_true[:, k], preds.y_score[:, k]
                if not 0 < y.sum() < len(y):
                    continue  # single class: no curve
                fpr, tpr, _ = roc_curve(y, s)
                auc = roc_auc_score(y, s)
            ax.plot(fpr, tpr, lw=1.6, label=f"{name} ({auc:.3f})")
        ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="0.6")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="sensitivity",
               title=f"{label} (AUROC)" if label != MACRO else "macro average (AUROC)",
               aspect="equal")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=7)
        else:
            ax.text(0.5, 0.5, "single class: no ROC", ha="center", transform=ax.transAxes)
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return _save(fig, out_path)


def plot_label_efficiency(table: pd.DataFrame, out_path: str | Path, metric: str = "auroc",
                          title: str = "Label efficiency") -> Path:
    """Metric vs label fraction (log x) per model, with CI error bars.

    `table` needs columns model, label_fraction, `metric`, and optionally `metric`_lo/_hi.
    """
    missing = {"model", "label_fraction", metric} - set(table.columns)
    if missing:
        raise ValueError(f"label-efficiency table lacks columns {sorted(missing)}")
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    names = list(dict.fromkeys(table["model"]))  # input order: same colours as the ROC figure
    for i, name in enumerate(names):
        rows = table[table["model"] == name].sort_values("label_fraction")
        dodge = 1 + 0.03 * (i - (len(names) - 1) / 2)  # keep error bars of models apart
        x = rows["label_fraction"].to_numpy(float) * 100 * dodge
        y = rows[metric].to_numpy(float)
        lo_col, hi_col = f"{metric}_lo", f"{metric}_hi"
        if lo_col in rows and hi_col in rows:
            err = np.vstack([y - rows[lo_col].to_numpy(float), rows[hi_col].to_numpy(float) - y])
            err = np.nan_to_num(np.clip(err, 0, None))
        else:
            err = None
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, lw=1.5, label=name)
    ax.set_xscale("log")
    fractions = np.sort(table["label_fraction"].unique()) * 100
    ax.set_xticks(fractions, [f"{f:g}%" for f in fractions])
    ax.minorticks_off()
    ax.set(xlabel="labelled training data (% of patients)", ylabel=f"macro {metric.upper()}",
           title=title)
    ax.axhline(0.5, ls="--", lw=0.8, color="0.6")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out_path)
