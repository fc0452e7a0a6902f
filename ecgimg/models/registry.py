"""A tiny timm-style model registry: `@register_model` on a factory files it under its name.

The registry knows nothing of the models: each model module registers its own factories when it
is imported, and `ecgimg.models.zoo` imports the built-in ones and builds models by name.
"""
from __future__ import annotations

from typing import Callable

import torch.nn as nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a factory under its function name; duplicate names are an error."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = fn
    return fn
