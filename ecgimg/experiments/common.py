"""Pieces every runner shares: the run directory and its record, engine settings, predictions."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ecgimg.config import save_run_record, to_dict
from ecgimg.experiments.schema import ExperimentConfig


def run_dir(cfg: ExperimentConfig) -> Path:
    return Path(cfg.out_dir) / cfg.name


def start_run(cfg: ExperimentConfig, stage: str) -> Path:
    """Create the run directory, save the resolved config, version and commit in it, and apply
    the process-wide settings (torch threads)."""
    apply_threads(cfg)
    return save_run_record(run_dir(cfg), cfg, extra={"stage": stage})


def apply_threads(cfg: ExperimentConfig) -> None:
    """torch intra-op threads of this process (`torch_threads`; 0 keeps torch's default)."""
    if cfg.torch_threads > 0:
        import torch
        torch.set_num_threads(cfg.torch_threads)


def build_seeded(cfg: ExperimentConfig, build, *args, **kwargs):
    """`build(*args, **kwargs)` right after seeding python/numpy/torch from ``cfg.seed``, so a
    model's random initialisation follows the seed (`fit` seeds only what happens inside it)."""
    from ecgimg.train import seed_everything
    seed_everything(cfg.seed)
    return build(*args, **kwargs)


def engine_config(cfg: ExperimentConfig, out_dir: Path, steps_per_epoch: int, **changes):
    """The engine's TrainConfig for one fit: run-specific out_dir and seed; when only `max_steps`
    is set, enough epochs to reach it."""
    train = cfg.train.replace(**changes) if changes else cfg.train
    epochs = train.epochs
    if train.max_steps is not None:
        epochs = max(1, math.ceil(train.max_steps / max(1, steps_per_epoch)))
    return train.replace(out_dir=str(out_dir), seed=cfg.seed, epochs=epochs)


def predictions_from_outputs(outputs: dict[str, np.ndarray], cache, class_names: list[str],
                             meta: dict):
    """Turn `ecgimg.train.predict` outputs (logits + dataset indices) into saved-form Predictions."""
    from ecgimg.evaluate.predictions import Predictions

    logits = outputs["output"].reshape(len(outputs["output"]), -1)
    scores = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    rows = outputs["index"].astype(np.int64)
    index = cache.index
    return Predictions(index["record_id"].astype(str).to_numpy()[rows],
                       index["patient_id"].astype(str).to_numpy()[rows], list(class_names),
                       outputs["target"].reshape(len(rows), -1), scores, dict(meta))


def describe(cfg: ExperimentConfig) -> dict:
    """Config facts that go into every predictions sidecar."""
    from ecgimg.evaluate.predictions import config_hash
    return {"config_hash": config_hash(to_dict(cfg)), "task": cfg.data.task,
            "data_source": cfg.data.source}
