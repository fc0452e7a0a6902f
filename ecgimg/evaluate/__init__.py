"""Evaluation: metrics, patient-level statistics, saved predictions, plots and the comparison report.

Names are imported lazily so `import ecgimg.evaluate` stays cheap (matplotlib loads on first use).
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "metrics": ("LabelMetrics", "label_metrics", "choose_threshold", "thresholded_metrics",
                "thresholded_table"),
    "stats": ("DeLongResult", "delong_components", "delong_test", "BootstrapDistribution",
              "patient_bootstrap", "macro_replicates", "percentile_ci",
              "paired_bootstrap_p_value", "clustered_delong_test", "holm_adjust"),
    "predictions": ("Predictions", "PredictionFileError", "save_predictions", "load_predictions",
                    "align_predictions", "config_hash"),
    "label_efficiency": ("nested_label_fractions",),
    "plots": ("plot_roc_curves", "plot_label_efficiency", "macro_roc"),
    "comparison": ("ModelResult", "ComparisonTables", "compare_results"),
    "report": ("ReportFiles", "write_report", "findings"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'ecgimg.evaluate' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
