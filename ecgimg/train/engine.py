"""The one training loop: model + objective + loaders + TrainConfig → checkpoints, logs, best model.

Knows nothing about ECGs or images. Per optimizer step: warm-up + cosine LR, gradient
accumulation (DDP gradient sync only on the last micro-batch), optional clipping, a guard that
stops on a non-finite loss. Per epoch: validation, best checkpoint by `config.monitor`, early
stopping. Single process or `torchrun --nproc_per_node N` (DDP, gloo on CPU / NCCL on CUDA).

Launch: `python script.py` (CPU or one GPU), `torchrun --nproc_per_node 4 script.py` (one node), or
`torchrun --nnodes 2 --node_rank R --nproc_per_node 4 --rdzv_backend c10d --rdzv_endpoint HOST:29500
script.py` (several nodes); the script is the same: build loaders with `make_loader`, call `fit`.

Resume is exact: checkpoints hold model, optimizer, scheduler, scaler, counters and every rank's
RNG states, and the data order of an epoch is a pure function of (seed, epoch) when the loader
comes from `make_loader` (or has a `DistributedSampler`), so a resumed run — even from a
mid-epoch checkpoint (`save_every_steps`) — sees the same batches and produces the same losses.
Mid-epoch exactness of *augmentations drawn inside DataLoader workers* is not guaranteed (the
workers restart with their epoch seed); with `num_workers=0` it is.
"""
from __future__ import annotations

import contextlib
import json
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ecgimg import distributed
from ecgimg.weights import load_checkpoint, load_state
from ecgimg.train.checkpoint import (CHECKPOINT_FORMAT, atomic_torch_save, capture_rng_state,
                                     check_resumable, latest_resumable, model_state_dict,
                                     remove_orphan_temp_files, restore_rng_state)
from ecgimg.train.config import TrainConfig
from ecgimg.train.loaders import iterate_from, set_loader_epoch
from ecgimg.train.logger import MetricsLogger
from ecgimg.train.objectives import loss_dict, model_loss
from ecgimg.train.predict import evaluate_loss
from ecgimg.train.runtime import (autocast_context, batch_size_of, build_optimizer, make_grad_scaler,
                                  move_to_device, resolve_device, resolve_precision)
from ecgimg.train.schedule import build_scheduler

