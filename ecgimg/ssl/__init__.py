"""Self-supervised objectives (BCL and SimCLR on images) and representation probes.

The signal methods that compute their own loss (MAE, JEPA, BELL) are models, in
`ecgimg.models.signal`. Names load lazily so `import ecgimg.ssl` stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "bcl_loss": "ecgimg.ssl.bcl", "BCLObjective": "ecgimg.ssl.bcl",
    "contrastive_stats": "ecgimg.ssl.bcl",
    "simclr_loss": "ecgimg.ssl.simclr", "SimCLRObjective": "ecgimg.ssl.simclr",
    "linear_probe": "ecgimg.ssl.probing", "attentive_probe": "ecgimg.ssl.probing",
    "collapse_stats": "ecgimg.ssl.probing", "extract_features": "ecgimg.ssl.probing",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ecgimg.ssl' has no attribute {name!r}")
