"""SimCLR baseline: the BCL loss with one identity per ECG (two renders of the same ECG are positives)."""
from __future__ import annotations

from typing import Any

import torch

from ecgimg.ssl.bcl import ContrastiveObjective, bcl_loss


def simclr_loss(embeddings: torch.Tensor, ecg_ids: Any, temperature: float = 0.1) -> torch.Tensor:
    """NT-Xent over the global batch where views sharing an ECG id are positives.

    Identical to `bcl_loss` with ECG ids in place of patient ids: the method difference lies only
    in what counts as one identity, which is why both share one implementation.
    """
    return bcl_loss(embeddings, ecg_ids, temperature=temperature)


class SimCLRObjective(ContrastiveObjective):
    """SimCLR: positives are renders of the same ECG (batch["index"], the dataset row)."""

    def __init__(self, temperature: float = 0.1, image_key: str = "image", identity_key: str = "index"):
        super().__init__(identity_key=identity_key, temperature=temperature, image_key=image_key,
                         loss_fn=simclr_loss)
