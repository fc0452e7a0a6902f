"""What a page of S px still shows: signal models trained on the signal a page of that size keeps.

A 12-lead page cut to its lead grid and stretched to S x S px samples every lead at about S / 10
px per second (3x4: a quarter of the width per 2.5 s column; the rhythm strip: the width per
10 s) and its amplitude at about S / 170 px per mm (4 rows of ~42 mm). So an image model at S px
can at best see the ECG resampled to S / 10 Hz and rounded to 1 px of amplitude. This benchmark
trains the same small 1-D CNN on the cohort's signals degraded that way for several S (and on the
signal at 100 Hz) and prints test AUROC with patient-bootstrap 95% CIs per label: the ceiling
the image arms of the demo face at their input size, measured without rendering.

    .venv/bin/python benchmarks/page_resolution.py [--sizes 128,160,256,384,512] [--task lvsd]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from scipy.signal import resample_poly

from ecgimg.data import SignalCache, synthetic_cohort_cache
from ecgimg.evaluate.stats import patient_bootstrap, percentile_ci

GRID_HEIGHT_MM = 170.0   # 3x4+1R grid: 4 rows of ~42 mm
MM_PER_MV = 10.0
REFERENCE_HZ = 100.0  # PTB-XL's benchmark models do as well at 100 Hz as at 500 Hz


def page_signal(signal: np.ndarray, fs: float, size_px: int | None) -> np.ndarray:
    """[12, T] mV -> what a size_px page keeps: S/10 Hz (anti-aliased) and 1-px amplitude steps;
    size None: the signal at REFERENCE_HZ, unrounded (the signal models' view, cheaper than 500 Hz)."""
    rate = REFERENCE_HZ if size_px is None else size_px / 10.0
    low = resample_poly(signal, int(round(rate * 10)), int(round(fs * 10)), axis=-1)
    if size_px is None:
        return low.astype(np.float32)
    step_mv = 1.0 / (MM_PER_MV * size_px / GRID_HEIGHT_MM)
    return (np.round(low / step_mv) * step_mv).astype(np.float32)


class SmallCNN(nn.Module):
    """Four strided conv blocks and global pooling: the same model at every sampling rate."""

    def __init__(self, width: int = 64):
        super().__init__()
        layers, c = [], 12
        for i in range(4):
            layers += [nn.Conv1d(c, width, 7, stride=1 if i == 0 else 2, padding=3),
                       nn.BatchNorm1d(width), nn.GELU()]
            c = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def forward(self, x):
        return self.head(self.body(x).mean(-1)).squeeze(-1)


def train_and_score(x_train, y_train, x_val, y_val, x_test, seed: int, epochs: int) -> np.ndarray:
    """Adam, batch 32, best validation loss; returns test scores."""
    torch.manual_seed(seed)
    model = SmallCNN()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    loss_fn = nn.BCEWithLogitsLoss()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    best, best_state = float("inf"), None
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt), generator=gen).split(32):
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = float(loss_fn(model(torch.from_numpy(x_val)), torch.from_numpy(y_val)))
        if val < best:
            best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    with torch.no_grad():
        return torch.sigmoid(model(torch.from_numpy(x_test))).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,160,256,384,512")
    parser.add_argument("--task", default="lvsd")
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/ecgimg_page_resolution"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    from ecgimg.data.synthetic import COHORT_VERSION
    cache_dir = args.out / f"cache_v{COHORT_VERSION}_p{args.patients}_s{args.seed}"
    cache = (SignalCache.open(cache_dir) if (cache_dir / "cache.json").is_file() else
             synthetic_cohort_cache(cache_dir, args.patients, 3, seed=args.seed,
                                    fractions={"train": 0.6, "val": 0.15, "test": 0.25}))
    split = {s: cache.split_indices(s) for s in ("train", "val", "test")}
    y = cache.targets(args.task)[1][:, 0].astype(np.float32)
    patients = cache.index["patient_id"].to_numpy()
    signals = np.asarray(cache.signals)
    print(f"{args.task}: {len(split['train'])}/{len(split['val'])}/{len(split['test'])} ECGs, "
          f"test prevalence {y[split['test']].mean():.2f}; small 1-D CNN, {args.epochs} epochs\n")
    print(f"{'page size':>10s} | {'rate (Hz)':>9s} | {'mV per px':>9s} | AUROC [95% CI by patient] | s")
    sizes = [None] + [int(s) for s in args.sizes.split(",")]
    for size in sizes:
        t0 = time.perf_counter()
        x = np.stack([page_signal(signals[i], cache.fs, size) for i in range(len(signals))])
        scores = train_and_score(x[split["train"]], y[split["train"]], x[split["val"]],
                                 y[split["val"]], x[split["test"]], args.seed, args.epochs)
        test = split["test"]
        dist = patient_bootstrap(y[test], scores, patients[test], n_boot=1000, seed=args.seed)
        lo, hi = percentile_ci(dist.boot_auroc[0, :, 0])
        rate = REFERENCE_HZ if size is None else size / 10.0
        step = "-" if size is None else f"{1.0 / (MM_PER_MV * size / GRID_HEIGHT_MM):.3f}"
        name = "signal" if size is None else f"{size} px"
        print(f"{name:>10s} | {rate:9.1f} | {step:>9s} | {dist.auroc[0, 0]:.3f} [{lo:.3f}, {hi:.3f}]"
              f"        | {time.perf_counter() - t0:.0f}", flush=True)


if __name__ == "__main__":
    main()
