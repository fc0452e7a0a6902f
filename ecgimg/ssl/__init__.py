"""Self-supervised objectives: MAE (signal), BCL and SimCLR (images), JEPA and BELL (signal).

Names load lazily so `import ecgimg.ssl` stays cheap and free of import cycles with the registry.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "bcl_loss": "ecgimg.ssl.bcl", "BCLObjective": "ecgimg.ssl.bcl",
    "contrastive_stats": "ecgimg.ssl.bcl",
    "simclr_loss": "ecgimg.ssl.simclr", "SimCLRObjective": "ecgimg.ssl.simclr",
    "mae_objective": "ecgimg.ssl.mae",
    "JEPA": "ecgimg.ssl.jepa", "BELL": "ecgimg.ssl.bell", "MultiBranchEncoder": "ecgimg.ssl.bell",
    "bell_loss": "ecgimg.ssl.bell",
    "linear_probe": "ecgimg.ssl.probing", "attentive_probe": "ecgimg.ssl.probing",
    "collapse_stats": "ecgimg.ssl.probing", "extract_features": "ecgimg.ssl.probing",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ecgimg.ssl' has no attribute {name!r}")
