"""Per-lead input normalisation shared by the signal MAE, the ViT classifier and the CNN baseline.

The MAE paper feeds "ECGs after normalization" to the encoder without saying which one. We make
the choice an explicit module option so that pretraining and fine-tuning always agree:

* ``"zscore"`` (default) - per record, per lead: subtract the lead's mean over time and divide by
  its standard deviation. Robust to baseline offset and to gain/unit differences between devices;
  loses absolute amplitude (which matters for e.g. low-voltage or hypertrophy criteria).
* ``"scale"`` - divide by a fixed ``scale_mv`` (mV); keeps absolute amplitude and baseline.
* ``"none"`` - pass the millivolt signal through.

``stats`` returns the shift/scale so that reconstructions can be mapped back to millivolts.
"""
from __future__ import annotations

import torch
import torch.nn as nn

NORMALIZATION_MODES = ("zscore", "scale", "none")


class SignalNormalization(nn.Module):
    """Stateless per-lead normalisation of a (B, n_leads, n_samples) signal in mV."""

    def __init__(self, mode: str = "zscore", scale_mv: float = 1.0, eps: float = 1e-6) -> None:
        super().__init__()
        if mode not in NORMALIZATION_MODES:
            raise ValueError(f"unknown input normalisation {mode!r}; choose one of {NORMALIZATION_MODES}")
        if scale_mv <= 0:
            raise ValueError(f"scale_mv must be positive, got {scale_mv}")
        self.mode = mode
        self.scale_mv = float(scale_mv)
        self.eps = float(eps)

    def stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shift and scale, each (B, n_leads, 1), such that ``x_norm = (x - shift) / scale``."""
        if self.mode == "zscore":
            shift = x.mean(dim=-1, keepdim=True)
            # eps keeps a flat (disconnected) lead finite instead of dividing by zero
            scale = x.std(dim=-1, keepdim=True, unbiased=False) + self.eps
            return shift, scale
        shift = torch.zeros_like(x[..., :1])
        scale = torch.full_like(shift, self.scale_mv if self.mode == "scale" else 1.0)
        return shift, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "none":
            return x
        shift, scale = self.stats(x)
        return (x - shift) / scale

    @staticmethod
    def denormalize(x_norm: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Map a normalised signal back to millivolts."""
        return x_norm * scale + shift

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, scale_mv={self.scale_mv}"
