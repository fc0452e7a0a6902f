"""write_report writes every file, one comparison row per model and the documented p-values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgimg.evaluate.predictions import Predictions, save_predictions
from ecgimg.evaluate.comparison import ModelResult, compare_results
from ecgimg.evaluate.report import write_report
from ecgimg.evaluate.stats import clustered_delong_test, delong_test

N_BOOT = 200


def _results(tmp_path, classes=("NORM", "MI", "HYP"), n=240, seed=0):
    rng = np.random.default_rng(seed)
    pid = np.arange(n) // 2
    y = (rng.random((n // 2, len(classes))) < 0.3).astype(int)[pid]
    out = []
    for name, modality, pretraining, noise in (("vit-mae", "signal", "mae", 0.8),
                                               ("cnn-bcl", "image", "bcl", 1.2)):
        for fraction in (0.1, 1.0):
            s = y + noise * (1.5 if fraction < 1 else 1.0) * rng.normal(size=y.shape)
            p = Predictions([f"r{i}" for i in range(n)], pid, list(classes), y, s,
                            {"model": name, "label_fraction": fraction})
            path = save_predictions(tmp_path / "preds" / f"{name}_{fraction}.csv", p)
            out.append(ModelResult(name, modality, pretraining, fraction, path))
    return out


def test_report_writes_all_files_and_rows(tmp_path):
    results = _results(tmp_path)
    sheet = tmp_path / "contact_sheet.png"
    from ecgimg.evaluate.plots import plot_roc_curves
    plot_roc_curves({"x": results[0].load()}, sheet)  # any PNG stands in for the sheet
    files = write_report(tmp_path / "report", results, reference="vit-mae", n_boot=N_BOOT,
                         figures={"rendered training images": sheet,
                                  "MAE reconstruction": tmp_path / "missing.png"})
    for path in (files.report_md, files.comparison_csv, files.per_label_csv):
        assert path.is_file()
    comp = pd.read_csv(files.comparison_csv)
    assert len(comp) == 4 and comp["is_reference"].sum() == 1
    ref = comp[comp["is_reference"]].iloc[0]
    assert (ref["model"], ref["label_fraction"]) == ("vit-mae", 1.0)
    assert (comp["auroc_lo"] <= comp["macro_auroc"]).all()
    assert (comp["macro_auroc"] <= comp["auroc_hi"]).all()
    others = comp[~comp["is_reference"]]
    assert others["p_value"].between(0, 1).all()
    assert set(others["p_method"]) == {"paired patient bootstrap (macro)"}
    assert (others["p_holm"] >= others["p_value"]).all()
    assert len(pd.read_csv(files.per_label_csv)) == 4 * 3
    text = files.report_md.read_text()
    for name in ("figures/roc.png", "figures/label_efficiency.png", "figures/contact_sheet.png"):
        assert f"]({name})" in text and (tmp_path / "report" / name).is_file()
    assert "missing.png not found" in text
    assert text.count("| vit-mae") >= 2 and "0.1" in text


def test_single_label_task_uses_delong_clustered_by_patient(tmp_path):
    results = _results(tmp_path, classes=("LVSD",))  # two ECGs per patient
    tables = compare_results(results, reference=0, n_boot=N_BOOT)
    row = tables.comparison.iloc[3]
    assert row["p_method"] == "DeLong, clustered by patient"
    a, b = results[3].load(), results[0].load()
    expected = clustered_delong_test(a.y_true[:, 0], a.y_score[:, 0], b.y_score[:, 0],
                                     a.patient_ids).p_value
    assert row["p_value"] == pytest.approx(expected)
    assert tables.per_label["p_delong"].iloc[3] == pytest.approx(expected)
    assert row["p_value"] != pytest.approx(
        delong_test(a.y_true[:, 0], a.y_score[:, 0], b.y_score[:, 0]).p_value)


def test_single_label_one_ecg_per_patient_uses_plain_delong(tmp_path):
    results = [ModelResult(r.name, r.modality, r.pretraining, r.label_fraction,
                           r.load().subset(np.arange(0, 240, 2)))
               for r in _results(tmp_path, classes=("LVSD",))]
    tables = compare_results(results, reference=0, n_boot=N_BOOT)
    row = tables.comparison.iloc[3]
    a, b = results[3].load(), results[0].load()
    assert row["p_method"] == "DeLong"
    assert row["p_value"] == pytest.approx(
        delong_test(a.y_true[:, 0], a.y_score[:, 0], b.y_score[:, 0]).p_value)


def test_contrasts_holm_and_findings(tmp_path):
    from ecgimg.evaluate.report import findings
    results = _results(tmp_path, classes=("LVSD",))
    tables = compare_results(results, reference="vit-mae", n_boot=N_BOOT,
                             contrasts=[("cnn-bcl", "vit-mae"), ("cnn-bcl", "nobody")])
    contrasts = tables.contrasts
    assert list(contrasts["label_fraction"]) == [0.1, 1.0]
    at_one = contrasts.iloc[1]
    vs_ref = tables.comparison.iloc[3]  # cnn-bcl @ 1 vs the reference vit-mae @ 1: same pair
    assert at_one["p_value"] == pytest.approx(vs_ref["p_value"])
    assert at_one["delta"] == pytest.approx(vs_ref["delta_auroc_vs_ref"])
    assert at_one["delta_lo"] <= at_one["delta"] <= at_one["delta_hi"]
    p_all = np.r_[tables.comparison["p_value"], contrasts["p_value"]]
    holm_all = np.r_[tables.comparison["p_holm"], contrasts["p_holm"]]
    finite = np.isfinite(p_all)
    assert (holm_all[finite] >= p_all[finite]).all() and np.isnan(holm_all[~finite]).all()
    assert any("no common label fraction" in w for w in tables.warnings)
    sentences = findings(tables)
    assert len(sentences) == 3 + 2  # three rows vs the reference, two contrasts
    assert all("ΔAUROC" in s and ("significant" in s) for s in sentences)


def test_unpaired_model_gets_a_warning_not_a_crash(tmp_path):
    results = _results(tmp_path)
    p = results[2].load().subset(np.arange(100))
    results[2] = ModelResult("cnn-bcl", "image", "bcl", 0.1, p)
    tables = compare_results(results, reference="vit-mae", n_boot=N_BOOT)
    assert np.isnan(tables.comparison.loc[2, "p_value"])
    assert np.isfinite(tables.comparison.loc[2, "macro_auroc"])
    assert any("not paired" in w for w in tables.warnings)


def test_thresholded_columns_from_validation(tmp_path):
    results = _results(tmp_path)
    results = [ModelResult(r.name, r.modality, r.pretraining, r.label_fraction, r.predictions,
                           val_predictions=r.predictions) for r in results]
    tables = compare_results(results, n_boot=N_BOOT, threshold_rule="specificity",
                             threshold_target=0.9)
    assert (tables.per_label["thr_specificity"] >= 0.9 - 1e-12).all()  # val == test here


def test_bad_reference_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="reference"):
        compare_results(_results(tmp_path), reference="resnet", n_boot=10)


def test_public_api_resolves():
    import ecgimg.evaluate as evaluate
    assert all(getattr(evaluate, name) is not None for name in evaluate.__all__)
    assert evaluate.write_report is write_report
    with pytest.raises(AttributeError):
        evaluate.no_such_name  # noqa: B018


def test_model_result_from_sidecar(tmp_path):
    path = _results(tmp_path)[0].predictions
    from ecgimg.evaluate.predictions import load_predictions
    p = load_predictions(path)
    p.meta.update(modality="signal", pretraining="mae")
    save_predictions(path, p)
    r = ModelResult.from_predictions(path)
    assert (r.name, r.modality, r.pretraining, r.label_fraction) == ("vit-mae", "signal", "mae", 0.1)
    p.meta.pop("modality")
    with pytest.raises(Exception, match="modality"):
        ModelResult.from_predictions(p)
