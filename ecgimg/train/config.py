"""TrainConfig: every knob of the engine as one plain, typed, JSON-serialisable dataclass.

Plain on purpose: it is saved inside every checkpoint as a dict (`dataclasses.asdict`) and must
load with `torch.load(weights_only=True)`; `from_dict` rebuilds it and rejects unknown keys and
wrong types loudly (a typo in a YAML override must not silently train with a default).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field
from typing import Any

OPTIMIZERS = ("adamw", "adam")
PRECISIONS = ("auto", "fast", "fp32", "bf16", "fp16")
MONITOR_MODES = ("min", "max")


@dataclass
class TrainConfig:
    """How to train; knows nothing about the model, the data or the objective."""

    # --- length ---
    epochs: int = 10  # passes over the training loader
    max_steps: int | None = None  # when set: exactly this many optimizer steps (overrides epochs)
    # --- optimizer ---
    lr: float = 1e-4  # peak learning rate (per unit of loss, no batch-size scaling applied)
    weight_decay: float = 0.05  # decoupled (adamw) or L2 (adam); 1-D params/biases are excluded
    optimizer: str = "adamw"  # "adamw" or "adam"
    betas: tuple[float, float] = (0.9, 0.95)  # Adam moment decay rates
    # --- schedule (per optimizer step) ---
    warmup_steps: int = 0  # linear warm-up length, optimizer steps
    warmup_epochs: float | None = None  # alternative to warmup_steps, in epochs; wins when set
    min_lr: float = 0.0  # floor of the cosine decay (absolute learning rate)
    # --- gradients ---
    grad_accum_steps: int = 1  # micro-batches per optimizer step
    clip_grad_norm: float | None = None  # max global L2 norm of gradients; None = no clipping
    # --- numerics / hardware ---
    precision: str = "auto"  # auto: bf16 on CUDA if supported else fp16+GradScaler, fp32 on CPU; fast: also bf16 on AMX CPUs
    compile: bool = False  # wrap the model in torch.compile
    channels_last: bool = False  # channels-last memory format for the model and 4-D inputs
    device: str = "auto"  # "auto" (cuda:LOCAL_RANK if available else cpu), "cpu", "cuda", "cuda:1"
    ddp_find_unused_parameters: bool = False  # DDP option for models with branches unused per step
    # --- reproducibility / output ---
    seed: int = 0  # seeds torch/numpy/python at the start of a (fresh) run
    out_dir: str = "runs/x"  # checkpoints, metrics.jsonl, config.json, tensorboard/
    log_every: int = 10  # optimizer steps between train log events
    progress: bool = True  # tqdm bar on rank 0
    #: seconds between one-line progress reports on rank 0 (step k/N, loss, samples/s, ETA), for
    #: logs where a tqdm bar is unreadable (CI, `ecgimg demo`); None = off
    report_every_s: float | None = None
    tensorboard: bool = False  # also write TensorBoard scalars to out_dir/tensorboard
    # --- validation, checkpoints, stopping ---
    monitor: str = "val_loss"  # key of the epoch record that picks the best checkpoint
    monitor_mode: str = "min"  # "min" or "max"
    early_stopping_patience: int | None = None  # epochs without improvement before stopping
    save_every_epochs: int = 1  # write last.pt every N epochs (best.pt whenever monitor improves)
    save_every_steps: int | None = None  # also write last.pt every N optimizer steps (mid-epoch)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes saved with the run

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.monitor_mode not in MONITOR_MODES:
            raise ValueError(f"TrainConfig.monitor_mode must be 'min' or 'max', got {self.monitor_mode!r}")
        if self.grad_accum_steps < 1:
            raise ValueError(f"TrainConfig.grad_accum_steps must be >= 1, got {self.grad_accum_steps}")
        if self.epochs < 1 and not self.max_steps:
            raise ValueError("TrainConfig needs epochs >= 1 or max_steps")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"TrainConfig.max_steps must be >= 1 or None, got {self.max_steps}")
        self.betas = tuple(self.betas)  # JSON gives lists back

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from a dict (JSON/YAML/checkpoint); unknown keys and wrong types raise."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; valid keys: {sorted(fields)}")
        hints = typing.get_type_hints(cls)
        for name, value in values.items():
            _check_type(name, value, hints[name])
        return cls(**values)

    def replace(self, **changes: Any) -> "TrainConfig":
        """Copy with some fields changed (type-checked like `from_dict`)."""
        merged = {**self.to_dict(), **changes}
        return TrainConfig.from_dict(merged)


def _check_type(name: str, value: Any, hint: Any) -> None:
    """Reject values whose type does not match the annotation (ints are accepted for floats)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        non_none = [a for a in args if a is not type(None)]
        for arg in non_none:
            try:
                _check_type(name, value, arg)
                return
            except TypeError:
                continue
        raise TypeError(f"TrainConfig.{name}: {value!r} is not {hint}")
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            raise TypeError(f"TrainConfig.{name}: expected a sequence, got {value!r}")
        for item in value:
            _check_type(name, item, args[0])
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"TrainConfig.{name}: expected a dict, got {value!r}")
        return
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise TypeError(f"TrainConfig.{name}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
