"""Tiny models and datasets for engine tests (CPU, milliseconds per step)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset


class ToyRegression(Dataset):
    """y = x @ w_true + noise; dict samples like the project's datasets, plus an index."""

    def __init__(self, n: int = 64, n_features: int = 8, seed: int = 0, noisy_augment: bool = False):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, n_features, generator=g)
        w_true = torch.randn(n_features, 1, generator=torch.Generator().manual_seed(1234))
        self.y = self.x @ w_true + 0.05 * torch.randn(n, 1, generator=g)
        self.noisy_augment = noisy_augment

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        x = self.x[i]
        if self.noisy_augment:  # draws from the global torch RNG like a real augmentation
            x = x + 0.01 * torch.randn_like(x)
        return {"x": x, "target": self.y[i], "index": torch.tensor(i)}


class TinyMLP(torch.nn.Module):
    def __init__(self, n_features: int = 8, hidden: int = 16, dropout: float = 0.0, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(torch.nn.Linear(n_features, hidden), torch.nn.GELU(),
                                       torch.nn.Dropout(dropout), torch.nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def mse_objective(model: torch.nn.Module, batch: dict) -> dict:
    pred = model(batch["x"])
    loss = torch.nn.functional.mse_loss(pred, batch["target"])
    return {"loss": loss, "mae": (pred - batch["target"]).abs().mean().detach()}


def flat_params(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()])


def read_metrics(path: str | Path, event: str | None = None) -> list[dict[str, Any]]:
    """Read back a metrics.jsonl (optionally only one event type)."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                if event is None or record.get("event") == event:
                    records.append(record)
    return records
