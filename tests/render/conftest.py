"""Real PTB-XL records for renderer tests, read with wfdb directly (render must not need ecgimg)."""
from __future__ import annotations

import numpy as np
import pytest

STANDARD = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def read_ptbxl(root, ecg_id: int):
    import wfdb

    rec = wfdb.rdrecord(str(root / "records500" / f"{ecg_id // 1000 * 1000:05d}" / f"{ecg_id:05d}_hr"))
    return rec.p_signal.T.astype(np.float32), float(rec.fs), list(rec.sig_name)


@pytest.fixture(scope="session")
def ptbxl_records(ptbxl_root):
    """Three real 12-lead 500 Hz records: list of (signal mV (12, 5000), fs, lead names)."""
    return [read_ptbxl(ptbxl_root, i) for i in (1, 2, 17)]


@pytest.fixture(scope="session")
def synthetic_record():
    """A smooth 12-lead signal that obeys Einthoven's law; no data needed."""
    fs, n = 500.0, 5000
    t = np.arange(n) / fs
    lead_i = 0.6 * np.sin(2 * np.pi * 1.2 * t) ** 9 + 0.1 * np.sin(2 * np.pi * 0.3 * t)
    lead_ii = 1.1 * np.sin(2 * np.pi * 1.2 * t + 0.1) ** 9 - 0.05
    lead_iii = lead_ii - lead_i
    avr, avl, avf = -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2
    chest = [0.4 * k * np.sin(2 * np.pi * 1.2 * t + 0.2 * k) ** 9 for k in range(1, 7)]
    sig = np.stack([lead_i, lead_ii, lead_iii, avr, avl, avf, *chest]).astype(np.float32)
    return sig, fs, list(STANDARD)

