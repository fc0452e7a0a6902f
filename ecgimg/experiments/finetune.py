"""`ecgimg finetune`: supervised training at nested label fractions with a learning-rate sweep.

For each label fraction (a patient-level subset of the training split, nested across fractions)
and each learning rate, one engine run; the run with the best monitored validation value (the
MAE paper: lowest validation loss) is kept, scored on the evaluation split, and its predictions
are saved (`predictions/<name>_f<fraction>.csv` + JSON sidecar) for `ecgimg compare`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgimg.experiments import sources
from ecgimg.experiments.compare import VAL_DIR
from ecgimg.experiments.common import (build_seeded, describe, engine_config,
                                       predictions_from_outputs, start_run)
from ecgimg.experiments.models import build_classifier, input_key
from ecgimg.experiments.schema import ExperimentConfig, modality_of


@dataclass
class FractionResult:
    label_fraction: float
    lr: float
    best_value: float
    checkpoint: Path
    predictions: Path
    n_train_records: int
    n_train_patients: int


def pretraining_label(cfg: ExperimentConfig) -> str:
    if cfg.finetune.pretraining:
        return cfg.finetune.pretraining
    return "pretrained" if cfg.model.init else "none"


def auroc_metric(key: str):
    """`metrics_fn` for the engine: macro AUROC on the validation loader as "val_auroc", so
    `train.monitor=val_auroc train.monitor_mode=max` can pick checkpoints by AUROC."""
    from ecgimg.evaluate.metrics import label_metrics
    from ecgimg.train import predict

    def metrics_fn(model, loader) -> dict:
        outputs = predict(model, loader, input_key=key)
        return {"val_auroc": label_metrics(outputs["target"], outputs["output"]).macro_auroc}
    return metrics_fn


def sweep_fraction(cfg: ExperimentConfig, cache, train_idx: np.ndarray, val_set, n_classes: int,
                   out_dir: Path):
    """The engine's LR sweep on one labelled subset: a fresh classifier per learning rate, same
    data order, best by `train.monitor`; returns the engine's SweepResult."""
    from ecgimg.train import lr_sweep, make_loader
    from ecgimg.train.objectives import supervised_bce

    steps = fraction_steps(cfg, len(train_idx))
    train_idx = sources.repeat_to_batches(train_idx, cfg.data.batch_size,
                                          cfg.finetune.min_epoch_batches)
    train_set = sources.supervised_dataset(cfg, cache, train_idx, train=True)
    train_loader = make_loader(train_set, cfg.data.batch_size, shuffle=True, seed=cfg.seed,
                               num_workers=loader_workers(cfg, train_set),
                               drop_last=len(train_set) > cfg.data.batch_size)
    val_loader = make_loader(val_set, cfg.data.eval_batch_size, shuffle=False, seed=cfg.seed,
                             num_workers=loader_workers(cfg, val_set))
    metrics_fn = auroc_metric(input_key(cfg)) if cfg.train.monitor == "val_auroc" else None
    # every learning rate starts from the same seeded initialisation
    return lr_sweep(lambda: build_seeded(cfg, build_classifier, cfg, n_classes), train_loader,
                    val_loader, engine_config(cfg, out_dir, len(train_loader), max_steps=steps),
                    lrs=tuple(cfg.finetune.lrs), objective=supervised_bce(input_key=input_key(cfg)),
                    metrics_fn=metrics_fn)


def fraction_steps(cfg: ExperimentConfig, n_labelled: int) -> int | None:
    """Optimiser steps for one labelled subset: `train.max_steps`, capped at `finetune.max_epochs`
    passes over the subset, so a 1% subset does not spend the budget of the full set on
    memorising a few dozen ECGs."""
    steps = cfg.train.max_steps
    if cfg.finetune.max_epochs is None:
        return steps
    by_epochs = max(1, math.ceil(cfg.finetune.max_epochs * n_labelled / cfg.data.batch_size))
    return by_epochs if steps is None else min(steps, by_epochs)


def loader_workers(cfg: ExperimentConfig, dataset) -> int:
    """Banked pages and signals load in this process (a memory-map read); fresh renders use the
    configured DataLoader workers."""
    from ecgimg.data.images import RenderedImages
    return cfg.data.num_workers if isinstance(dataset, RenderedImages) else 0