# Config keys that do not change the trajectory of a run (may differ between a run and its resume).
_COSMETIC_KEYS = {"out_dir", "progress", "report_every_s", "log_every", "tensorboard", "save_every_epochs", "save_every_steps",
                  "device", "compile", "extra"}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN/inf: training stops rather than corrupting the weights."""

    def __init__(self, value: float, step: int, epoch: int, batch_in_epoch: int):
        super().__init__(
            f"non-finite loss ({value}) at epoch {epoch}, optimizer step {step}, batch {batch_in_epoch} "
            "of the epoch; lower the learning rate, set clip_grad_norm, or check the inputs for NaN/inf")
        self.value, self.step, self.epoch, self.batch_in_epoch = value, step, epoch, batch_in_epoch


@dataclass
class FitResult:
    best_checkpoint: Path | None
    best_value: float | None
    history: list[dict] = field(default_factory=list)  # one record per completed epoch
    last_checkpoint: Path | None = None


@dataclass
class _Progress:
    """Counters saved in every checkpoint so a resume knows exactly where it is."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed optimizer steps
    batch_in_epoch: int = 0  # micro-batches of the current epoch already consumed
    best_value: float | None = None
    bad_epochs: int = 0  # epochs since the monitor last improved
    epoch_loss_sum: float = 0.0
    epoch_batches: int = 0
    history: list[dict] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA); each rank offsets by its rank."""
    seed = seed + distributed.rank()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _all_ranks_finite(loss: torch.Tensor) -> bool:
    finite = torch.isfinite(loss.detach()).to(torch.int32)
    if distributed.is_distributed():  # a NaN on one rank must stop all ranks, not hang them
        flag = finite.reshape(1).to("cuda" if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        finite = flag[0]
    return bool(finite)


def _mean_across_ranks(values: dict[str, float]) -> dict[str, float]:
    if not distributed.is_distributed() or not values:
        return values
    keys = sorted(values)
    packed = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        packed = packed.cuda()
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    return {k: float(packed[i]) / distributed.world_size() for i, k in enumerate(keys)}


class _Trainer:
    """State of one `fit` call; methods are the loop's phases."""

    def __init__(self, model, train_loader, val_loader, config: TrainConfig, objective, metrics_fn):
        self.config, self.objective, self.metrics_fn = config, objective or model_loss, metrics_fn
        self.train_loader, self.val_loader = train_loader, val_loader
        self.device = resolve_device(config.device)
        self.precision = resolve_precision(config.precision, self.device)
        self.out_dir = Path(config.out_dir)
        self.model = model.to(self.device)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.model, config)
        sampler = getattr(train_loader, "sampler", None)
        if distributed.world_size() > 1 and getattr(sampler, "num_replicas", None) != distributed.world_size():
            warnings.warn(f"training under DDP with {distributed.world_size()} ranks but the train loader is not "
                          "sharded across them: every rank reads all data (build it with make_loader)",
                          stacklevel=3)
        self.n_batches = len(train_loader)
        if self.n_batches == 0:
            raise ValueError("the training loader yields no batches")
        self.steps_per_epoch = math.ceil(self.n_batches / config.grad_accum_steps)
        self.total_steps = config.max_steps or config.epochs * self.steps_per_epoch
        self.n_epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        warmup = (round(config.warmup_epochs * self.steps_per_epoch) if config.warmup_epochs is not None
                  else config.warmup_steps)
        self.scheduler = build_scheduler(self.optimizer, config.lr, warmup, self.total_steps, config.min_lr)
        self.scaler = make_grad_scaler(self.precision, self.device)
        self.progress = _Progress()
        self.train_model: torch.nn.Module = self.model
        self.ddp: DistributedDataParallel | None = None
        if distributed.world_size() > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = self.train_model = DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=config.ddp_find_unused_parameters)
        if config.compile:
            self.train_model = torch.compile(self.train_model)
        self.logger = MetricsLogger(self.out_dir, tensorboard=config.tensorboard)
        self.reporter = ProgressReport(self.out_dir, self.total_steps, config.report_every_s)
        self.last_checkpoint: Path | None = None
        self.best_checkpoint: Path | None = None

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast_context(self.precision, self.device)

    # ----- checkpoints -----
    def state_dict(self) -> dict[str, Any]:
        """Plain checkpoint dict; collective under DDP (gathers every rank's RNG state)."""
        rng = capture_rng_state()
        if distributed.is_distributed():
            all_rng: list[Any] = [None] * distributed.world_size()
            dist.all_gather_object(all_rng, rng)
        else:
            all_rng = [rng]
        p = self.progress
        return {"format": CHECKPOINT_FORMAT, "model": model_state_dict(self.model),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "epoch": p.epoch, "step": p.step,
                "batch_in_epoch": p.batch_in_epoch, "best_value": p.best_value, "bad_epochs": p.bad_epochs,
                "epoch_loss_sum": p.epoch_loss_sum, "epoch_batches": p.epoch_batches,
                "history": p.history, "rng": all_rng, "world_size": distributed.world_size(),
                "config": self.config.to_dict()}

    def save(self, name: str) -> Path:
        state = self.state_dict()
        path = self.out_dir / name
        if distributed.is_main_process():  # last.pt keeps its predecessor as last.prev.pt
            atomic_torch_save(state, path, keep_previous=name == "last.pt")
        return path

    def load(self, path: str | Path, state: dict[str, Any] | None = None) -> None:
        state = check_resumable(path, state if state is not None else
                                load_checkpoint(path, map_location="cpu"))
        changed = sorted(k for k, v in self.config.to_dict().items()
                         if k not in _COSMETIC_KEYS and _jsonable(state["config"].get(k)) != _jsonable(v))
        if changed:
            warnings.warn(f"resuming {path} with a different config ({changed}): the run will not "
                          "reproduce an uninterrupted one", stacklevel=3)
        load_state(self.model, state["model"], path)  # strict: the run's own model
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.progress = _Progress(
            epoch=state["epoch"], step=state["step"], batch_in_epoch=state["batch_in_epoch"],
            best_value=state["best_value"], bad_epochs=state["bad_epochs"],
            epoch_loss_sum=state["epoch_loss_sum"], epoch_batches=state["epoch_batches"],
            history=list(state["history"]))
        rng = state["rng"]
        restore_rng_state(rng[distributed.rank()] if len(rng) == distributed.world_size() else rng[0])
        if (self.out_dir / "best.pt").is_file():
            self.best_checkpoint = self.out_dir / "best.pt"

    # ----- the loop -----
    def run(self, resume: str | Path | tuple[Path, dict] | None) -> FitResult:
        cfg = self.config
        if isinstance(resume, tuple):  # (path, state) already loaded by resume="auto"
            self.load(*resume)
        elif resume is not None:
            self.load(resume)
        if distributed.is_main_process():
            remove_orphan_temp_files(self.out_dir)  # temp files of killed writes
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        try:
            while self.progress.epoch < self.n_epochs and self.progress.step < self.total_steps:
                stop = self.train_epoch()
                if stop:
                    break
        finally:
            self.logger.close()
        if distributed.is_distributed():
            dist.barrier()  # every rank may now read best.pt / last.pt
        return FitResult(self.best_checkpoint, self.progress.best_value, list(self.progress.history),
                         self.last_checkpoint)

    def train_epoch(self) -> bool:
        """One (possibly resumed) epoch, then validation. Returns True when training should stop."""
        cfg, p = self.config, self.progress
        accum = cfg.grad_accum_steps
        set_loader_epoch(self.train_loader, p.epoch)
        self.train_model.train()
        bar = None
        if cfg.progress and distributed.is_main_process():
            from tqdm.auto import tqdm

            bar = tqdm(total=self.n_batches, initial=p.batch_in_epoch, desc=f"epoch {p.epoch + 1}/{self.n_epochs}",
                       dynamic_ncols=True, leave=False)
        window_loss, window_batches, window_samples, window_start = 0.0, 0, 0, time.perf_counter()
        for i, batch in enumerate(iterate_from(self.train_loader, p.batch_in_epoch), start=p.batch_in_epoch):
            group_start = i - i % accum
            group_size = min(accum, self.n_batches - group_start)
            is_step = (i - group_start) == group_size - 1
            batch = move_to_device(batch, self.device, cfg.channels_last)
            sync = contextlib.nullcontext()
            if not is_step and self.ddp is not None:
                sync = self.ddp.no_sync()
            with sync:
                with self.autocast():
                    out = loss_dict(self.objective(self.train_model, batch))
                loss = out["loss"]
                if not _all_ranks_finite(loss):
                    raise NonFiniteLossError(float(loss.detach()), p.step, p.epoch, i)
                self.scaler.scale(loss.float() / group_size).backward()
            loss_value = float(loss.detach())
            window_loss += loss_value
            window_batches += 1
            window_samples += batch_size_of(batch) * distributed.world_size()
            p.epoch_loss_sum += loss_value
            p.epoch_batches += 1
            if bar is not None:
                bar.update(1)
            if not is_step:
                continue
            grad_norm = self.optimizer_step()
            p.step += 1
            p.batch_in_epoch = i + 1
            self.reporter.step(p.step, p.epoch + 1, self.n_epochs, loss_value)
            if p.step % cfg.log_every == 0 or p.step == self.total_steps:
                elapsed = max(time.perf_counter() - window_start, 1e-9)
                extras = {k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
                          for k, v in out.items() if k != "loss"}
                values = _mean_across_ranks({"loss": window_loss / window_batches, **extras})
                record = self.logger.log("train", p.step, epoch=p.epoch + 1, lr=self.scheduler.get_last_lr()[0],
                                         samples_per_s=window_samples / elapsed, grad_norm=grad_norm, **values)
                if bar is not None:
                    bar.set_postfix(loss=f"{record['loss']:.4g}", samples_s=f"{record['samples_per_s']:.1f}")
                window_loss, window_batches, window_samples, window_start = 0.0, 0, 0, time.perf_counter()
            if cfg.save_every_steps and p.step % cfg.save_every_steps == 0 and p.step < self.total_steps:
                self.last_checkpoint = self.save("last.pt")
            if p.step >= self.total_steps:
                break
        if bar is not None:
            bar.close()
        return self.end_epoch()

    def optimizer_step(self) -> float | None:
        grad_norm = None
        if self.config.clip_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():  # fp16: GradScaler skips steps with inf grads, by design
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            self.scheduler.step()
        return grad_norm

    def end_epoch(self) -> bool:
        cfg, p = self.config, self.progress
        train_loss = _mean_across_ranks({"loss": p.epoch_loss_sum / max(p.epoch_batches, 1)})["loss"]
        p.epoch += 1
        p.batch_in_epoch, p.epoch_loss_sum, p.epoch_batches = 0, 0.0, 0
        record: dict[str, Any] = {"epoch": p.epoch, "step": p.step, "lr": self.scheduler.get_last_lr()[0],
                                  "train_loss": train_loss}
        if self.val_loader is not None:
            val = evaluate_loss(self.model, self.val_loader, self.objective, self.device, self.autocast,
                                cfg.channels_last)
            record.update({f"val_{k}": v for k, v in val.items()})
        if self.metrics_fn is not None:
            self.model.eval()
            with torch.no_grad():
                extra = self.metrics_fn(self.model, self.val_loader)
            self.model.train()
            record.update({k: float(v) for k, v in extra.items()})
        stop = self.track_best(record)
        p.history.append(record)
        self.logger.log("epoch", p.step, **{k: v for k, v in record.items() if k != "step"})
        finished = p.step >= self.total_steps or p.epoch >= self.n_epochs
        if p.epoch % cfg.save_every_epochs == 0 or finished or stop:
            self.last_checkpoint = self.save("last.pt")
        return stop

    def track_best(self, record: dict[str, Any]) -> bool:
        """Update best value / best.pt / patience from `record`; True when early stopping fires."""
        cfg, p = self.config, self.progress
        value = record.get(cfg.monitor)
        if value is None:
            if self.val_loader is not None or self.metrics_fn is not None:
                raise KeyError(f"monitor {cfg.monitor!r} is not in the epoch record {sorted(record)}")
            return False
        value = float(value)
        better = math.isfinite(value) and (
            p.best_value is None or (value < p.best_value if cfg.monitor_mode == "min" else value > p.best_value))
        record["best"] = better
        if better:
            p.best_value, p.bad_epochs = value, 0
            self.best_checkpoint = self.save("best.pt")
            return False
        p.bad_epochs += 1
        return cfg.early_stopping_patience is not None and p.bad_epochs >= cfg.early_stopping_patience


