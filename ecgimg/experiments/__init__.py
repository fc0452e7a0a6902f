"""Experiment runners behind the `ecgimg` CLI: pretrain, finetune, evaluate, compare, demo, gallery.

Each runner takes a resolved `ExperimentConfig` (see `schema.py`), writes everything into its run
directory (`config.yaml`, `run.json`, checkpoints, predictions) and returns that directory.
Imports are lazy so `ecgimg --help` does not pay for torch.
"""
from __future__ import annotations

import importlib

_RUNNERS = {
    "run_pretrain": "ecgimg.experiments.pretrain",
    "run_finetune": "ecgimg.experiments.finetune",
    "run_evaluate": "ecgimg.experiments.evaluate",
    "run_compare": "ecgimg.experiments.compare",
    "run_demo": "ecgimg.experiments.demo",
    "render_gallery": "ecgimg.experiments.gallery",
}

__all__ = sorted(_RUNNERS)


def __getattr__(name: str):
    if name in _RUNNERS:
        return getattr(importlib.import_module(_RUNNERS[name]), name)
    raise AttributeError(f"module 'ecgimg.experiments' has no attribute {name!r}")
