"""`ecgimg pretrain`: self-supervised pretraining on the training split (labels unused).

MAE: a signal ViT reconstructs 75% masked 1×250 patches. BCL: an image CNN pulls together
different ECGs of one patient rendered in different layouts. SimCLR: the same, with two renders of
one ECG as the only positive. The encoder is exported to `<run>/encoder.safetensors` for
`ecgimg finetune model.init=...`; MAE runs also write a reconstruction figure. Every run writes
`<run>/pretrain_summary.json`: its best validation loss beside the loss of an encoder that learned
nothing, so a report can say whether the pretraining learned within its budget.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from ecgimg.experiments import sources
from ecgimg.experiments.common import build_seeded, engine_config, start_run
from ecgimg.experiments.models import build_pretrain_model, encoder_for_export
from ecgimg.experiments.schema import SIGNAL_OBJECTIVES, ExperimentConfig

ENCODER_FILE = "encoder.safetensors"
RECONSTRUCTION_STEM = "mae_reconstruction"  # -> mae_reconstruction_leads.png / _all.png


def contrastive_loader(cfg: ExperimentConfig, cache, indices: np.ndarray, *, train: bool) -> DataLoader:
    """Batches of patients x views of rendered pages; SimCLR's identity is the ECG itself.

    Training pages follow `sources.page_dataset` (fresh or banked); validation pages are fixed
    renders with one page per view, so a validation loss compares like with like across epochs.
    """
    from ecgimg.data.pairs import PatientViewSampler, ViewLoader
    from ecgimg.train.loaders import seed_worker

    index = cache.index.iloc[indices]
    if cfg.pretrain.objective == "bcl":
        identities, policy = index["patient_id"].astype(str).to_numpy(), "skip"
    else:
        identities, policy = index["record_id"].astype(str).to_numpy(), "repeat"
        if train and cfg.image.bank_views == 1:
            raise ValueError("simclr needs two different renders of one ECG: image.bank_views "
                             "must be 0 (fresh renders) or >= 2")
    recorded_at = index["recorded_at"].to_numpy() if "recorded_at" in index else None
    seed = cfg.seed if train else cfg.seed + 1

    def sampler_for(patients_per_batch: int) -> PatientViewSampler:
        return PatientViewSampler(identities, recorded_at=recorded_at,
                                  patients_per_batch=patients_per_batch,
                                  views_per_patient=cfg.image.views_per_patient, seed=seed,
                                  single_ecg_policy=policy)

    sampler = sampler_for(cfg.image.patients_per_batch)
    if len(sampler) == 0:  # a small (validation) split: one batch of every eligible identity
        sampler = sampler_for(len(sampler.groups))
    dataset = sources.page_dataset(cfg, cache, indices, train=train, task=None,
                                   views=cfg.image.views_per_patient)
    workers = cfg.data.num_workers if train and cfg.image.bank_views == 0 else 0
    return ViewLoader(dataset, batch_sampler=sampler, num_workers=workers,
                      worker_init_fn=seed_worker)


def _loaders(cfg: ExperimentConfig, cache):
    from ecgimg.train import make_loader

    train_idx = sources.split_indices(cache, "train")
    val_idx = sources.split_indices(cache, "val")
    if cfg.pretrain.objective in SIGNAL_OBJECTIVES:
        from ecgimg.data import SignalDataset
        train = make_loader(SignalDataset(cache, indices=train_idx), cfg.data.batch_size,
                            shuffle=True, seed=cfg.seed, num_workers=cfg.data.num_workers,
                            drop_last=len(train_idx) > cfg.data.batch_size)
        val = make_loader(SignalDataset(cache, indices=val_idx), cfg.data.eval_batch_size,
                          shuffle=False, seed=cfg.seed, num_workers=cfg.data.num_workers)
        return train, val
    return (contrastive_loader(cfg, cache, train_idx, train=True),
            contrastive_loader(cfg, cache, val_idx, train=False))


def run_pretrain(cfg: ExperimentConfig) -> Path:
    from ecgimg.train import fit
    from ecgimg.train.checkpoint import export_safetensors
    from ecgimg.weights import load_weights

    run = start_run(cfg, "pretrain")
    cache = sources.open_cache(cfg)
    train_loader, val_loader = _loaders(cfg, cache)
    model, objective = build_seeded(cfg, build_pretrain_model, cfg)
    result = fit(model, train_loader, val_loader, engine_config(cfg, run, len(train_loader)),
                 objective=objective)
    if result.best_checkpoint is not None:  # export the weights the monitor chose
        load_weights(model, result.best_checkpoint)
    export_safetensors(encoder_for_export(model), run / ENCODER_FILE,
                       metadata={"objective": cfg.pretrain.objective, "model": cfg.model.name})
    if cfg.pretrain.objective == "mae":
        mae_figure(model, cache, run)
    summary = pretrain_summary(cfg, model, val_loader, result)
    (run / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    chance = f" (chance {summary['chance_loss']:.4f})" if summary.get("chance_loss") else ""
    print(f"[pretrain {cfg.name}] {cfg.pretrain.objective}: best {cfg.train.monitor} "
          f"{result.best_value:.4f}{chance} -> {run / ENCODER_FILE}", flush=True)
    return run


SUMMARY_FILE = "pretrain_summary.json"


def pretrain_summary(cfg: ExperimentConfig, model, val_loader, result) -> dict:
    """Best validation figures and what an encoder that learned nothing would score.

    Contrastive (BCL/SimCLR): with equal similarities every other view of the batch is equally
    likely, so the loss is log(views - 1) and top-1 retrieval (positives per anchor)/(views - 1).
    MAE: predicting zero for every masked patch, i.e. the mean square of the targets on the
    validation split (about 1 for z-scored leads). JEPA/BELL, or a monitor other than val_loss,
    have no such reference (None).
    """
    best = next((r for r in reversed(result.history) if r.get("best")), {})
    summary = {"objective": cfg.pretrain.objective, "monitor": cfg.train.monitor,
               "best_value": result.best_value, "best_epoch": best.get("epoch"),
               "val_top1": best.get("val_top1"), "chance_loss": None, "chance_top1": None}
    if cfg.train.monitor != "val_loss":  # the reference below is a loss
        return summary
    if cfg.pretrain.objective not in SIGNAL_OBJECTIVES:  # BCL / SimCLR
        views = cfg.image.patients_per_batch * cfg.image.views_per_patient
        summary["chance_loss"] = math.log(views - 1)
        summary["chance_top1"] = (cfg.image.views_per_patient - 1) / (views - 1)
    elif cfg.pretrain.objective == "mae" and val_loader is not None:
        summary["chance_loss"] = zero_prediction_mse(model, val_loader)
    return summary


def zero_prediction_mse(mae, loader) -> float:
    """Masked-patch MSE of predicting zero everywhere: the mean square of the MAE's targets."""
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            signal = batch["signal"].float().to(next(mae.parameters()).device)
            target = mae.patch_targets(mae.encoder.normalize(signal))
            total += float((target ** 2).mean(dim=-1).sum())
            count += target.shape[0] * target.shape[1]
    return total / max(count, 1)


def mae_figure(model, cache, run: Path) -> Path:
    """Original / masked / reconstructed ECG of one test record, as the MAE paper shows it."""
    import torch

    from ecgimg.evaluate.reconstruction import reconstruction_figure

    row = int(sources.split_indices(cache, "test")[0])
    signal = torch.from_numpy(np.array(cache.signals[row], dtype=np.float32))  # copy: memmap is read-only
    model.eval()
    return reconstruction_figure(model, signal, run, seed=0, stem=RECONSTRUCTION_STEM)
