"""Figures are real PNGs of the expected size; bad tables fail clearly."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from ecgimg.evaluate.plots import macro_roc, plot_label_efficiency, plot_roc_curves
from ecgimg.evaluate.predictions import Predictions


def _preds(noise, seed=0, n=200):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 2)) < 0.3).astype(int)
    return Predictions(np.arange(n), np.arange(n) // 2, ["AF", "LVSD"], y,
                       y + noise * rng.normal(size=(n, 2)))


def test_roc_png_with_panels(tmp_path):
    out = plot_roc_curves({"good": _preds(0.5), "weak": _preds(2.0)}, tmp_path / "roc.png",
                          labels=["macro", "AF", "LVSD"])
    img = imread(out)
    assert img.shape[0] > 300 and img.shape[1] > 3 * 300  # three panels side by side
    assert img[..., :3].std() > 0.05  # not blank


def test_macro_roc_is_monotone_and_matches_macro_auroc():
    fpr, tpr, auc = macro_roc(_preds(1.0))
    assert np.all(np.diff(tpr) >= -1e-12) and tpr[0] == 0 and tpr[-1] == pytest.approx(1)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc, abs=0.02)


def test_roc_rejects_unknown_label(tmp_path):
    with pytest.raises(ValueError, match="no class"):
        plot_roc_curves({"m": _preds(1.0)}, tmp_path / "x.png", labels=["HYP"])


def test_label_efficiency_png(tmp_path):
    table = pd.DataFrame({"model": ["a", "a", "b", "b"], "label_fraction": [0.1, 1.0, 0.1, 1.0],
                          "auroc": [0.7, 0.8, 0.6, 0.75], "auroc_lo": [0.65, 0.78, 0.55, 0.7],
                          "auroc_hi": [0.75, 0.82, 0.65, 0.8]})
    out = plot_label_efficiency(table, tmp_path / "eff.png")
    assert imread(out).shape[1] > 500
    with pytest.raises(ValueError, match="lacks columns"):
        plot_label_efficiency(table.drop(columns="auroc"), tmp_path / "bad.png")
