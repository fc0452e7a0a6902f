"""MAE pretraining objective for the engine: the method itself is ``ecgimg.models.signal.mae``.

``mae_objective(model, batch)`` runs a ``MaskedAutoencoderECG`` on ``batch["signal"]``
(B, n_leads, n_samples) in mV and returns the masked-patch MSE as ``"loss"``.
"""
from __future__ import annotations

import torch.nn as nn


def mae_objective(model: nn.Module, batch: dict) -> dict:
    """Engine objective: ``{"loss": masked-patch MSE, "masked_fraction": share of masked tokens}``."""
    loss, _pred, mask = model(batch["signal"])
    return {"loss": loss, "masked_fraction": mask.mean().detach()}
