"""`ecgimg compare`: a report from saved prediction files alone (no model, no retraining)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgimg.cli import main
from ecgimg.evaluate.predictions import Predictions, save_predictions
from ecgimg.experiments.compare import find_prediction_files, model_results, run_compare


def fake_predictions(name, fraction, skill, seed, n_patients=40, per_patient=2):
    rng = np.random.default_rng(seed)
    patients = np.repeat([f"p{i:03d}" for i in range(n_patients)], per_patient)
    records = np.array([f"r{i:04d}" for i in range(len(patients))])
    y = (np.random.default_rng(0).random(len(records)) < 0.4).astype(int)  # same truth for all
    score = skill * y + rng.normal(size=len(y))
    meta = {"model": name, "modality": "signal" if "vit" in name else "image",
            "pretraining": "mae" if "mae" in name else "none", "label_fraction": fraction,
            "split": "test"}
    return Predictions(records, patients, ["lvsd"], y[:, None], score[:, None], meta)


@pytest.fixture
def runs(tmp_path):
    for name, skill in (("cnn_scratch", 1.0), ("vit_mae", 2.0)):
        for fraction in (0.1, 1.0):
            file_name = f"{name}_f{fraction:g}.csv"
            preds_dir = tmp_path / name / "predictions"
            save_predictions(preds_dir / file_name,
                             fake_predictions(name, fraction, skill * fraction ** 0.3, seed=1))
            save_predictions(preds_dir / "val" / file_name,
                             fake_predictions(name, fraction, skill, seed=2))
    return tmp_path


def test_finds_test_predictions_and_pairs_validation(runs):
    files = find_prediction_files([runs])
    assert len(files) == 4 and all(f.parent.name == "predictions" for f in files)
    results = model_results(files)
    assert [(r.name, r.label_fraction) for r in results] == [
        ("cnn_scratch", 0.1), ("cnn_scratch", 1.0), ("vit_mae", 0.1), ("vit_mae", 1.0)]
    assert all(r.val_predictions is not None for r in results)


def test_report_from_saved_predictions(runs, tmp_path):
    report = run_compare([runs], tmp_path / "report", reference="cnn_scratch", n_boot=200)
    text = report.read_text()
    assert "| vit_mae |" in text and "cnn_scratch (ref)" in text
    table = pd.read_csv(report.parent / "comparison.csv")
    assert len(table) == 4
    better = table[(table.model == "vit_mae") & (table.label_fraction == 1.0)].iloc[0]
    assert better.macro_auroc > table[table.is_reference].iloc[0].macro_auroc
    assert better.auroc_lo <= better.macro_auroc <= better.auroc_hi
    assert (report.parent / "figures" / "roc.png").is_file()
    assert (report.parent / "figures" / "label_efficiency.png").is_file()
    per_label = pd.read_csv(report.parent / "per_label.csv")
    assert "thr_sensitivity" in per_label  # thresholds chosen on the paired validation files


def test_compare_cli(runs, tmp_path, capsys):
    out = tmp_path / "cli_report"
    assert main(["compare", str(runs), "-o", str(out), "--n-boot", "50"]) == 0
    assert (out / "report.md").is_file() and "report:" in capsys.readouterr().out


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_prediction_files([tmp_path / "nowhere"])
    with pytest.raises(FileNotFoundError, match="no prediction files"):
        find_prediction_files([tmp_path])
