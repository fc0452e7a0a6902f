"""`ecgimg evaluate`: score a trained classifier (`model.init=CHECKPOINT`) on one split.

Writes `<run>/predictions/<name>.csv` (+ sidecar) and `<run>/metrics.json` (macro and per-label
AUROC / AUPRC with patient-bootstrap 95% CIs), so the model can join any later comparison.
"""
from __future__ import annotations

import json
from pathlib import Path

from ecgimg.experiments import sources
from ecgimg.experiments.common import describe, start_run
from ecgimg.experiments.finetune import pretraining_label, predict_split
from ecgimg.experiments.models import build_classifier
from ecgimg.experiments.schema import ExperimentConfig, modality_of


def run_evaluate(cfg: ExperimentConfig) -> Path:
    from dataclasses import replace

    from ecgimg.evaluate.predictions import save_predictions
    from ecgimg.weights import load_weights

    if not cfg.model.init:
        raise ValueError("ecgimg evaluate needs the trained weights: model.init=PATH "
                         "(a fine-tuning best.pt or .safetensors)")
    run = start_run(cfg, "evaluate")
    cache = sources.open_cache(cfg)
    class_names, _ = sources.class_targets(cache, cfg.data.task)
    model = build_classifier(replace(cfg, model=replace(cfg.model, init=None)), len(class_names))
    load_weights(model, cfg.model.init)  # strict: the whole classifier, head included
    indices = sources.split_indices(cache, cfg.eval.split, cfg.data.task)
    meta = {"model": cfg.name, "modality": modality_of(cfg.model),
            "pretraining": pretraining_label(cfg), "label_fraction": None,
            "split": cfg.eval.split, "architecture": cfg.model.name,
            "checkpoint": cfg.model.init, **describe(cfg)}
    dataset = sources.supervised_dataset(cfg, cache, indices, train=False)
    preds = predict_split(cfg, model, cache, dataset, class_names, meta)
    path = save_predictions(run / "predictions" / f"{cfg.name}.csv", preds)
    metrics = score(preds, n_boot=cfg.eval.n_boot, seed=cfg.seed)
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    print(f"[evaluate {cfg.name}] {cfg.eval.split}: macro AUROC {metrics['macro_auroc']:.3f} "
          f"[{metrics['macro_auroc_lo']:.3f}, {metrics['macro_auroc_hi']:.3f}] -> {path}", flush=True)
    return run


def score(preds, n_boot: int, seed: int) -> dict:
    """Macro / per-label AUROC and AUPRC with patient-bootstrap 95% CIs, as plain numbers."""
    from ecgimg.evaluate.comparison import ModelResult, compare_results

    meta = preds.meta
    tables = compare_results([ModelResult(str(meta.get("model")), str(meta.get("modality")),
                                          str(meta.get("pretraining")), 1.0, preds)],
                             n_boot=n_boot, seed=seed)
    row = tables.comparison.iloc[0]
    return {"macro_auroc": float(row["macro_auroc"]), "macro_auroc_lo": float(row["auroc_lo"]),
            "macro_auroc_hi": float(row["auroc_hi"]), "macro_auprc": float(row["macro_auprc"]),
            "n_records": int(row["n_records"]), "n_patients": int(row["n_patients"]),
            "per_label": tables.per_label.to_dict(orient="records"), "warnings": tables.warnings}
