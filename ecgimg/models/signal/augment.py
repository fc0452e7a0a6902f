"""Seeded ECG signal augmentations for invariance-based pretraining (BELL/BYOL views).

They act on a batch tensor (B, leads, samples) in mV and take a `torch.Generator`, so the two views
of a batch are reproducible from the seed and cost nothing in DataLoader workers. Each transform is
a small callable; `default_bell_augment()` composes the set the BELL paper needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _uniform(shape, low: float, high: float, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    draw = torch.rand(shape, generator=gen, device=gen.device, dtype=torch.float32)
    return (low + (high - low) * draw).to(device=like.device, dtype=like.dtype)


@dataclass(frozen=True)
class RandomResizedCrop:
    """Crop a random window of `min_fraction`..1 of the record and stretch it back to full length."""
    min_fraction: float = 0.5

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        batch, _, n_samples = x.shape
        out = torch.empty_like(x)
        fractions = _uniform((batch,), self.min_fraction, 1.0, gen, x)
        starts = _uniform((batch,), 0.0, 1.0, gen, x)
        for i in range(batch):  # per-sample window lengths differ; interpolation is cheap
            length = max(2, int(round(float(fractions[i]) * n_samples)))
            start = int(float(starts[i]) * (n_samples - length))
            window = x[i:i + 1, :, start:start + length]
            out[i] = F.interpolate(window, size=n_samples, mode="linear", align_corners=False)[0]
        return out


@dataclass(frozen=True)
class RandomScale:
    """Multiply each lead by a random gain in [low, high] (electrode contact, amplifier drift)."""
    low: float = 0.8
    high: float = 1.2

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return x * _uniform((x.shape[0], x.shape[1], 1), self.low, self.high, gen, x)


@dataclass(frozen=True)
class GaussianNoise:
    """Add white noise with a random standard deviation up to `max_std_mv`."""
    max_std_mv: float = 0.05

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        std = _uniform((x.shape[0], 1, 1), 0.0, self.max_std_mv, gen, x)
        noise = torch.randn(x.shape, generator=gen, device=gen.device).to(x)
        return x + std * noise


@dataclass(frozen=True)
class BaselineWander:
    """Add a slow sinusoidal drift (respiration, movement): frequency 0.05–0.5 Hz, up to `max_mv`."""
    fs: float = 500.0
    max_mv: float = 0.3

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        batch, n_leads, n_samples = x.shape
        t = torch.arange(n_samples, device=x.device, dtype=x.dtype) / self.fs
        freq = _uniform((batch, 1, 1), 0.05, 0.5, gen, x)
        phase = _uniform((batch, 1, 1), 0.0, 2 * math.pi, gen, x)
        amplitude = _uniform((batch, n_leads, 1), 0.0, self.max_mv, gen, x)
        return x + amplitude * torch.sin(2 * math.pi * freq * t + phase)


@dataclass(frozen=True)
class LeadMasking:
    """Zero each lead independently with probability `p` (lead-off), keeping at least one lead."""
    p: float = 0.2

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        keep = _uniform((x.shape[0], x.shape[1], 1), 0.0, 1.0, gen, x) >= self.p
        none_kept = ~keep.any(dim=1, keepdim=True)
        keep = keep | none_kept  # an all-masked sample keeps every lead rather than becoming zeros
        return x * keep.to(x.dtype)


class Compose:
    """Apply transforms in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        for transform in self.transforms:
            x = transform(x, gen)
        return x


def default_bell_augment(fs: float = 500.0) -> Compose:
    """Crop, scale, noise, baseline wander and lead masking: the view generator BELL pretrains with."""
    return Compose([RandomResizedCrop(0.5), RandomScale(0.8, 1.2), GaussianNoise(0.05),
                    BaselineWander(fs=fs, max_mv=0.3), LeadMasking(0.2)])
