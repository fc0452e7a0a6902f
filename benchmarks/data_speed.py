"""Data speed (one core) and synthetic-cohort quality figures, printed.

Speed: records/s reading + canonicalising PTB-XL at 500 Hz and 100 Hz (needs ../shared/data),
synthetic ECGs/s against neurokit2's `ecg_simulate(method="multileads")` (optional `bench` extra)
in the same run, cache writing. Both wall-clock and CPU-time rates are printed: on a shared
machine the CPU-time rate is the fair one-core figure.
Quality: nearest-neighbour patient identification and logistic-regression AUROC per label on
simple features (patient-grouped 5-fold cross-validation).

    .venv/bin/python benchmarks/data_speed.py [--patients 300 --ecgs 4]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from ecgimg.data import build_cache, canonicalize, load_record, synthetic_cohort  # noqa: E402
from ecgimg.data.features import simple_features  # noqa: E402

SHARED = Path(os.environ.get("ECGIMG_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))


def timed(label: str, n: int, fn) -> object:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<44} n={n:<5} {n / wall:8.1f}/s wall   {n / cpu:8.1f}/s CPU")
    return result


def speed() -> None:
    ptbxl = SHARED / "ptbxl"
    for rate in (500, 100):
        files = sorted((ptbxl / f"records{rate}").glob("*/*.hea"))
        if not files:
            print(f"PTB-XL {rate} Hz: not found under {ptbxl} (skipped)")
            continue
        timed(f"PTB-XL {rate} Hz read + canonicalise (12x5000)", len(files),
              lambda: [canonicalize(load_record(f)) for f in files])
    records = timed("synthetic ECGs (12 x 5000 @ 500 Hz)", 400,
                    lambda: synthetic_cohort(100, 4, seed=0))
    neurokit_peer(n=5)
    with tempfile.TemporaryDirectory() as tmp:
        timed("cache write (canonicalise + memmap + index)", len(records),
              lambda: build_cache(records, tmp, progress=False))


def neurokit_peer(n: int) -> None:
    """The peer: neurokit2's ECGSYN-style 12-lead simulator (the `bench` extra), same length."""
    try:
        import neurokit2 as nk
    except ImportError:
        print("neurokit2 ecg_simulate(method='multileads'): not installed (pip install .[bench])")
        return
    timed("neurokit2 ecg_simulate multileads (12 x 5000)", n,
          lambda: [nk.ecg_simulate(duration=10, sampling_rate=500, method="multileads",
                                   random_state=i) for i in range(n)])


def quality(n_patients: int, ecgs_per_patient: int) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    records = synthetic_cohort(n_patients, ecgs_per_patient, seed=0)
    signals = np.stack([r.signal for r in records])
    patients = np.array([r.patient_id for r in records])
    features = simple_features(signals, fs=500.0)
    z = StandardScaler().fit_transform(features[:, :-3])
    sq = (z ** 2).sum(1)
    dist = sq[:, None] + sq[None, :] - 2 * z @ z.T
    np.fill_diagonal(dist, np.inf)
    accuracy = np.mean(patients[dist.argmin(1)] == patients)
    chance = (ecgs_per_patient - 1) / (len(records) - 1)
    print(f"cohort {n_patients} patients x {ecgs_per_patient} ECGs")
    print(f"  NN patient identification (amplitude features): {accuracy:.3f} "
          f"(chance {chance:.4f}, x{accuracy / chance:.0f})")
    for task in ("lvsd", "sex", "af"):
        y = np.array([r.labels[task] for r in records])
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
        scores = cross_val_predict(model, features, y, groups=patients, cv=GroupKFold(5),
                                   method="predict_proba")[:, 1]
        print(f"  {task:<5} prevalence {y.mean():.3f}  logistic-regression AUROC "
              f"{roc_auc_score(y, scores):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--ecgs", type=int, default=4)
    args = parser.parse_args()
    speed()
    quality(args.patients, args.ecgs)
