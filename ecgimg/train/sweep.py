"""Learning-rate sweep: one full run per learning rate, keep the best (the MAE paper's protocol)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ecgimg import distributed
from ecgimg.train.config import TrainConfig
from ecgimg.train.engine import FitResult, fit

PAPER_LRS = (1e-4, 3e-5, 1e-5)


@dataclass
class SweepResult:
    best_lr: float
    best: FitResult
    runs: dict[float, FitResult] = field(default_factory=dict)


def lr_sweep(build_model: Callable[[], torch.nn.Module], train_loader: Any, val_loader: Any,
             config: TrainConfig, lrs: tuple[float, ...] = PAPER_LRS, objective: Callable | None = None,
             metrics_fn: Callable | None = None) -> SweepResult:
    """Train a fresh `build_model()` per LR in `config.out_dir/lr_<lr>`; pick the best monitor value.

    Each run uses the same seed, data order and config apart from `lr`, so runs differ only in
    the learning rate. A summary is written to `config.out_dir/sweep.json`.
    """
    if not lrs:
        raise ValueError("lr_sweep needs at least one learning rate")
    runs: dict[float, FitResult] = {}
    for lr in lrs:
        run_config = config.replace(lr=float(lr), out_dir=str(Path(config.out_dir) / f"lr_{lr:g}"))
        runs[float(lr)] = fit(build_model(), train_loader, val_loader, run_config, objective=objective,
                              metrics_fn=metrics_fn)

    def score(item: tuple[float, FitResult]) -> float:
        value = item[1].best_value
        if value is None or not math.isfinite(value):
            return math.inf
        return value if config.monitor_mode == "min" else -value

    best_lr, best = min(runs.items(), key=score)
    if best.best_value is None:
        raise ValueError(f"no run produced a value for monitor {config.monitor!r}; give a val_loader")
    if distributed.is_main_process():
        summary = {"monitor": config.monitor, "mode": config.monitor_mode, "best_lr": best_lr,
                   "runs": {f"{lr:g}": {"best_value": r.best_value,
                                        "best_checkpoint": str(r.best_checkpoint) if r.best_checkpoint else None}
                            for lr, r in runs.items()}}
        Path(config.out_dir).mkdir(parents=True, exist_ok=True)
        (Path(config.out_dir) / "sweep.json").write_text(json.dumps(summary, indent=2))
    return SweepResult(best_lr=best_lr, best=best, runs=runs)
