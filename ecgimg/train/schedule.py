"""Per-optimizer-step learning-rate schedule: linear warm-up then cosine decay to a floor.

Expressed as a multiplicative factor for `torch.optim.lr_scheduler.LambdaLR` so param groups with
different base LRs (layer decay, heads) keep their ratios, and the scheduler state stays plain.
"""
from __future__ import annotations

import math

import torch


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """LR multiplier at optimizer step `step` (0-based: the step about to be taken).

    Linear ramp (step+1)/warmup over the first `warmup_steps`, then half a cosine from 1 down to
    `min_ratio` at `total_steps`; stays at `min_ratio` afterwards.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_lr(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """Absolute learning rate at `step` for a single base LR (handy for tests and plots)."""
    min_ratio = min_lr / base_lr if base_lr > 0 else 0.0
    return base_lr * warmup_cosine_factor(step, warmup_steps, total_steps, min_ratio)


def build_scheduler(optimizer: torch.optim.Optimizer, base_lr: float, warmup_steps: int,
                    total_steps: int, min_lr: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR stepping once per optimizer step; `min_lr` is absolute for the group at `base_lr`."""
    min_ratio = min_lr / base_lr if base_lr > 0 else 0.0

    def factor(step: int) -> float:
        return warmup_cosine_factor(step, warmup_steps, total_steps, min_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
