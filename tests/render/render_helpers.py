"""Helpers shared by the renderer tests."""
from __future__ import annotations

import numpy as np


def xy(panel: dict) -> np.ndarray:
    """A truth panel's per-sample points as an (n, 2) float array (null gaps -> NaN)."""
    return np.stack([np.asarray(panel["x"], np.float64), np.asarray(panel["y"], np.float64)], axis=1)
