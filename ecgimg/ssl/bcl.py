"""Biometric contrastive learning (BCL): patient-indexed SupCon loss on image embeddings.

Two *different* ECGs of the same patient, each rendered in its own layout, are a positive pair;
every other view in the (global, all-gathered) batch is a negative. The loss is SupCon's
"L_out" form (Khosla et al. 2020), which reduces to NT-Xent when each identity has two views.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ecgimg.distributed import all_gather_no_grad, all_gather_with_grad, rank, world_size
from ecgimg.weights import unwrap_model


def _as_identity_tensor(identities: Any, device: torch.device) -> torch.Tensor:
    """Integer identity codes as a 1-D long tensor; strings are refused (codes must agree across ranks)."""
    ids = torch.as_tensor(identities, device=device) if not isinstance(identities, torch.Tensor) else identities
    if ids.dtype.is_floating_point or ids.dtype == torch.bool or ids.dim() != 1:
        raise TypeError(f"identities must be a 1-D integer tensor of codes, got {ids.dtype} {tuple(ids.shape)}")
    return ids.to(device=device, dtype=torch.long)


def bcl_loss(embeddings: torch.Tensor, patient_ids: Any, temperature: float = 0.1) -> torch.Tensor:
    """Patient-indexed contrastive loss over the global batch.

    embeddings: (B, D) local projections (L2-normalised here). patient_ids: (B,) integer codes.
    For each local anchor with at least one positive (another view of the same id, self excluded),
    the loss is -mean over its positives of log softmax(sim / T) over all other global views.
    The result is sum over local anchors * world_size / (global anchor count), so that the mean of
    the per-rank losses (what DDP's gradient averaging optimises) is exactly the single-process loss
    on the concatenated batch.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be (batch, dim), got shape {tuple(embeddings.shape)}")
    ids = _as_identity_tensor(patient_ids, embeddings.device)
    if ids.shape[0] != embeddings.shape[0]:
        raise ValueError(f"{embeddings.shape[0]} embeddings but {ids.shape[0]} identities")

    with torch.autocast(embeddings.device.type, enabled=False):  # bf16 similarities keep ~3 digits
        return _bcl_loss_fp32(F.normalize(embeddings.float(), dim=1), ids, temperature)


def _bcl_loss_fp32(z: torch.Tensor, ids: torch.Tensor, temperature: float) -> torch.Tensor:
    z_all = all_gather_with_grad(z)
    ids_all = all_gather_no_grad(ids)
    local_batch = z.shape[0]
    offset = rank() * local_batch if world_size() > 1 else 0

    logits = z @ z_all.T / temperature                                     # (B, N)
    cols = torch.arange(z_all.shape[0], device=z.device)
    is_self = cols[None, :] == (offset + torch.arange(local_batch, device=z.device))[:, None]
    positive = (ids[:, None] == ids_all[None, :]) & ~is_self
    logits = logits.masked_fill(is_self, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    n_pos = positive.sum(dim=1)
    has_pos = n_pos > 0
    # zero the -inf self entries before the masked sum (0 * -inf would be nan)
    pos_log_prob = torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    per_anchor = -pos_log_prob[has_pos] / n_pos[has_pos]

    # global number of anchors with a positive, from the gathered ids (no extra communication)
    _, inverse, counts = torch.unique(ids_all, return_inverse=True, return_counts=True)
    global_anchors = int((counts[inverse] > 1).sum())
    if global_anchors == 0:  # nothing to contrast: a zero that keeps the graph alive
        return z.sum() * 0.0
    return per_anchor.sum() * world_size() / global_anchors


@torch.no_grad()
def contrastive_stats(embeddings: torch.Tensor, identities: Any) -> dict[str, float]:
    """Local diagnostics: mean cosine of positives / negatives and top-1 same-identity retrieval."""
    ids = _as_identity_tensor(identities, embeddings.device)
    z = F.normalize(embeddings.float(), dim=1)
    sim = z @ z.T
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    same = (ids[:, None] == ids[None, :]) & ~eye
    diff = ids[:, None] != ids[None, :]
    out = {}
    if same.any():
        out["pos_cos"] = float(sim[same].mean())
        nearest = sim.masked_fill(eye, float("-inf")).argmax(dim=1)
        has_pos = same.any(dim=1)
        out["top1"] = float((ids[nearest] == ids)[has_pos].float().mean())
    if diff.any():
        out["neg_cos"] = float(sim[diff].mean())
    return out


def embed_views(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Projection-head output of an image model (ImageEncoder or a DDP/compile wrapper around
    one); a model whose forward takes no `head` is taken to return embeddings already."""
    if "head" in inspect.signature(unwrap_model(model).forward).parameters:
        return model(images, head="projection")
    return model(images)


class ContrastiveObjective:
    """Engine objective: batch of views -> {"loss", "pos_cos", "neg_cos", "top1"}.

    `identity_key` names the batch entry whose equal values mark positives ("patient" for BCL,
    "index" i.e. the ECG itself for SimCLR).
    """

    def __init__(self, identity_key: str, temperature: float = 0.1, image_key: str = "image",
                 loss_fn: Callable[..., torch.Tensor] = bcl_loss):
        self.identity_key = identity_key
        self.temperature = temperature
        self.image_key = image_key
        self.loss_fn = loss_fn

    def __call__(self, model: torch.nn.Module, batch: dict) -> dict:
        embeddings = embed_views(model, batch[self.image_key])
        identities = batch[self.identity_key]
        loss = self.loss_fn(embeddings, identities, temperature=self.temperature)
        stats = contrastive_stats(embeddings.detach(), identities)
        return {"loss": loss, **{k: torch.tensor(v) for k, v in stats.items()}}


class BCLObjective(ContrastiveObjective):
    """BCL: positives are views of the same patient (batch["patient"])."""

    def __init__(self, temperature: float = 0.1, image_key: str = "image", identity_key: str = "patient"):
        super().__init__(identity_key=identity_key, temperature=temperature, image_key=image_key,
                         loss_fn=bcl_loss)
