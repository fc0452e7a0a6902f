"""Objectives: `objective(model, batch) -> {"loss": scalar tensor, **extra scalars}`.

The engine only ever calls an objective, so it stays ignorant of what the model is. Models that
compute their own loss (the MAE returns `(loss, pred, mask)`) use `model_loss`; plain predictors
use a factory such as `supervised_bce(input_key, target_key)`.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

Objective = Callable[[torch.nn.Module, Any], dict]


def loss_dict(output: Any) -> dict[str, torch.Tensor]:
    """Normalise a model/objective output into a dict with a scalar "loss".

    Accepts a scalar tensor, a tuple/list whose first item is the loss (MAE's (loss, pred, mask)),
    or a mapping with "loss" (other scalar entries are kept as extra metrics, non-scalars dropped).
    """
    if isinstance(output, torch.Tensor):
        result = {"loss": output}
    elif isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        result = {"loss": output[0]}
    elif isinstance(output, Mapping) and "loss" in output:
        result = {k: v for k, v in output.items()
                  if k == "loss" or (isinstance(v, (int, float)) and not isinstance(v, bool))
                  or (isinstance(v, torch.Tensor) and v.numel() == 1)}
    else:
        raise TypeError("an objective must return a scalar loss tensor, a tuple starting with it, or a "
                        f"dict with 'loss'; got {type(output).__name__}")
    loss = result["loss"]
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(f"the loss must be a scalar tensor, got {type(loss).__name__} "
                        f"{tuple(getattr(loss, 'shape', ()))}")
    result["loss"] = loss.reshape(())
    return result


def model_loss(model: torch.nn.Module, batch: Any) -> dict[str, torch.Tensor]:
    """Default objective: the model computes its own loss from the batch.

    A tensor batch (or a dict with exactly one tensor) is passed as the single positional input,
    any other dict is passed whole (`model(batch)`), a tuple/list is unpacked (`model(*batch)`).
    """
    if isinstance(batch, torch.Tensor):
        return loss_dict(model(batch))
    if isinstance(batch, Mapping):
        tensors = [v for v in batch.values() if isinstance(v, torch.Tensor)]
        if len(tensors) == 1:
            return loss_dict(model(tensors[0]))
        return loss_dict(model(batch))
    if isinstance(batch, (tuple, list)):
        return loss_dict(model(*batch))
    raise TypeError(f"cannot feed a batch of type {type(batch).__name__} to the model")


def input_loss(input_key: str) -> Objective:
    """Objective for self-supervised models that take one input and return their own loss (MAE)."""

    def objective(model: torch.nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        return loss_dict(model(_get(batch, input_key)))

    objective.__name__ = f"input_loss_{input_key}"
    return objective


def supervised_bce(input_key: str = "signal", target_key: str = "target",
                   pos_weight: torch.Tensor | None = None) -> Objective:
    """Multi-label binary cross-entropy on logits `model(batch[input_key])` vs `batch[target_key]`."""

    def objective(model: torch.nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        logits = model(_get(batch, input_key))
        target = _get(batch, target_key).to(logits.dtype).reshape(logits.shape)
        weight = pos_weight.to(logits.device) if pos_weight is not None else None
        loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(), pos_weight=weight)
        return {"loss": loss}

    objective.__name__ = f"supervised_bce_{input_key}_{target_key}"
    return objective


def supervised_cross_entropy(input_key: str = "signal", target_key: str = "target",
                             label_smoothing: float = 0.0) -> Objective:
    """Single-label cross-entropy (class indices as targets) and accuracy as an extra metric."""

    def objective(model: torch.nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        logits = model(_get(batch, input_key))
        target = _get(batch, target_key).long().reshape(-1)
        loss = F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)
        accuracy = (logits.argmax(dim=-1) == target).float().mean()
        return {"loss": loss, "accuracy": accuracy.detach()}

    objective.__name__ = f"supervised_ce_{input_key}_{target_key}"
    return objective


def _get(batch: Mapping[str, Any], key: str) -> Any:
    try:
        return batch[key]
    except (KeyError, TypeError, IndexError):
        keys = list(batch.keys()) if isinstance(batch, Mapping) else type(batch).__name__
        raise KeyError(f"batch has no {key!r} entry (has {keys})") from None
