"""BELL — Bootstrap Each Lead's Latent (a BYOL variant for multi-lead ECGs; seeds/004).

An online network (per-lead encoder → projector → predictor) predicts, for every lead, the latent
that an EMA target network (encoder → projector) gives the same lead of a second augmented view.
No negatives. The loss fuses two normalised MSE terms:

* intra-lead: lead l's online prediction (view a) vs lead l's target latent (view b);
* inter-lead: lead l's online prediction (view a) vs the target latents of the *other* leads m != l
  (view b) — the paper names this term but does not give its formula; this is our reading: every lead
  sees the same heart, so a lead's latent should also predict the others'.

Both are symmetrised over the two views. The encoder is any module mapping (B, leads, samples) to
per-lead features (B, leads, D): `MultiBranchEncoder` (one 1-D CNN branch per lead, as in the paper),
or the shared ECG ViT with `lead_features=vit_lead_features` (each lead's tokens averaged over time),
so MAE, JEPA and BELL share one backbone and one checkpoint layout (weights under `encoder.`).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ecgimg.models.ema import cosine_momentum, ema_update, make_target
from ecgimg.models.registry import register_model
from ecgimg.models.signal.augment import default_bell_augment
from ecgimg.models.signal.vit import ECGViT, register_sizes, vit_size_kwargs


def _normalised_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BYOL's loss on L2-normalised vectors: ||p/|p| - z/|z| ||^2 = 2 - 2 cos(p, z)."""
    return (F.normalize(pred, dim=-1) - F.normalize(target, dim=-1)).pow(2).sum(dim=-1)


def intra_lead_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over batch and leads of the normalised MSE between each lead and the same lead.

    pred, target: (B, leads, D).
    """
    return _normalised_mse(pred, target).mean()


def inter_lead_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over batch and ordered lead pairs l != m of the normalised MSE of pred[l] vs target[m]."""
    n_leads = pred.shape[1]
    if n_leads < 2:
        return pred.new_zeros(())
    p = F.normalize(pred, dim=-1)
    z = F.normalize(target, dim=-1)
    cosine = torch.einsum("bld,bmd->blm", p, z)  # (B, L, L)
    off_diagonal = ~torch.eye(n_leads, dtype=torch.bool, device=pred.device)
    return (2.0 - 2.0 * cosine[:, off_diagonal]).mean()


def bell_loss(pred: torch.Tensor, target: torch.Tensor, intra_weight: float = 0.5) -> dict:
    """Fused BELL loss for one direction: intra_weight * intra + (1 - intra_weight) * inter."""
    intra = intra_lead_loss(pred, target)
    inter = inter_lead_loss(pred, target)
    return {"loss": intra_weight * intra + (1.0 - intra_weight) * inter,
            "intra": intra.detach(), "inter": inter.detach()}


