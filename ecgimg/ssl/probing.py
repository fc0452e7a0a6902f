"""Frozen-feature evaluation of pretrained encoders: linear probe, attentive probe, collapse check.

Representation quality is compared without fine-tuning: features are extracted once from a frozen
encoder, then (a) a logistic regression per label is fit on pooled features (linear probe), or
(b) a small cross-attention pooling head with one learned query is trained on the token sequence
(attentive probe, as V-JEPA / ECG-JEPA evaluate). `collapse_stats` measures how spread the
embeddings are: a collapsed SSL encoder maps every record to (nearly) the same vector.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


@torch.no_grad()
def extract_features(encoder: nn.Module, loader, tokens: bool = False, device: str = "cpu",
                     input_key: str = "signal", target_key: str = "target"):
    """Run a frozen encoder over a loader → (features, targets) numpy arrays.

    tokens=False: pooled features `encoder(x)` flattened to (N, F); tokens=True: the patch-token
    sequence `encoder.forward_features(x)` (N, T, D) for attentive probing.
    """
    encoder = encoder.to(device).eval()
    feats, targets = [], []
    for batch in loader:
        x = batch[input_key].to(device)
        out = encoder.forward_features(x) if tokens else encoder(x)
        feats.append(out.float().flatten(1) if not tokens else out.float())
        targets.append(batch[target_key].float())
    return torch.cat(feats).cpu().numpy(), torch.cat(targets).cpu().numpy()


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                 c: float = 1.0, max_iter: int = 2000) -> np.ndarray:
    """Standardised features → one L2 logistic regression per label; returns test scores (N, K).

    A label with a single class in the training set gets a constant score (its training rate).
    """
    scaler = StandardScaler().fit(train_x)
    train_z, test_z = scaler.transform(train_x), scaler.transform(test_x)
    train_y = np.asarray(train_y).reshape(len(train_y), -1)
    scores = np.empty((len(test_x), train_y.shape[1]), dtype=np.float64)
    for k in range(train_y.shape[1]):
        labels = train_y[:, k]
        if np.unique(labels).size < 2:
            scores[:, k] = labels.mean()
            continue
        model = LogisticRegression(C=c, max_iter=max_iter).fit(train_z, labels)
        scores[:, k] = model.predict_proba(test_z)[:, 1]
    return scores


class AttentiveProbe(nn.Module):
    """One learned query attends over frozen tokens (B, T, D) → norm → linear logits."""

    def __init__(self, dim: int, num_classes: int, num_heads: int = 4):
        super().__init__()
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.query, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pooled, _ = self.attn(self.query.expand(tokens.shape[0], -1, -1), tokens, tokens)
        return self.head(self.norm(pooled[:, 0]))


def attentive_probe(train_tokens: np.ndarray, train_y: np.ndarray, test_tokens: np.ndarray,
                    epochs: int = 30, lr: float = 1e-3, batch_size: int = 64, num_heads: int = 4,
                    weight_decay: float = 1e-4, seed: int = 0) -> np.ndarray:
    """Train an `AttentiveProbe` with BCE on frozen tokens (seeded); returns sigmoid test scores."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.as_tensor(train_tokens, dtype=torch.float32)
    y = torch.as_tensor(np.asarray(train_y).reshape(len(train_y), -1), dtype=torch.float32)
    probe = AttentiveProbe(x.shape[-1], y.shape[1], num_heads)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            loss = loss_fn(probe(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    probe.eval()
    with torch.no_grad():
        return torch.sigmoid(probe(torch.as_tensor(test_tokens, dtype=torch.float32))).numpy()


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def collapse_stats(features: np.ndarray, eps: float = 1e-3) -> dict:
    """Spread of embeddings: per-dimension std of L2-normalised features and effective rank.

    For a healthy d-dim embedding the mean per-dimension std of normalised features is near
    1/sqrt(d); a collapsed one is near 0. Pooled transformer features often share one large common
    direction, which shrinks that figure without any collapse, so it is also given after removing the
    mean (`centred_mean_std`: the spread of what differs between records). Effective rank =
    exp(entropy of the normalised singular values of the centred features).
    """
    raw = np.asarray(features, dtype=np.float64)
    f = _unit_rows(raw)
    std = f.std(axis=0)
    centred_std = _unit_rows(raw - raw.mean(axis=0)).std(axis=0)
    singular = np.linalg.svd(f - f.mean(axis=0), compute_uv=False)
    p = singular / max(singular.sum(), 1e-12)
    p = p[p > 0]
    return {"mean_std": float(std.mean()), "min_std": float(std.min()),
            "centred_mean_std": float(centred_std.mean()),
            "reference_std": float(1.0 / np.sqrt(f.shape[1])),
            "fraction_dims_collapsed": float((std < eps).mean()),
            "effective_rank": float(np.exp(-(p * np.log(p)).sum())) if p.size else 0.0}
