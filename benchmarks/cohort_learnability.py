"""Label learnability and patient identity of the synthetic cohort (CPU, minutes).

Learnability: the CNN baseline (`ecg_cnn_baseline`, input in mV so voltage counts) trained with
`ecgimg.train.fit` on one multi-task head (lvsd, sex, af) on a patient-level split (60/20/20) of
a 600 x 3 cohort; test AUROC per label with patient-bootstrap 95% CIs.
Identity: nearest neighbour across visits, top-1 vs chance, on (a) the fixed feature vector of
`ecgimg.data.synthetic.measure` (z-scored, whole cohort as gallery) and (b) the trained CNN's
128-d features (test patients). For reference (a) is also run on PTB-XL's repeated patients.

    nice -n 10 .venv/bin/python benchmarks/cohort_learnability.py [--before OLD_synthetic.py]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cohort_realism import SHARED, load_generator, load_ptbxl_500  # noqa: E402

from ecgimg.data.synthetic.measure import measure_records  # noqa: E402

TASKS = ("lvsd", "sex", "af")
torch.set_num_threads(1)


class Arrays(torch.utils.data.Dataset):
    def __init__(self, signals: np.ndarray, targets: np.ndarray):
        self.signals, self.targets = torch.from_numpy(signals), torch.from_numpy(targets)

    def __len__(self) -> int:
        return len(self.signals)

    def __getitem__(self, i: int) -> dict:
        return {"signal": self.signals[i], "target": self.targets[i]}


def nn_identification(features: np.ndarray, patients: np.ndarray,
                      queries: np.ndarray | None = None) -> tuple[float, float]:
    """(top-1 same-patient rate of each query's nearest other record, chance)."""
    x = np.where(np.isfinite(features), features, np.nanmedian(features, axis=0))
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    sq = (x ** 2).sum(1)
    dist = sq[:, None] + sq[None, :] - 2 * x @ x.T
    np.fill_diagonal(dist, np.inf)
    queries = np.arange(len(x)) if queries is None else queries
    hit = patients[dist[queries].argmin(1)] == patients[queries]
    same = np.array([(patients == patients[q]).sum() - 1 for q in queries])
    return float(hit.mean()), float(np.mean(same / (len(x) - 1)))


def main() -> None:
    from ecgimg.data.splits import patient_split
    from ecgimg.evaluate.stats import patient_bootstrap, percentile_ci
    from ecgimg.models import create_model
    from ecgimg.train import TrainConfig, fit
    from ecgimg.train.objectives import supervised_bce
    from ecgimg.weights import load_weights

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default=None, help="path of an older synthetic.py to test")
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--ecgs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench/cohort_learnability")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    records = load_generator(args.before)(args.patients, args.ecgs, seed=args.seed)
    signals = np.stack([r.signal for r in records]).astype(np.float32)
    patients = np.array([r.patient_id for r in records])
    y = np.array([[r.labels[t] for t in TASKS] for r in records], dtype=np.float32)
    print(f"cohort {args.patients} x {args.ecgs} from "
          f"{'--before ' + args.before if args.before else 'this tree'}; prevalence "
          + ", ".join(f"{t} {y[:, k].mean():.3f}" for k, t in enumerate(TASKS))
          + f" ({time.perf_counter() - t0:.0f} s)")
    result: dict = {"before": args.before}

    features = measure_records(signals, 500.0)
    top1, chance = nn_identification(features, patients)
    result["nn_features"] = (top1, chance)
    print(f"NN identification, fixed features, gallery = whole cohort: top-1 {top1:.3f} "
          f"(chance {chance:.4f}, x{top1 / chance:.0f})")
    ptbxl = Path(SHARED / "ptbxl")
    if ptbxl.is_dir():
        real, real_groups, _ = load_ptbxl_500(ptbxl)
        repeated = np.array([np.sum(real_groups == g) > 1 for g in real_groups])
        top1_r, chance_r = nn_identification(measure_records(real, 500.0), real_groups,
                                             np.nonzero(repeated)[0])
        result["nn_features_ptbxl"] = (top1_r, chance_r, int(repeated.sum()))
        print(f"  reference PTB-XL 500 Hz ({repeated.sum()} records of repeated patients as "
              f"queries, gallery all {len(real)}): top-1 {top1_r:.3f} (chance {chance_r:.4f})")

    split = np.array(patient_split(list(patients), {"train": 0.6, "val": 0.2, "test": 0.2},
                                   seed=args.seed))
    sets = {s: np.nonzero(split == s)[0] for s in ("train", "val", "test")}
    loaders = {s: torch.utils.data.DataLoader(Arrays(signals[i], y[i]), batch_size=32,
                                              shuffle=s == "train")
               for s, i in sets.items()}
    model = create_model("ecg_cnn_baseline", num_classes=len(TASKS), input_norm="scale")
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(epochs=args.epochs, lr=1e-3, weight_decay=1e-2, warmup_steps=20,
                             device="cpu", out_dir=tmp, progress=False, seed=args.seed)
        t0 = time.perf_counter()
        result_fit = fit(model, loaders["train"], loaders["val"], config, supervised_bce())
        load_weights(model, result_fit.best_checkpoint)
        print(f"trained {args.epochs} epochs on {len(sets['train'])} ECGs in "
              f"{time.perf_counter() - t0:.0f} s (best val loss {result_fit.best_value:.4f})")
    model.eval()
    test = sets["test"]
    with torch.no_grad():
        x = torch.from_numpy(signals[test])
        feats = torch.cat([model.forward_features(x[i:i + 64]) for i in range(0, len(x), 64)])
        scores = torch.sigmoid(model.forward_head(feats)).numpy()
    boot = patient_bootstrap(y[test], scores, patients[test], n_boot=1000, seed=args.seed)
    result["auroc"] = {}
    for k, task in enumerate(TASKS):
        lo, hi = percentile_ci(boot.boot_auroc[0, :, k])
        result["auroc"][task] = (float(boot.auroc[0, k]), lo, hi)
        print(f"  {task:<5} test AUROC {boot.auroc[0, k]:.3f}  95% CI [{lo:.3f}, {hi:.3f}]  "
              f"({int(y[test, k].sum())} positives of {len(test)})")
    top1_c, chance_c = nn_identification(feats.numpy(), patients[test])
    result["nn_cnn_features"] = (top1_c, chance_c)
    print(f"NN identification, CNN features, test patients: top-1 {top1_c:.3f} "
          f"(chance {chance_c:.4f}, x{top1_c / chance_c:.0f})")
    (out / "learnability.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