def vit_lead_features(vit: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-lead features of an ECG ViT: its patch tokens averaged over time → (B, token rows, D)."""
    tokens = vit.forward_features(x)
    if vit.cls_token is not None:
        tokens = tokens[:, 1:]
    rows = len(vit.token_leads)
    return tokens.reshape(tokens.shape[0], rows, -1, tokens.shape[-1]).mean(dim=2)


def _mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    # BYOL's projector/predictor shape; LayerNorm instead of BatchNorm so per-lead tokens of a
    # small batch are normalised independently and DDP needs no SyncBatchNorm.
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU(),
                         nn.Linear(hidden_dim, out_dim))


class MultiBranchEncoder(nn.Module):
    """One small 1-D CNN branch per lead (the paper's multi-branch skeleton) → (B, leads, D)."""

    def __init__(self, n_leads: int = 12, feature_dim: int = 128, width: int = 32):
        super().__init__()
        self.n_leads = n_leads
        self.feature_dim = feature_dim
        self.branches = nn.ModuleList(self._branch(width, feature_dim) for _ in range(n_leads))

    @staticmethod
    def _branch(width: int, feature_dim: int) -> nn.Sequential:
        layers, channels = [], 1
        for out_channels, stride in ((width, 4), (width * 2, 4), (width * 4, 4), (feature_dim, 2)):
            layers += [nn.Conv1d(channels, out_channels, kernel_size=7, stride=stride, padding=3),
                       nn.BatchNorm1d(out_channels), nn.GELU()]
            channels = out_channels
        layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten()]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.n_leads:
            raise ValueError(f"MultiBranchEncoder expects {self.n_leads} leads, got {x.shape[1]}")
        return torch.stack([branch(x[:, i:i + 1]) for i, branch in enumerate(self.branches)], dim=1)


class BELL(nn.Module):
    """BELL pretraining wrapper: forward(x) on a clean batch returns (loss, metrics dict).

    The two views are drawn inside forward from a generator seeded by (seed, step), so training is
    reproducible and resumable (the step counter is a buffer saved with the weights). The EMA target
    is updated at the start of each training forward from the online weights of the previous
    optimiser step — the same sequence as updating right after the step, with no engine hook needed.
    """

    def __init__(self, encoder: nn.Module, feature_dim: int, projector_dim: int = 128,
                 hidden_dim: int = 512, intra_weight: float = 0.5, base_momentum: float = 0.996,
                 momentum_total_steps: int = 1000, augment=None, fs: float = 500.0, seed: int = 0,
                 lead_features=None):
        super().__init__()
        self.encoder = encoder
        # how to get (B, leads, D) from an encoder; None: the encoder returns it itself
        self.lead_features = lead_features
        self.projector = _mlp(feature_dim, hidden_dim, projector_dim)
        self.predictor = _mlp(projector_dim, hidden_dim, projector_dim)
        self.target_encoder = make_target(encoder)
        self.target_projector = make_target(self.projector)
        self.intra_weight = intra_weight
        self.base_momentum = base_momentum
        self.momentum_total_steps = momentum_total_steps
        self.augment = augment or default_bell_augment(fs)
        self.seed = seed
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def _views(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator(device="cpu").manual_seed(self.seed * 1_000_003 + int(self.step))
        return self.augment(x, gen), self.augment(x, gen)

    def update_target(self) -> None:
        momentum = cosine_momentum(int(self.step), self.momentum_total_steps, self.base_momentum)
        ema_update(self.target_encoder, self.encoder, momentum)
        ema_update(self.target_projector, self.projector, momentum)

    def _per_lead(self, encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return encoder(x) if self.lead_features is None else self.lead_features(encoder, x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        if self.training:
            if int(self.step) > 0:
                self.update_target()
            self.step += 1
        view_a, view_b = self._views(x)
        both = torch.cat([view_a, view_b])
        pred_a, pred_b = self.predictor(self.projector(self._per_lead(self.encoder, both))).chunk(2)
        with torch.no_grad():
            target = self._per_lead(self.target_encoder, both)
            target_a, target_b = self.target_projector(target).chunk(2)
        forward = bell_loss(pred_a, target_b, self.intra_weight)
        backward = bell_loss(pred_b, target_a, self.intra_weight)
        loss = forward["loss"] + backward["loss"]
        return loss, {"intra": forward["intra"] + backward["intra"],
                      "inter": forward["inter"] + backward["inter"]}


_BELL_KEYS = ("projector_dim", "hidden_dim", "intra_weight", "base_momentum", "momentum_total_steps",
              "fs", "seed")


def bell_ecg_vit(size: str, **kwargs) -> BELL:
    """BELL on the shared `ECGViT` (per-lead token groups as the branches); weights under `encoder.`."""
    bell_kwargs = {k: kwargs.pop(k) for k in _BELL_KEYS if k in kwargs}
    vit = ECGViT(**{**vit_size_kwargs(size), **kwargs})
    return BELL(vit, feature_dim=vit.embed_dim, lead_features=vit_lead_features, **bell_kwargs)


@register_model
def bell_multibranch(n_leads: int = 12, feature_dim: int = 128, width: int = 32, **kwargs) -> BELL:
    """BELL with the paper's multi-branch encoder: one 1-D CNN per lead."""
    return BELL(MultiBranchEncoder(n_leads, feature_dim, width), feature_dim=feature_dim, **kwargs)


register_sizes("bell_ecg_vit_{size}_p250", bell_ecg_vit,
               "BELL with a ViT-{size} encoder over 1x250 per-lead patches (lead token groups as branches).")
