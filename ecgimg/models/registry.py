"""A tiny timm-style model registry: `@register_model` on a factory, `create_model(name, **kw)`."""
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


def list_models(pattern: str = "*") -> list[str]:
    import fnmatch
    _ensure_builtin_models_loaded()
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model by name, or any timm architecture as an image encoder with
    "timm:<name>"; unknown names list what exists."""
    if name.startswith("timm:"):
        from ecgimg.models.image import timm_model
        return timm_model(name, **kwargs)
    _ensure_builtin_models_loaded()
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(sorted(_MODELS))}")
    return _MODELS[name](**kwargs)


def _ensure_builtin_models_loaded() -> None:
    # Import the model modules for their @register_model side effects (lazy: avoids import cycles).
    import importlib
    for module in ("ecgimg.models.signal", "ecgimg.models.image", "ecgimg.ssl.jepa", "ecgimg.ssl.bell"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:  # a module not written yet is fine; a broken one is not
            if err.name != module:
                raise
