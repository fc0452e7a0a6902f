"""Lead-quality flags (`ecgimg.data.quality`) on every real record, on the synthetic cohort and on
leads built to be bad; plus what the check costs next to reading a record (one core).

The thresholds are meant to flag nothing on clean real ECGs and everything on the bad cases:
this prints both, so a threshold change shows its price.

    .venv/bin/python benchmarks/lead_quality.py
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from ecgimg.data import STANDARD_LEADS, load_record, synthetic_cohort  # noqa: E402
from ecgimg.data.folder import record_paths  # noqa: E402
from ecgimg.data.quality import lead_flags  # noqa: E402

SHARED = Path(os.environ.get("ECGIMG_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
FOLDERS = ("ptbxl/records500", "ptbxl/records100", "cinc2021", "cpsc2018", "misc")


def real_records() -> None:
    if not SHARED.is_dir():
        print(f"(no real data at {SHARED})")
        return
    print(f"{'folder':<20} {'records':>8} {'leads':>7} {'flagged leads':>14}  flags")
    for folder in FOLDERS:
        n_records = n_leads = 0
        counts: Counter = Counter()
        examples = []
        for base in record_paths(SHARED / folder):
            record = load_record(base, check_quality=False)
            flags = lead_flags(record.signal, record.fs, record.leads)
            n_records, n_leads = n_records + 1, n_leads + len(record.leads)
            counts.update(flag for names in flags.values() for flag in names)
            if flags:
                examples.append(f"{base.name} {flags}")
        print(f"{folder:<20} {n_records:>8} {n_leads:>7} {sum(counts.values()):>14}  "
              f"{dict(counts) or '-'}")
        for line in examples[:5]:
            print(f"{'':<22}{line}")


def synthetic() -> None:
    records = synthetic_cohort(100, 3, seed=0)
    flagged = sum(bool(lead_flags(r.signal, r.fs, r.leads)) for r in records)
    print(f"synthetic cohort: {flagged} of {len(records)} records with a flagged lead")


def bad_cases() -> None:
    base = synthetic_cohort(1, 1, seed=1)[0].signal[1].astype(np.float64)
    t = np.arange(base.size) / 500.0
    rng = np.random.default_rng(0)
    saturated = base.copy()
    saturated[1000:4000] = saturated.max()
    cases = {
        "all-zero lead": np.zeros_like(base), "volts read as mV (x1e-3)": base * 1e-3,
        "uV read as mV (x1e3)": base * 1e3, "50 mV baseline": base + 50,
        "sine 1.3 Hz": np.sin(2 * np.pi * 1.3 * t), "sine 10 Hz + 1% noise":
            np.sin(2 * np.pi * 10 * t) + 0.01 * rng.standard_normal(t.size),
        "white noise": 0.3 * rng.standard_normal(t.size), "stuck at rail 6 s": saturated,
        # railing needs >= 10 ms plateaus: a clip that only shaves R-wave tips goes unflagged
        "R tips clipped at 80%": np.clip(base, None, 0.8 * base.max()),
        "R waves clipped at 30%": np.clip(base, None, 0.3 * base.max()),
    }
    for name, lead in cases.items():
        print(f"{name:<28} -> {lead_flags(lead[None], 500.0, ['X']).get('X', ['(not flagged)'])}")


def cost() -> None:
    files = sorted((SHARED / "ptbxl" / "records500").rglob("*.hea"))[:100]
    if not files:
        return
    records = [load_record(f, check_quality=False) for f in files]
    start = time.process_time()
    for f in files:
        load_record(f, check_quality=False)
    read = (time.process_time() - start) / len(files)
    start = time.process_time()
    for r in records:
        lead_flags(r.signal, r.fs, STANDARD_LEADS)
    check = (time.process_time() - start) / len(records)
    print(f"CPU per PTB-XL 500 Hz record: read {read * 1e3:.1f} ms, lead_flags {check * 1e3:.1f} ms "
          f"({check / read:.0%} of a read; load_record + canonicalize run it once each)")


if __name__ == "__main__":
    real_records()
    synthetic()
    bad_cases()
    cost()
