"""Shared fixtures. Tests that need ../shared/data skip with a clear reason when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ECGIMG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

try:  # keep CPU tests predictable on 2-core machines
    import torch
    torch.set_num_threads(min(2, os.cpu_count() or 1))
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real ECG data (../shared/data); skips the test when it is not present."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real ECG data not found at {SHARED_DATA} (fresh clone without ../shared)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ptbxl_root(shared_data: Path) -> Path:
    root = shared_data / "ptbxl"
    if not (root / "ptbxl_database.csv").is_file():
        pytest.skip(f"PTB-XL subset not found at {root}")
    return root