def predict_split(cfg: ExperimentConfig, model, cache, dataset, class_names: list[str],
                  meta: dict):
    """Scores of `model` on an evaluation dataset as Predictions (ids, labels, sigmoid scores).

    Scored in fp32 whatever `train.precision`: bf16 logits keep 8 bits and would tie scores."""
    import torch

    from ecgimg.train import make_loader, predict

    loader = make_loader(dataset, cfg.data.eval_batch_size, shuffle=False, seed=cfg.seed,
                         num_workers=loader_workers(cfg, dataset))
    if cfg.train.channels_last:  # the layout it trained in, and faster convolutions
        model = model.to(memory_format=torch.channels_last)
    outputs = predict(model, loader, input_key=input_key(cfg))
    return predictions_from_outputs(outputs, cache, class_names, meta)


def run_finetune(cfg: ExperimentConfig) -> Path:
    """Fine-tune at every label fraction (LR sweep each), save test and validation predictions."""
    from dataclasses import replace

    from ecgimg.evaluate.predictions import save_predictions
    from ecgimg.weights import load_weights

    run = start_run(cfg, "finetune")
    cache = sources.open_cache(cfg)
    class_names, _ = sources.class_targets(cache, cfg.data.task)
    subsets = sources.label_subsets(cache, cfg.data.task, cfg.finetune.label_fractions,
                                    cfg.finetune.fraction_seed)
    val_idx = sources.split_indices(cache, "val", cfg.data.task)
    eval_idx = sources.split_indices(cache, cfg.eval.split, cfg.data.task)
    # built once: every fraction and learning rate is validated and scored on the same pages
    val_set = sources.supervised_dataset(cfg, cache, val_idx, train=False)
    eval_set = sources.supervised_dataset(cfg, cache, eval_idx, train=False)
    patients = cache.index["patient_id"].astype(str).to_numpy()
    results: list[FractionResult] = []
    for fraction in sorted(subsets):
        train_idx = subsets[fraction]
        sweep = sweep_fraction(cfg, cache, train_idx, val_set, len(class_names),
                               run / f"fraction_{fraction:g}")
        lr, value, checkpoint = sweep.best_lr, float(sweep.best.best_value), sweep.best.best_checkpoint
        if checkpoint is None:
            raise RuntimeError(f"{run}: the engine saved no best checkpoint for fraction {fraction:g}")
        # the whole classifier comes from the checkpoint: skip re-loading the pretrained encoder
        model = build_classifier(replace(cfg, model=replace(cfg.model, init=None)), len(class_names))
        load_weights(model, checkpoint)
        meta = {"model": cfg.name, "modality": modality_of(cfg.model),
                "pretraining": pretraining_label(cfg), "label_fraction": fraction,
                "split": cfg.eval.split, "architecture": cfg.model.name, "lr": lr,
                "monitor": cfg.train.monitor, "best_value": value,
                "n_train_records": int(len(train_idx)),
                "n_train_patients": int(len(np.unique(patients[train_idx]))),
                "checkpoint": str(checkpoint), **describe(cfg)}
        preds = predict_split(cfg, model, cache, eval_set, class_names, meta)
        file_name = f"{cfg.name}_f{fraction:g}.csv"
        path = save_predictions(run / "predictions" / file_name, preds)
        # validation scores too, so thresholds can be chosen on validation at comparison time
        val_preds = predict_split(cfg, model, cache, val_set, class_names, {**meta, "split": "val"})
        save_predictions(run / "predictions" / VAL_DIR / file_name, val_preds)
        results.append(FractionResult(fraction, lr, value, checkpoint, path, meta["n_train_records"],
                                      meta["n_train_patients"]))
        print(f"[finetune {cfg.name}] fraction {fraction:g}: {meta['n_train_records']} records / "
              f"{meta['n_train_patients']} patients, best lr {lr:g} ({cfg.train.monitor} "
              f"{value:.4f}) -> {path}", flush=True)
    (run / "summary.json").write_text(json.dumps(
        [{k: str(v) if isinstance(v, Path) else v for k, v in r.__dict__.items()} for r in results],
        indent=2) + "\n")
    return run
