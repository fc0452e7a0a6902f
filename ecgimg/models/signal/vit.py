"""ECG Vision Transformer over 1-lead x 250-sample patches (the MAE-for-LVSD paper's encoder).

A (B, n_leads, n_samples) signal is cut into patches of one lead x ``patch_samples`` samples
(250 samples = 0.5 s at 500 Hz), giving ``n_leads * n_samples // patch_samples`` tokens
(12 x 20 = 240 for a 10 s 12-lead ECG). **Token order is lead-major**: token ``k`` is lead
``k // n_time_patches`` and time patch ``k % n_time_patches``, the row-major flattening of the
(lead, time) grid that timm's ``PatchEmbed`` produces.

``lead_patch="all"`` instead cuts patches spanning every lead x ``patch_samples`` (the published
ECG-JEPA tokenisation, e.g. 12 leads x 25 samples); the token grid then has one row, named
``ALL_LEADS_TOKEN``. ``token_leads`` names the rows of the token grid in either case.

Position embeddings are separable: ``pos[lead, t] = lead_embed[lead] + time_embed[t]``.

* ``lead_embed`` is learned and indexed by lead *name* (rows follow ``STANDARD_LEADS``), so an
  encoder built for a lead subset (e.g. ("II", "V5")) loads the weights of a 12-lead model
  unchanged and gives each lead the embedding it was pretrained with. It starts as a sin-cos code
  of the lead index in the second half of the channels (zeros in the first).
* ``time_embed`` is a fixed 1-D sin-cos table in the first half of the channels by default (like
  MAE's fixed 2-D sin-cos, which splits the channels between the two axes); it carries over to
  other input lengths. ``time_embed="learned"`` makes it a parameter (same initial values).

Blocks are timm ``Block``s, always called with keyword arguments (the reference MAE's positional
call breaks on current timm).
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block

from ecgimg.data.record import STANDARD_LEADS, normalize_lead_name
from ecgimg.models.registry import register_model
from ecgimg.models.signal.normalization import SignalNormalization

#: Row name of the token grid when one patch spans all leads (``lead_patch="all"``).
ALL_LEADS_TOKEN = "all_leads"

#: name -> (embed_dim, depth, num_heads); standard ViT widths/depths.
VIT_SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
    "huge": (1280, 32, 16),
}


def sincos_1d(n_positions: int, dim: int) -> torch.Tensor:
    """Fixed 1-D sin-cos embedding (n_positions, dim), as in MAE / "Attention is all you need".

    Hand-written because timm only ships the 2-D and rotary variants; eight lines.
    """
    if dim % 2:
        raise ValueError(f"sin-cos embedding needs an even dimension, got {dim}")
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    angles = np.arange(n_positions, dtype=np.float64)[:, None] * omega[None, :]
    table = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    return torch.from_numpy(table).float()


def resolve_leads(leads, n_leads: int | None) -> tuple[str, ...]:
    """Lead names for a model: given names (canonical spelling), else the 12 standard leads."""
    if leads is None:
        if n_leads is None or n_leads == len(STANDARD_LEADS):
            return STANDARD_LEADS
        raise ValueError(f"n_leads={n_leads} needs explicit lead names (leads=...) so that lead "
                         f"embeddings line up with pretrained ones")
    names = tuple(normalize_lead_name(str(name)) for name in leads)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"leads must be non-empty and distinct, got {leads!r}")
    if n_leads is not None and n_leads != len(names):
        raise ValueError(f"n_leads={n_leads} disagrees with {len(names)} lead names {names}")
    return names


class LeadTimePositions(nn.Module):
    """Separable (lead, time) position embeddings for a lead-major token grid."""

    def __init__(self, leads: tuple[str, ...], n_time_patches: int, dim: int,
                 time_embed: str = "sincos") -> None:
        super().__init__()
        vocab = STANDARD_LEADS + tuple(name for name in leads if name not in STANDARD_LEADS)
        self.lead_embed = nn.Parameter(torch.zeros(len(vocab), dim))
        device = self.lead_embed.device  # honours a `with torch.device(...)` context (meta, cuda)
        self.register_buffer("lead_index", torch.tensor([vocab.index(n) for n in leads], device=device),
                             persistent=False)
        # Like MAE's 2-D sin-cos, time and lead start in disjoint halves of the channels: time
        # sin-cos in the first half, lead sin-cos (then learned) in the second, so both are plain to
        # attention from step one (a 0.02-std lead init drowns under unit-amplitude time codes).
        time_dims = 2 * (dim // 4)
        lead_dims = dim - time_dims
        time_table = torch.zeros(n_time_patches, dim, device=device)
        time_table[:, :time_dims] = sincos_1d(n_time_patches, time_dims).to(device)
        if time_embed == "sincos":
            self.register_buffer("time_embed", time_table, persistent=False)
        elif time_embed == "learned":
            self.time_embed = nn.Parameter(time_table)
        else:
            raise ValueError(f"time_embed must be 'sincos' or 'learned', got {time_embed!r}")
        with torch.no_grad():
            self.lead_embed[:, time_dims:] = sincos_1d(len(vocab), lead_dims + lead_dims % 2)[:, :lead_dims]

    def forward(self) -> torch.Tensor:
        """(n_leads * n_time_patches, dim) table in lead-major token order."""
        lead = self.lead_embed[self.lead_index]                       # (L, D)
        return (lead[:, None, :] + self.time_embed[None, :, :]).flatten(0, 1)


class ECGViT(nn.Module):
    """ViT encoder for (B, n_leads, n_samples) ECGs in mV; ``forward`` returns pooled features.

    ``forward_features`` gives the token sequence (B, [1 +] n_tokens, embed_dim) after the final
    norm; ``forward_head`` pools it (mean over patch tokens, or the cls token). A classification
    head lives in ``ECGViTClassifier``; this class is the part an MAE pretrains.
    """

    def __init__(self, *, leads=None, n_leads: int | None = None, n_samples: int = 5000,
                 fs: float = 500.0, patch_samples: int = 250, lead_patch: str = "single",
                 embed_dim: int = 192,
                 depth: int = 12, num_heads: int = 3, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_path_rate: float = 0.0, proj_drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, class_token: bool = False,
                 global_pool: str = "avg", time_embed: str = "sincos",
                 input_norm: str = "zscore", input_scale_mv: float = 1.0) -> None:
        super().__init__()
        self.leads = resolve_leads(leads, n_leads)
        self.n_leads = len(self.leads)
        if n_samples % patch_samples:
            raise ValueError(f"n_samples={n_samples} is not a multiple of patch_samples={patch_samples}")
        if global_pool not in ("avg", "token"):
            raise ValueError(f"global_pool must be 'avg' or 'token', got {global_pool!r}")
        if global_pool == "token" and not class_token:
            raise ValueError("global_pool='token' needs class_token=True")
        if lead_patch not in ("single", "all"):
            raise ValueError(f"lead_patch must be 'single' or 'all', got {lead_patch!r}")
        self.n_samples, self.fs, self.patch_samples = int(n_samples), float(fs), int(patch_samples)
        self.lead_patch = lead_patch
        self.patch_leads = 1 if lead_patch == "single" else self.n_leads
        self.token_leads = self.leads if lead_patch == "single" else (ALL_LEADS_TOKEN,)
        self.n_time_patches = self.n_samples // self.patch_samples
        self.n_tokens = len(self.token_leads) * self.n_time_patches
        self.embed_dim = self.num_features = embed_dim
        self.global_pool = global_pool
        self.input_norm = SignalNormalization(input_norm, scale_mv=input_scale_mv)
        # PatchEmbed accepts non-square patches: the (leads, samples) conv is a per-patch Linear.
        self.patch_embed = PatchEmbed(img_size=(self.n_leads, self.n_samples),
                                      patch_size=(self.patch_leads, self.patch_samples),
                                      in_chans=1, embed_dim=embed_dim)
        self.pos = LeadTimePositions(self.token_leads, self.n_time_patches, embed_dim, time_embed)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        # stochastic depth grows linearly with block index (plain floats: works on the meta device)
        drop_path = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.Sequential(*[
            Block(dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                  proj_drop=proj_drop_rate, attn_drop=attn_drop_rate, drop_path=drop_path[i],
                  norm_layer=norm_layer)
            for i in range(depth)])
        self.norm = norm_layer(embed_dim)
        init_vit_weights(self)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)

    @property
    def patch_seconds(self) -> float:
        """Duration of one patch in seconds (0.5 s for 250 samples at 500 Hz)."""
        return self.patch_samples / self.fs

    def check_input(self, x: torch.Tensor) -> None:
        expected = (self.n_leads, self.n_samples)
        if x.ndim != 3 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected a (batch, {expected[0]} leads, {expected[1]} samples) signal "
                             f"for leads {self.leads}, got shape {tuple(x.shape)}")

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.input_norm(x)

    def embed_patches(self, x_norm: torch.Tensor) -> torch.Tensor:
        """Normalised signal -> (B, n_tokens, D) patch tokens with position embeddings added."""
        return self.patch_embed(x_norm.unsqueeze(1)) + self.pos()

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Run (a subset of) position-embedded patch tokens through cls + blocks + norm."""
        if self.cls_token is not None:
            tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        return self.norm(self.blocks(tokens))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_tokens(self.embed_patches(self.normalize(x)))

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool tokens to (B, D): mean of patch tokens ('avg') or the cls token ('token')."""
        if self.global_pool == "token":
            return feats[:, 0]
        start = 1 if self.cls_token is not None else 0
        return feats[:, start:].mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def init_vit_weights(module: nn.Module) -> None:
    """MAE initialisation: xavier-uniform Linear (and the patch projection), unit LayerNorm."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, PatchEmbed):
            nn.init.xavier_uniform_(m.proj.weight.view(m.proj.weight.shape[0], -1))


def vit_size_kwargs(size: str) -> dict:
    if size not in VIT_SIZES:
        raise KeyError(f"unknown ViT size {size!r}; choose one of {list(VIT_SIZES)}")
    embed_dim, depth, num_heads = VIT_SIZES[size]
    return {"embed_dim": embed_dim, "depth": depth, "num_heads": num_heads}


def register_sizes(name_format: str, build: Callable[..., nn.Module], doc: str) -> None:
    """Register ``build(size, **kw)`` once per ViT size as ``name_format.format(size=size)``."""
    def make(size: str) -> Callable[..., nn.Module]:
        def factory(**kwargs) -> nn.Module:
            return build(size, **kwargs)
        factory.__name__ = factory.__qualname__ = name_format.format(size=size)
        factory.__doc__ = doc.format(size=size)
        return factory

    for size in VIT_SIZES:
        register_model(make(size))
