"""End-to-end miniature of `ecgimg demo` (tiny cohort, a few steps per stage, 64 px images), then
`ecgimg evaluate` and `ecgimg compare` on its outputs. One demo run is shared by the module."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import yaml

from ecgimg.cli import main

ARMS = ["vit_mae", "vit_scratch", "cnn_scratch", "image_bcl", "image_simclr", "image_scratch"]
PRETRAIN = ["pretrain_mae", "pretrain_bcl", "pretrain_simclr"]
SIGNAL_VIT = "{embed_dim: 32, depth: 1, num_heads: 2}"
MINI = ["torch_threads=1", "data.n_patients=40", "data.ecgs_per_patient=3", "data.batch_size=8",
        "data.eval_batch_size=32", "image.image_size=64", "image.patients_per_batch=4",
        "image.bank_views=2", "finetune.min_epoch_batches=1", "demo.gallery_images=4",
        "eval.n_boot=50", "train.warmup_steps=0", "train.report_every_s=0",
        *[f"demo.stages.{stage}.train.max_steps=2" for stage in PRETRAIN + ARMS],
        "demo.stages.pretrain_mae.model.kwargs={embed_dim: 32, depth: 1, num_heads: 2, "
        "decoder_embed_dim: 32, decoder_depth: 1, decoder_num_heads: 2}",
        *[f"demo.stages.{arm}.model.kwargs={SIGNAL_VIT}" for arm in ("vit_mae", "vit_scratch")],
        "demo.stages.cnn_scratch.model.kwargs={spatial_channels: 8, feature_dim: 16, hidden_dim: 8}",
        *[f"demo.stages.{stage}.model.name=timm:test_resnet"
          for stage in ("pretrain_bcl", "pretrain_simclr", "image_bcl", "image_simclr",
                        "image_scratch")]]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    threads = torch.get_num_threads()  # the demo sets torch_threads=1 process-wide; restore it
    out = tmp_path_factory.mktemp("demo")
    try:
        assert main(["demo", f"out={out}", *MINI]) == 0
    finally:
        torch.set_num_threads(threads)
    return out / "demo"


def test_demo_writes_the_report_with_every_arm(demo_root):
    report = demo_root / "report" / "report.md"
    text = report.read_text()
    assert "## Comparison" in text and "cnn_scratch (ref)" in text
    table = pd.read_csv(demo_root / "report" / "comparison.csv")
    assert sorted(zip(table.model, table.label_fraction)) == sorted(
        (arm, f) for arm in ARMS for f in (0.1, 1.0))
    assert set(table.modality) == {"signal", "image"}
    assert set(table.pretraining) == {"mae", "bcl", "simclr", "none"}
    figures = demo_root / "report" / "figures"
    for name in ("roc.png", "label_efficiency.png", "contact_sheet.png",
                 "mae_reconstruction_leads.png", "mae_reconstruction_all.png"):
        assert (figures / name).stat().st_size > 1000, name
    assert "![Rendered training images" in text and "![MAE reconstruction" in text


def test_pretraining_is_scored_against_an_encoder_that_learned_nothing(demo_root):
    import math

    bcl = json.loads((demo_root / "pretrain_bcl" / "pretrain_summary.json").read_text())
    views = 4 * 2  # image.patients_per_batch x views_per_patient in MINI
    assert bcl["chance_loss"] == pytest.approx(math.log(views - 1))
    assert bcl["chance_top1"] == pytest.approx(1 / (views - 1))
    mae = json.loads((demo_root / "pretrain_mae" / "pretrain_summary.json").read_text())
    assert 0.8 < mae["chance_loss"] < 1.2  # z-scored leads: predicting zero scores about 1
    text = (demo_root / "report" / "report.md").read_text()
    assert "**Did pretraining learn?**" in text and "pretrain_bcl: best validation loss" in text
    # two steps teach the MAE nothing: the report must say so rather than credit it
    line = next(l for l in text.splitlines() if "**Did pretraining learn?**" in l)
    mae_sentence = line.split("pretrain_mae:")[1].split("pretrain_")[0]
    assert mae["best_value"] > 0.97 * mae["chance_loss"] and "did not learn" in mae_sentence


def test_the_report_says_when_a_pretraining_learned(tmp_path):
    from ecgimg.experiments.demo import _pretraining_result

    def sentence(best, chance=3.0):
        (tmp_path / "pretrain_summary.json").write_text(json.dumps(
            {"objective": "bcl", "best_value": best, "chance_loss": chance,
             "val_top1": 0.3, "chance_top1": 0.05}))
        return _pretraining_result("pretrain_bcl", tmp_path)

    assert "did not learn" in sentence(2.95) and "30.0%" in sentence(2.95)
    assert "did not learn" not in sentence(2.5)


def test_every_stage_saves_config_record_and_predictions(demo_root):
    for stage in ["pretrain_mae", "pretrain_bcl", "pretrain_simclr", *ARMS]:
        run = demo_root / stage
        config = yaml.safe_load((run / "config.yaml").read_text())
        record = json.loads((run / "run.json").read_text())
        assert config["name"] == stage and record["ecgimg_version"]
    for stage in ("pretrain_mae", "pretrain_bcl", "pretrain_simclr"):
        assert (demo_root / stage / "encoder.safetensors").is_file()
    for arm in ARMS:
        for fraction in ("0.1", "1"):
            test = pd.read_csv(demo_root / arm / "predictions" / f"{arm}_f{fraction}.csv")
            val = pd.read_csv(demo_root / arm / "predictions" / "val" / f"{arm}_f{fraction}.csv")
            assert {"record_id", "patient_id", "true_lvsd", "score_lvsd"} <= set(test.columns)
            assert set(test.patient_id).isdisjoint(val.patient_id)  # patient-disjoint splits
    small = json.loads((demo_root / "vit_scratch" / "predictions" / "vit_scratch_f0.1.json").read_text())
    full = json.loads((demo_root / "vit_scratch" / "predictions" / "vit_scratch_f1.json").read_text())
    assert small["n_train_patients"] < full["n_train_patients"]


@pytest.mark.parametrize("arm", ["cnn_scratch", "image_scratch"])
def test_evaluate_reproduces_the_saved_predictions(demo_root, arm, tmp_path):
    meta = json.loads((demo_root / arm / "predictions" / f"{arm}_f1.json").read_text())
    config = demo_root / arm / "config.yaml"
    threads = torch.get_num_threads()
    try:
        assert main(["evaluate", "-c", str(config), f"out={tmp_path}", f"name={arm}_eval",
                     f"model.init={meta['checkpoint']}"]) == 0
    finally:
        torch.set_num_threads(threads)
    again = pd.read_csv(tmp_path / f"{arm}_eval" / "predictions" / f"{arm}_eval.csv")
    saved = pd.read_csv(demo_root / arm / "predictions" / f"{arm}_f1.csv")
    assert list(again.record_id) == list(saved.record_id)
    assert again.score_lvsd.to_numpy() == pytest.approx(saved.score_lvsd.to_numpy(), abs=1e-5)
    metrics = json.loads((tmp_path / f"{arm}_eval" / "metrics.json").read_text())
    assert "macro_auroc" in metrics


def test_compare_rebuilds_the_report_from_two_runs(demo_root, tmp_path):
    out = tmp_path / "report"
    assert main(["compare", str(demo_root / "vit_mae"), str(demo_root / "cnn_scratch"),
                 "-o", str(out), "--reference", "cnn_scratch", "--n-boot", "20"]) == 0
    table = pd.read_csv(out / "comparison.csv")
    assert set(table.model) == {"vit_mae", "cnn_scratch"} and len(table) == 4


def test_predict_scans_with_a_finetuned_run(demo_root, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    scans = tmp_path / "scans"
    scans.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (220, 380, 3), dtype=np.uint8)).save(scans / f"s{i}.png")  # page-sized
    (scans / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "scores.csv"
    threads = torch.get_num_threads()
    try:
        assert main(["predict", str(scans), "--run", str(demo_root / "image_scratch"),
                     "-o", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    table = pd.read_csv(out, keep_default_na=False)
    assert len(table) == 4 and "prob_lvsd" in table
    broken = table[table.file == "broken.jpg"].iloc[0]
    assert broken.error != "" and broken.prob_lvsd == ""
    good = table[table.file != "broken.jpg"]
    assert ((good.prob_lvsd.astype(float) >= 0) & (good.prob_lvsd.astype(float) <= 1)).all()
    assert "1 unreadable" in capsys.readouterr().out


def test_signal_runs_are_refused_by_predict(demo_root, tmp_path, capsys):
    assert main(["predict", str(tmp_path), "--run", str(demo_root / "cnn_scratch"), "-o",
                 str(tmp_path / "x.csv")]) == 1  # one line on stderr, no traceback (issue 11)
    assert "is a signal model; predict needs an image model" in capsys.readouterr().err


def test_finetune_can_select_checkpoints_by_validation_auroc(demo_root, tmp_path):
    config = demo_root / "cnn_scratch" / "config.yaml"
    threads = torch.get_num_threads()
    try:  # sex: the mini cohort's 4 validation patients have both classes (none has lvsd)
        assert main(["finetune", "-c", str(config), f"out={tmp_path}", "name=by_auroc",
                     "task=sex", "finetune.label_fractions=[1.0]", "train.monitor=val_auroc",
                     "train.monitor_mode=max"]) == 0
    finally:
        torch.set_num_threads(threads)
    meta = json.loads((tmp_path / "by_auroc" / "predictions" / "by_auroc_f1.json").read_text())
    assert meta["monitor"] == "val_auroc" and 0.0 <= meta["best_value"] <= 1.0


@pytest.mark.parametrize("objective", ["jepa", "bell"])
def test_jepa_and_bell_pretrain_export_an_encoder_the_classifier_loads(demo_root, tmp_path, objective):
    from ecgimg.models import create_model

    config = demo_root / "pretrain_mae" / "config.yaml"
    small = "{embed_dim: 32, depth: 1, num_heads: 2}"
    extra = ("{predictor_dim: 16, predictor_depth: 1, predictor_heads: 2}" if objective == "jepa"
             else "{projector_dim: 8, hidden_dim: 16}")
    kwargs = small[:-1] + ", " + extra[1:]
    threads = torch.get_num_threads()
    try:
        assert main(["pretrain", "-c", str(config), f"out={tmp_path}", f"name={objective}",
                     f"pretrain.objective={objective}", f"model={objective}_ecg_vit_tiny_p250",
                     f"model.kwargs={kwargs}", "train.max_steps=2"]) == 0
    finally:
        torch.set_num_threads(threads)
    clf = create_model("ecg_vit_tiny_p250", num_classes=1, embed_dim=32, depth=1, num_heads=2)
    report = clf.load_pretrained(tmp_path / objective / "encoder.safetensors")
    assert report.loaded and not report.missing


def test_signal_objective_refuses_a_mismatched_model(demo_root, tmp_path, capsys):
    config = demo_root / "pretrain_mae" / "config.yaml"
    assert main(["pretrain", "-c", str(config), f"out={tmp_path}", "pretrain.objective=jepa"]) == 1
    assert "jepa pretraining needs a signal jepa_" in capsys.readouterr().err  # one line (issue 11)