class ProgressReport:
    """Prints `[run] step k/N (epoch e/E) loss x, ETA m:ss` at most every `every_s` seconds, on
    rank 0; the ETA extrapolates this run's own pace (resumed steps excluded)."""

    def __init__(self, out_dir: Path, total_steps: int, every_s: float | None):
        self.label = "/".join(Path(out_dir).parts[-3:])
        self.total_steps, self.every_s = total_steps, every_s
        self.enabled = every_s is not None and distributed.is_main_process()
        self.start = self.last = time.perf_counter()
        self.first_step: int | None = None

    def step(self, step: int, epoch: int, n_epochs: int, loss: float) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.first_step is None:
            self.first_step, self.start = step - 1, self.last
        if now - self.last < self.every_s and step < self.total_steps:
            return
        self.last = now
        done = step - self.first_step
        eta_s = (now - self.start) / max(done, 1) * (self.total_steps - step)
        print(f"[{self.label}] step {step}/{self.total_steps} (epoch {epoch}/{n_epochs}) loss "
              f"{loss:.4f}, {now - self.start:.0f} s, ETA {int(eta_s) // 60}:{int(eta_s) % 60:02d}",
              flush=True)


def fit(model: torch.nn.Module, train_loader: Any, val_loader: Any = None, config: TrainConfig | None = None,
        objective: Callable[[torch.nn.Module, Any], Any] | None = None,
        metrics_fn: Callable[[torch.nn.Module, Any], dict] | None = None,
        resume: str | Path | None = None) -> FitResult:
    """Train `model` and return the best/last checkpoints and the per-epoch history.

    `objective(model, batch)` returns a scalar loss or a dict with "loss" (+ extra scalars); by
    default the model computes its own loss (`objectives.model_loss`). `metrics_fn(model,
    val_loader) -> dict` adds validation metrics that `config.monitor` may name. `resume` is a
    checkpoint written by a previous `fit` with the same config (e.g. `out_dir/last.pt`), or "auto"
    for the newest usable of `out_dir/last.pt` and `out_dir/last.prev.pt` (fresh start when
    neither exists; a `CheckpointError` naming both when neither loads).
    Seed before building `model` (`seed_everything(config.seed)`) for a reproducible init: `fit`
    seeds only what happens from here on.
    Under torchrun, call it on every rank; the model is wrapped in DDP here.
    """
    config = config or TrainConfig()
    distributed.init_from_env()
    if resume == "auto":  # pre-emptible jobs: continue from the newest usable last checkpoint
        resume = latest_resumable(Path(config.out_dir))
    if resume is None:
        seed_everything(config.seed)
    trainer = _Trainer(model, train_loader, val_loader, config, objective, metrics_fn)
    return trainer.run(resume)
