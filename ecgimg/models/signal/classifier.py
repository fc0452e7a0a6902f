"""ECG ViT classifier: pretrained encoder + norm + linear head (the LVSD paper's fine-tuning model).

``create_model("ecg_vit_small_p250", num_classes=5)`` returns an ``ECGViTClassifier``;
``num_classes=0`` returns the bare ``ECGViT`` feature extractor (timm convention). Both accept
``checkpoint_path=`` to start from MAE weights. Multi-label targets are trained with
``ecgimg.train.supervised_bce()`` (BCE with logits); apply a sigmoid at prediction time.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn

from ecgimg.models.signal.vit import ECGViT, register_sizes, vit_size_kwargs
from ecgimg.weights import CheckpointError, load_state, read_state_dict, submodule_state


class LoadReport(NamedTuple):
    """What ``load_pretrained`` did: encoder keys it could not fill, checkpoint keys it ignored."""
    loaded: list[str]
    missing: list[str]
    unexpected: list[str]


def load_encoder_checkpoint(encoder: ECGViT, path: str | Path) -> LoadReport:
    """Load encoder weights from an MAE (or classifier, or bare encoder) weights file: the entries
    under "encoder." where there are any; a shape clash or no match at all is a `CheckpointError`."""
    source = submodule_state(read_state_dict(path), "encoder.")
    own = encoder.state_dict()
    clashes = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
               for k, v in source.items() if k in own and own[k].shape != v.shape]
    if clashes:
        raise CheckpointError(path, "encoder shapes differ: " + "; ".join(clashes[:5]))
    loaded = [k for k in source if k in own]
    if not loaded:
        raise CheckpointError(path, f"no encoder weights matched (first keys: {list(source)[:5]})")
    missing, unexpected = load_state(encoder, source, path, strict=False)
    return LoadReport(loaded, missing, unexpected)


class ECGViTClassifier(nn.Module):
    """Encoder -> pool -> (LayerNorm) -> dropout -> Linear logits (B, num_classes)."""

    def __init__(self, encoder: ECGViT, num_classes: int, global_pool: str | None = None,
                 head_norm: bool = True, drop_rate: float = 0.0) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 (use the bare encoder for features), got {num_classes}")
        self.encoder = encoder
        if global_pool is not None:
            if global_pool == "token" and encoder.cls_token is None:
                raise ValueError("global_pool='token' needs an encoder with class_token=True")
            encoder.global_pool = global_pool
        self.num_classes = num_classes
        self.num_features = self.embed_dim = encoder.embed_dim
        self.fc_norm = nn.LayerNorm(encoder.embed_dim, eps=1e-6) if head_norm else nn.Identity()
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(encoder.embed_dim, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=2e-5)  # MAE fine-tuning: near-zero head init
        nn.init.zeros_(self.head.bias)
        self.encoder_frozen = False

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.forward_features(x)

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = self.fc_norm(self.encoder.forward_head(feats))
        return pooled if pre_logits else self.head(self.head_drop(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def load_pretrained(self, path: str | Path) -> LoadReport:
        """Fill the encoder from an MAE checkpoint (.pt with "model", or .safetensors)."""
        return load_encoder_checkpoint(self.encoder, path)

    def freeze_encoder(self, frozen: bool = True) -> "ECGViTClassifier":
        """Linear probing: encoder weights fixed and kept in eval mode (no drop-path)."""
        self.encoder_frozen = frozen
        self.encoder.requires_grad_(not frozen)
        self.train(self.training)
        return self

    def train(self, mode: bool = True) -> "ECGViTClassifier":
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self


def ecg_vit(size: str, num_classes: int = 0, checkpoint_path: str | Path | None = None,
            global_pool: str | None = None, head_norm: bool = True, drop_rate: float = 0.0,
            freeze_encoder: bool = False, **encoder_kwargs) -> nn.Module:
    """Encoder of a size (num_classes=0) or classifier on top of it, optionally MAE-initialised."""
    if global_pool is not None:
        encoder_kwargs["global_pool"] = global_pool
    encoder = ECGViT(**{**vit_size_kwargs(size), **encoder_kwargs})
    if checkpoint_path is not None:
        load_encoder_checkpoint(encoder, checkpoint_path)
    if num_classes == 0:
        if freeze_encoder:
            raise ValueError("freeze_encoder needs a head (num_classes >= 1)")
        return encoder
    model = ECGViTClassifier(encoder, num_classes, head_norm=head_norm, drop_rate=drop_rate)
    return model.freeze_encoder(freeze_encoder) if freeze_encoder else model


register_sizes("ecg_vit_{size}_p250", ecg_vit,
               "ViT-{size} over 1x250 ECG patches; num_classes>0 adds norm + linear head.")
