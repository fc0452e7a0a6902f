"""Masked autoencoder on 1-lead x 250-sample ECG patches (He et al. 2022, adapted as in the LVSD paper).

Reads top to bottom like the reference MAE: ``patchify`` -> ``random_masking`` (argsort of noise ->
keep / restore ids) -> ``forward_encoder`` (visible tokens only) -> ``forward_decoder`` (mask tokens
re-inserted, lightweight transformer) -> ``forward_loss`` (MSE on masked patches only, optionally on
per-patch normalised targets). ``forward(x)`` returns ``(loss, pred, mask)``.

Targets are patches of the *normalised* signal (the encoder's ``input_norm``); ``reconstruct``
maps predictions back to millivolts for inspection.

Checkpoint keys: the encoder lives under ``encoder.``, so ``ECGViTClassifier.load_pretrained``
takes the MAE's state dict as is (or ``encoder_state_dict()`` without the prefix).
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
from timm.models.vision_transformer import Block

from ecgimg.models.signal.vit import (ECGViT, LeadTimePositions, init_vit_weights,
                                      register_sizes, vit_size_kwargs)


def patchify(signal: torch.Tensor, patch_samples: int, patch_leads: int = 1) -> torch.Tensor:
    """(B, n_leads, n_samples) -> (B, n_tokens, patch_leads * patch_samples).

    Token order is lead-major (all time patches of lead 0, then lead 1, ...); with
    ``patch_leads > 1`` a patch holds ``patch_leads`` consecutive leads, lead by lead. This is the
    order timm's ``PatchEmbed`` flattens its (patch_leads, patch_samples) kernel grid in.
    """
    batch, n_leads, n_samples = signal.shape
    if n_samples % patch_samples or n_leads % patch_leads:
        raise ValueError(f"a ({n_leads}, {n_samples}) signal does not split into "
                         f"({patch_leads}, {patch_samples}) patches")
    rows, n_time = n_leads // patch_leads, n_samples // patch_samples
    grid = signal.reshape(batch, rows, patch_leads, n_time, patch_samples).permute(0, 1, 3, 2, 4)
    return grid.reshape(batch, rows * n_time, patch_leads * patch_samples)


def unpatchify(patches: torch.Tensor, n_leads: int, patch_leads: int = 1) -> torch.Tensor:
    """(B, n_tokens, patch_leads * patch_samples) -> (B, n_leads, n_samples); inverse of patchify."""
    batch, n_tokens, patch_size = patches.shape
    rows = n_leads // patch_leads
    if n_leads % patch_leads or n_tokens % rows or patch_size % patch_leads:
        raise ValueError(f"{n_tokens} tokens of {patch_size} values do not tile {n_leads} leads "
                         f"in patches of {patch_leads} leads")
    n_time, patch_samples = n_tokens // rows, patch_size // patch_leads
    grid = patches.reshape(batch, rows, n_time, patch_leads, patch_samples).permute(0, 1, 3, 2, 4)
    return grid.reshape(batch, n_leads, n_time * patch_samples)


def random_masking(tokens: torch.Tensor, mask_ratio: float,
                   generator: torch.Generator | None = None):
    """Keep a random subset of tokens per sample, exactly ``round(N * mask_ratio)`` masked
    (capped at ``N - 1`` so the encoder always sees at least one token).

    Returns ``(kept (B, n_keep, D), mask (B, N) with 1 = masked, ids_restore (B, N))`` where
    ``ids_restore`` is the permutation that puts shuffled tokens back in their original order.
    ``generator`` (a CPU ``torch.Generator``) makes the choice reproducible.
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    batch, n_tokens, dim = tokens.shape
    n_keep = n_tokens - min(int(round(n_tokens * mask_ratio)), n_tokens - 1)
    noise = torch.rand(batch, n_tokens, generator=generator).to(tokens.device)
    ids_shuffle = torch.argsort(noise, dim=1)          # ascending: small noise is kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :n_keep]
    kept = torch.gather(tokens, 1, ids_keep.unsqueeze(-1).expand(-1, -1, dim))
    mask = torch.ones(batch, n_tokens, device=tokens.device)
    mask[:, :n_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return kept, mask, ids_restore


class LeadTimeAttentionBias(nn.Module):
    """Learned per-head attention bias ``b_time[h, t_q - t_k] + b_lead[h, lead_q, lead_k]``.

    Why: a masked patch is best predicted from the same-time patches of the other leads (one
    heart, seen from every lead), and content-free mask-token queries cannot find that routing
    from sin-cos codes that barely differ between neighbours, so a small decoder stalls at
    predicting the mean. A relative bias (as in Swin / BEiT) can route by time directly; it starts
    as ALiBi-style locality, ``-slope_h * |t_q - t_k|`` with slopes from 4 (own time column) to
    1/16 (near-global), because from zero the optimiser grows it far too slowly. The lead-pair
    bias starts at zero. Both stay learnable.
    """

    def __init__(self, n_rows: int, n_time: int, num_heads: int) -> None:
        super().__init__()
        slopes = 4.0 * (1 / 64) ** (torch.arange(num_heads) / max(num_heads - 1, 1))
        offsets = torch.arange(-(n_time - 1), n_time).abs()
        self.time_bias = nn.Parameter(-slopes[:, None] * offsets[None, :])
        self.lead_bias = nn.Parameter(torch.zeros(num_heads, n_rows, n_rows))
        token = torch.arange(n_rows * n_time, device=self.time_bias.device)
        row, time = token // n_time, token % n_time  # lead-major token order
        self.register_buffer("time_offset", time[:, None] - time[None, :] + n_time - 1, persistent=False)
        self.register_buffer("row", row, persistent=False)

    def forward(self, n_prefix: int = 0) -> torch.Tensor:
        """(1, heads, N, N) additive bias; ``n_prefix`` leading tokens (cls) get zero bias."""
        bias = self.time_bias[:, self.time_offset] + self.lead_bias[:, self.row[:, None], self.row[None, :]]
        if n_prefix:
            bias = nn.functional.pad(bias, (n_prefix, 0, n_prefix, 0))
        return bias.unsqueeze(0)


#: Decoder cost as a share of the encoder's per-token cost (width^2 x depth) that
#: `default_decoder` aims at; the paper's 512-d x 8 decoder is 8% of its ViT-L encoder.
DECODER_COST_SHARE = 1 / 12
DECODER_HEAD_DIM = 32


def default_decoder(embed_dim: int, depth: int) -> dict[str, int]:
    """A decoder that fits the encoder: half its width (at most 512), as deep as keeps its cost
    near `DECODER_COST_SHARE` of the encoder's (1-8 blocks), 32-d heads.

    Why: the MAE paper's 512-d x 8 decoder belongs to ViT-L/H; put behind a ViT-S it costs more
    than the encoder itself and an MAE step becomes dearer than a full-sequence step, which
    defeats MAE's point. The rule gives ViT-L exactly the paper's decoder, ViT-B 384 x 4,
    ViT-S 192 x 4, ViT-Ti 96 x 4.
    """
    width = int(min(512, max(DECODER_HEAD_DIM, embed_dim // 2)))
    width -= width % DECODER_HEAD_DIM
    blocks = round(depth * (embed_dim / width) ** 2 * DECODER_COST_SHARE)
    return {"decoder_embed_dim": width, "decoder_depth": int(min(8, max(1, blocks))),
            "decoder_num_heads": width // DECODER_HEAD_DIM}


class MaskedAutoencoderECG(nn.Module):
    """MAE with an ``ECGViT`` encoder and a small transformer decoder predicting raw patches.

    Decoder width / depth / heads default to `default_decoder` of the encoder's size.
    ``decoder_attn_bias="lead_time"`` (default) gives every decoder block a learned
    ``LeadTimeAttentionBias``; ``"none"`` is the reference MAE decoder (plain attention).
    """

    def __init__(self, encoder: ECGViT, *, decoder_embed_dim: int | None = None,
                 decoder_depth: int | None = None, decoder_num_heads: int | None = None,
                 decoder_mlp_ratio: float = 4.0, mask_ratio: float = 0.75,
                 norm_pix_loss: bool = False, decoder_attn_bias: str = "lead_time") -> None:
        super().__init__()
        if decoder_attn_bias not in ("lead_time", "none"):
            raise ValueError(f"decoder_attn_bias must be 'lead_time' or 'none', got {decoder_attn_bias!r}")
        fitted = default_decoder(encoder.embed_dim, len(encoder.blocks))
        decoder_embed_dim = decoder_embed_dim or fitted["decoder_embed_dim"]
        decoder_depth = decoder_depth or fitted["decoder_depth"]
        decoder_num_heads = decoder_num_heads or max(1, decoder_embed_dim // DECODER_HEAD_DIM)
        self.encoder = encoder
        self.mask_ratio = float(mask_ratio)
        self.norm_pix_loss = bool(norm_pix_loss)
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.decoder_embed = nn.Linear(encoder.embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos = LeadTimePositions(encoder.token_leads, encoder.n_time_patches,
                                             decoder_embed_dim, "sincos")
        self.decoder_blocks = nn.Sequential(*[
            Block(dim=decoder_embed_dim, num_heads=decoder_num_heads, mlp_ratio=decoder_mlp_ratio,
                  qkv_bias=True, norm_layer=norm_layer)
            for _ in range(decoder_depth)])
        self.decoder_attn_bias = nn.ModuleList([
            LeadTimeAttentionBias(len(encoder.token_leads), encoder.n_time_patches, decoder_num_heads)
            for _ in range(decoder_depth)]) if decoder_attn_bias == "lead_time" else None
        self.decoder_norm = norm_layer(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, encoder.patch_leads * encoder.patch_samples)
        for module in (self.decoder_embed, self.decoder_blocks, self.decoder_norm, self.decoder_pred):
            init_vit_weights(module)
        nn.init.normal_(self.mask_token, std=0.02)

    def patchify(self, signal: torch.Tensor) -> torch.Tensor:
        return patchify(signal, self.encoder.patch_samples, self.encoder.patch_leads)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        return unpatchify(patches, self.encoder.n_leads, self.encoder.patch_leads)

    def forward_encoder(self, x_norm: torch.Tensor, mask_ratio: float,
                        generator: torch.Generator | None = None):
        """Encode only the visible tokens: the trick that makes MAE cheap (1/4 of the sequence)."""
        tokens = self.encoder.embed_patches(x_norm)
        kept, mask, ids_restore = random_masking(tokens, mask_ratio, generator)
        return self.encoder.encode_tokens(kept), mask, ids_restore

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Re-insert mask tokens in original order, decode, predict every patch (B, N, patch_samples)."""
        tokens = self.decoder_embed(latent)
        has_cls = self.encoder.cls_token is not None
        cls, visible = (tokens[:, :1], tokens[:, 1:]) if has_cls else (None, tokens)
        batch, n_tokens = ids_restore.shape
        masks = self.mask_token.expand(batch, n_tokens - visible.shape[1], -1)
        full = torch.cat([visible, masks], dim=1)
        full = torch.gather(full, 1, ids_restore.unsqueeze(-1).expand(-1, -1, full.shape[-1]))
        full = full + self.decoder_pos()
        if has_cls:
            full = torch.cat([cls, full], dim=1)
        pred = self.decoder_pred(self.decoder_norm(self.run_decoder_blocks(full, int(has_cls))))
        return pred[:, 1:] if has_cls else pred

    def run_decoder_blocks(self, tokens: torch.Tensor, n_prefix: int) -> torch.Tensor:
        if self.decoder_attn_bias is None:
            return self.decoder_blocks(tokens)
        device = tokens.device.type
        # SDPA wants the float mask in the query's dtype, which autocast may have lowered (the
        # meta device used for FLOP counting has no autocast at all)
        autocast_on = torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device)
        dtype = torch.get_autocast_dtype(device) if autocast_on else tokens.dtype
        for block, bias in zip(self.decoder_blocks, self.decoder_attn_bias):
            tokens = block(tokens, attn_mask=bias(n_prefix).to(dtype))
        return tokens

    def patch_targets(self, x_norm: torch.Tensor) -> torch.Tensor:
        """Reconstruction targets; per-patch zero-mean/unit-variance when ``norm_pix_loss``."""
        target = self.patchify(x_norm)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6) ** 0.5
        return target

    @staticmethod
    def forward_loss(target: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over masked patches only (visible patches do not count)."""
        per_patch = ((pred.float() - target.float()) ** 2).mean(dim=-1)  # fp32 even under autocast
        return (per_patch * mask).sum() / mask.sum().clamp_min(1.0)

    def forward(self, x: torch.Tensor, mask_ratio: float | None = None,
                generator: torch.Generator | None = None):
        """(B, n_leads, n_samples) mV -> (loss, pred (B, N, patch values), mask (B, N), 1 = masked)."""
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        x_norm = self.encoder.normalize(x)
        latent, mask, ids_restore = self.forward_encoder(x_norm, ratio, generator)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(self.patch_targets(x_norm), pred, mask), pred, mask

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, mask_ratio: float = 0.75, seed: int = 0) -> dict:
        """Original, masked and reconstructed signals in mV, for figures and eyeballing.

        Returns a dict of tensors (B, n_leads, n_samples): ``original``; ``sample_mask`` (True where
        the sample belonged to a masked patch); ``masked`` (original with masked samples set to
        NaN); ``reconstructed`` (the decoder's prediction everywhere); ``pasted`` (visible samples
        from the original, masked ones from the prediction); plus the scalar ``loss``.
        """
        was_training = self.training
        self.eval()
        try:
            generator = torch.Generator().manual_seed(int(seed))
            x_norm = self.encoder.normalize(x)
            latent, mask, ids_restore = self.forward_encoder(x_norm, mask_ratio, generator)
            pred = self.forward_decoder(latent, ids_restore)
            loss = self.forward_loss(self.patch_targets(x_norm), pred, mask)
            if self.norm_pix_loss:  # undo the per-patch normalisation with the true patch stats
                patches = self.patchify(x_norm)
                pred = pred * (patches.var(-1, keepdim=True) + 1e-6) ** 0.5 + patches.mean(-1, keepdim=True)
            shift, scale = self.encoder.input_norm.stats(x)
            if self.encoder.input_norm.mode == "none":
                shift, scale = torch.zeros_like(shift), torch.ones_like(scale)
            reconstructed = self.encoder.input_norm.denormalize(self.unpatchify(pred), shift, scale)
            sample_mask = self.unpatchify(
                mask.unsqueeze(-1).expand(-1, -1, pred.shape[-1])).bool()
            masked = x.masked_fill(sample_mask, float("nan"))
            pasted = torch.where(sample_mask, reconstructed, x)
        finally:
            self.train(was_training)
        return {"original": x, "sample_mask": sample_mask, "masked": masked,
                "reconstructed": reconstructed, "pasted": pasted, "loss": loss}

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """The encoder's weights with plain keys, ready for ``ECGViT.load_state_dict``."""
        return self.encoder.state_dict()


_DECODER_KEYS = ("decoder_embed_dim", "decoder_depth", "decoder_num_heads", "decoder_mlp_ratio",
                 "mask_ratio", "norm_pix_loss", "decoder_attn_bias")


def mae_ecg_vit(size: str, **kwargs) -> MaskedAutoencoderECG:
    """Build an MAE around an ``ECGViT`` of the given size; decoder keywords go to the MAE."""
    decoder_kwargs = {k: kwargs.pop(k) for k in _DECODER_KEYS if k in kwargs}
    encoder = ECGViT(**{**vit_size_kwargs(size), **kwargs})
    return MaskedAutoencoderECG(encoder, **decoder_kwargs)


register_sizes("mae_ecg_vit_{size}_p250", mae_ecg_vit,
               "MAE with a ViT-{size} encoder over 1x250 ECG patches.")
