"""The built-in models by name: importing this module registers every model family of the package.

Why a module of its own: the registry sits below the model modules (they import it to register
themselves), so the one place that imports them all, and builds from their names, sits above.
"""
from __future__ import annotations

import fnmatch

import torch.nn as nn

import ecgimg.models.image  # noqa: F401  (image_* encoders)
import ecgimg.models.signal  # noqa: F401  (ecg_vit_*, mae_ecg_vit_*, ecg_cnn_baseline)
import ecgimg.models.signal.bell  # noqa: F401  (bell_*)
import ecgimg.models.signal.jepa  # noqa: F401  (jepa_*)
from ecgimg.models.image import timm_model
from ecgimg.models.registry import _MODELS


def list_models(pattern: str = "*") -> list[str]:
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model by name, or any timm architecture as an image encoder with
    "timm:<name>"; unknown names list what exists."""
    if name.startswith("timm:"):
        return timm_model(name, **kwargs)
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(sorted(_MODELS))}")
    return _MODELS[name](**kwargs)
