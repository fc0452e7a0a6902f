"""ECG-JEPA (Weimann & Conrad 2024, seeds/003) on the shared ECG ViT.

A context encoder sees only the visible tokens; a narrow predictor, given the context and the
positions of the masked tokens, predicts the *latent* representations that an EMA target encoder
(which sees the whole record) produces there. Masks are contiguous time blocks (75–85%, blocks of at
least 0.5 s) hiding every lead at the masked times; the loss is smooth-L1 in latent space against
layer-normalised target features, as in I-JEPA.

Tokenisation is the encoder's: our 1-lead x 250-sample patches, or the published 12-lead x 50 ms
patches (`ECGViT(lead_patch="all", patch_samples=25)`): the config switch lives in the backbone so
MAE, JEPA and BELL share one ViT.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.vision_transformer import Block

from ecgimg.models.ema import cosine_momentum, ema_update, make_target
from ecgimg.models.signal.masks import expand_time_mask, time_block_mask
from ecgimg.models.signal.vit import (ECGViT, LeadTimePositions, init_vit_weights, register_sizes,
                                      vit_size_kwargs)


def _gather_tokens(tokens: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return torch.gather(tokens, 1, ids.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


class JEPAPredictor(nn.Module):
    """Narrow transformer: context tokens + positional mask tokens → predicted target latents."""

    def __init__(self, encoder: ECGViT, dim: int = 192, depth: int = 4, num_heads: int = 4):
        super().__init__()
        self.embed = nn.Linear(encoder.embed_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = LeadTimePositions(encoder.token_leads, encoder.n_time_patches, dim, "sincos")
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.Sequential(*[
            Block(dim=dim, num_heads=num_heads, mlp_ratio=4.0, qkv_bias=True, norm_layer=norm_layer)
            for _ in range(depth)])
        self.norm = norm_layer(dim)
        self.proj = nn.Linear(dim, encoder.embed_dim)
        init_vit_weights(self)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, context: torch.Tensor, ids_visible: torch.Tensor,
                ids_masked: torch.Tensor) -> torch.Tensor:
        pos = self.pos().unsqueeze(0).expand(context.shape[0], -1, -1)
        visible = self.embed(context) + _gather_tokens(pos, ids_visible)
        queries = self.mask_token + _gather_tokens(pos, ids_masked)
        out = self.norm(self.blocks(torch.cat([visible, queries], dim=1)))
        return self.proj(out[:, visible.shape[1]:])


class JEPA(nn.Module):
    """JEPA pretraining wrapper: forward(x) returns (loss, metrics). EMA target updated per step.

    Like BELL, the target update happens at the start of each training forward (from the online
    weights after the previous optimiser step) and the step counter is a saved buffer, so the engine
    needs no hook and resume is exact. `encoder` is the ViT a classifier later loads.
    """

    def __init__(self, encoder: ECGViT, predictor_dim: int = 192, predictor_depth: int = 4,
                 predictor_heads: int = 4, mask_ratio_range: tuple[float, float] = (0.75, 0.85),
                 min_block_seconds: float = 0.5, base_momentum: float = 0.996,
                 momentum_total_steps: int = 1000, loss: str = "smooth_l1", seed: int = 0):
        super().__init__()
        if loss not in ("smooth_l1", "l1"):
            raise ValueError(f"loss must be 'smooth_l1' or 'l1', got {loss!r}")
        self.encoder = encoder
        self.target_encoder = make_target(encoder)
        self.predictor = JEPAPredictor(encoder, predictor_dim, predictor_depth, predictor_heads)
        self.mask_ratio_range = tuple(mask_ratio_range)
        self.min_block = max(1, round(min_block_seconds / encoder.patch_seconds))
        self.base_momentum = base_momentum
        self.momentum_total_steps = momentum_total_steps
        self.loss_name = loss
        self.seed = seed
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def update_target(self) -> None:
        momentum = cosine_momentum(int(self.step), self.momentum_total_steps, self.base_momentum)
        ema_update(self.target_encoder, self.encoder, momentum)

    def sample_mask(self, batch: int) -> torch.Tensor:
        """(B, n_tokens) bool, True = masked; seeded by (seed, step)."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.step))
        time_mask = time_block_mask(batch, self.encoder.n_time_patches, self.mask_ratio_range,
                                    self.min_block, gen)
        return expand_time_mask(time_mask, len(self.encoder.token_leads))

    def _patch_tokens(self, encoded: torch.Tensor, encoder: ECGViT) -> torch.Tensor:
        return encoded[:, 1:] if encoder.cls_token is not None else encoded

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        if self.training:
            if int(self.step) > 0:
                self.update_target()
            self.step += 1
        x_norm = self.encoder.normalize(x)
        mask = self.sample_mask(x.shape[0]).to(x.device)
        # stable argsort puts visible tokens first, both groups in their original order
        order = torch.argsort(mask.to(torch.int8), dim=1, stable=True)
        n_visible = int((~mask[0]).sum())
        ids_visible, ids_masked = order[:, :n_visible], order[:, n_visible:]

        tokens = self.encoder.embed_patches(x_norm)
        context = self._patch_tokens(self.encoder.encode_tokens(_gather_tokens(tokens, ids_visible)),
                                     self.encoder)
        prediction = self.predictor(context, ids_visible, ids_masked)
        with torch.no_grad():
            target = self._patch_tokens(
                self.target_encoder.encode_tokens(self.target_encoder.embed_patches(x_norm)),
                self.target_encoder)
            target = F.layer_norm(target, target.shape[-1:])
            target = _gather_tokens(target, ids_masked)
        if self.loss_name == "smooth_l1":
            loss = F.smooth_l1_loss(prediction, target)
        else:
            loss = F.l1_loss(prediction, target)
        return loss, {"mask_ratio": mask.float().mean().detach(),
                      "target_std": target.std(dim=0).mean().detach()}


_JEPA_KEYS = ("predictor_dim", "predictor_depth", "predictor_heads", "mask_ratio_range",
              "min_block_seconds", "base_momentum", "momentum_total_steps", "loss", "seed")


def jepa_ecg_vit(size: str, **kwargs) -> JEPA:
    """JEPA around an `ECGViT` of a size; JEPA keywords go to the wrapper, the rest to the ViT."""
    jepa_kwargs = {k: kwargs.pop(k) for k in _JEPA_KEYS if k in kwargs}
    return JEPA(ECGViT(**{**vit_size_kwargs(size), **kwargs}), **jepa_kwargs)


def jepa_ecg_vit_all_leads(size: str, **kwargs) -> JEPA:
    """The published tokenisation: one token per 50 ms across all 12 leads (25 samples at 500 Hz)."""
    kwargs = {"lead_patch": "all", "patch_samples": 25, **kwargs}
    return jepa_ecg_vit(size, **kwargs)


register_sizes("jepa_ecg_vit_{size}_p250", jepa_ecg_vit,
               "ECG-JEPA with a ViT-{size} context encoder over 1x250 per-lead patches.")
register_sizes("jepa_ecg_vit_{size}_p25x12", jepa_ecg_vit_all_leads,
               "ECG-JEPA with a ViT-{size} encoder over 12-lead x 50 ms patches (the published recipe).")
