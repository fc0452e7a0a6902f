"""Exponential-moving-average target networks (BYOL / JEPA): update rule and momentum schedule."""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn


def make_target(online: nn.Module) -> nn.Module:
    """A frozen copy of `online` that only ever changes through `ema_update` (never by gradients)."""
    target = copy.deepcopy(online)
    for param in target.parameters():
        param.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online, for parameters and float buffers."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    for t_param, o_param in zip(target.parameters(), online.parameters()):
        t_param.lerp_(o_param.detach(), 1.0 - momentum)
    for t_buf, o_buf in zip(target.buffers(), online.buffers()):
        if t_buf.dtype.is_floating_point:
            t_buf.lerp_(o_buf, 1.0 - momentum)
        else:
            t_buf.copy_(o_buf)


def cosine_momentum(step: int, total_steps: int, base: float = 0.996, final: float = 1.0) -> float:
    """BYOL's schedule: momentum rises from `base` to `final` along a half cosine over training."""
    if total_steps <= 0:
        return final
    progress = min(max(step / total_steps, 0.0), 1.0)
    return final - (final - base) * (math.cos(math.pi * progress) + 1.0) / 2.0
