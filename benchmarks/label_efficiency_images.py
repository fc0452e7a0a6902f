"""Label efficiency on rendered synthetic ECG images: BCL vs SimCLR vs scratch at 1%, 10%, 100% labels.

Reuses the renders and encoders of `benchmarks/bcl_retrieval.py` (runs it first when its output
is missing). Pretrained encoders (BCL, SimCLR, and random init as a floor) are evaluated by linear
probing: logistic regression on frozen pooled features of every render of the labelled training
ECGs. "scratch" trains the same CNN end to end from random init with multi-label BCE through the
engine for a fixed step budget. AUROC on held-out patients' ECGs (one unseen render each). For 1%
and 10% the labelled subset is drawn 3 times (seeded, patient-level, at least one positive and one
negative) and AUROCs are averaged. A small CPU budget: rough figures, not the paper's protocol.

    .venv/bin/python benchmarks/label_efficiency_images.py [--out /tmp/ecgimg_bcl] [--scratch-steps 80]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bcl_retrieval as bench  # noqa: E402
from ecgimg.weights import load_weights  # noqa: E402

TASKS = ("lvsd", "sex", "af")
FRACTIONS = (0.01, 0.10, 1.0)


def labelled_subset(train_labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a `fraction` of training ECGs holding at least one positive and one negative."""
    n = len(train_labels)
    k = max(2, int(round(fraction * n)))
    if k >= n:
        return np.arange(n)
    for _ in range(1000):
        pick = rng.choice(n, size=k, replace=False)
        if 0 < train_labels[pick].sum() < k:
            return pick
    pos, neg = np.flatnonzero(train_labels == 1), np.flatnonzero(train_labels == 0)
    return np.concatenate([rng.choice(pos, 1), rng.choice(neg, k - 1)])


def probe_auroc(train_feats: np.ndarray, train_y: np.ndarray, test_feats: np.ndarray, test_y: np.ndarray) -> float:
    """train_feats [n_ecg, n_views, D] (all renders of a labelled ECG share its label)."""
    x = train_feats.reshape(-1, train_feats.shape[-1])
    y = np.repeat(train_y, train_feats.shape[1])
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(C=0.1, max_iter=2000).fit(scaler.transform(x), y)
    return float(roc_auc_score(test_y, clf.predict_proba(scaler.transform(test_feats))[:, 1]))


def features(model: torch.nn.Module, data: dict) -> tuple[np.ndarray, np.ndarray]:
    pool = data["train_pool"]
    n, k = pool.shape[:2]
    train = bench.embed(model, pool.reshape(n * k, *pool.shape[2:]), head="features")
    test = bench.embed(model, data["test_pool"][:, 0], head="features")
    return train.reshape(n, k, -1).numpy(), test.numpy()


class _LabelledPool(torch.utils.data.Dataset):
    def __init__(self, pool: torch.Tensor, targets: np.ndarray):
        self.pool, self.targets = pool, torch.from_numpy(targets)

    def __len__(self) -> int:
        return self.pool.shape[0] * self.pool.shape[1]

    def __getitem__(self, i: int) -> dict:
        ecg, slot = divmod(i, self.pool.shape[1])
        return {"image": self.pool[ecg, slot].float(), "target": self.targets[ecg], "index": ecg}


def scratch_aurocs(data: dict, pick: np.ndarray, steps: int, seed: int, out: Path,
                   backbone: str = bench.BACKBONE) -> dict[str, float]:
    """End-to-end multi-label training from random init on the picked ECGs; AUROC per task."""
    from ecgimg.train import fit, make_loader
    from ecgimg.train.config import TrainConfig
    from ecgimg.train.objectives import supervised_bce
    targets = np.stack([data["labels"][t][data["train_pos"]] for t in TASKS], axis=1)
    ds = _LabelledPool(data["train_pool"][pick], targets[pick])
    loader = make_loader(ds, batch_size=min(32, len(ds)), shuffle=True, seed=seed, drop_last=len(ds) > 32)
    torch.manual_seed(seed)
    model = bench.timm_model(backbone, num_classes=len(TASKS), in_chans=data["train_pool"].shape[2])
    epochs = max(1, -(-steps // max(1, len(loader))))
    config = TrainConfig(epochs=epochs, max_steps=steps, lr=1e-3, weight_decay=1e-4, seed=seed,
                         out_dir=str(out / f"scratch_{len(pick)}_{seed}"), progress=False,
                         monitor="train_loss", save_every_epochs=10_000)
    fit(model, loader, None, config, objective=supervised_bce(input_key="image"))
    model.eval()
    with torch.no_grad():
        test = data["test_pool"][:, 0].float()
        probs = torch.cat([torch.sigmoid(model(test[i:i + 64])) for i in range(0, len(test), 64)]).numpy()
    return {t: float(roc_auc_score(data["labels"][t][data["test_pos"]], probs[:, j])) for j, t in enumerate(TASKS)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/ecgimg_bcl"))
    ap.add_argument("--scratch-steps", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not (args.out / "bcl.pt").is_file():
        bench.main(["--out", str(args.out)])
    data = torch.load(args.out / "data.pt", weights_only=False)
    settings = bench.read_settings(args.out)  # the backbone the encoders were pretrained with
    backbone, in_chans = settings.get("backbone", bench.BACKBONE), data["train_pool"].shape[2]
    t0 = time.perf_counter()
    feats = {}
    for name, file in (("bcl", "bcl.pt"), ("simclr", "simclr.pt"), ("random", "random.pt")):
        if not (args.out / file).is_file():  # e.g. the --fixed-page diagnostic has no SimCLR
            continue
        model = bench.new_encoder(0, backbone, in_chans)
        load_weights(model, args.out / file)
        feats[name] = features(model.eval(), data)
    train_y = {t: data["labels"][t][data["train_pos"]] for t in TASKS}
    test_y = {t: data["labels"][t][data["test_pos"]] for t in TASKS}
    n_train = len(data["train_pos"])
    print(f"{n_train} labelled-pool ECGs, {len(data['test_pos'])} held-out ECGs; prevalence (test) "
          + ", ".join(f"{t} {test_y[t].mean():.2f}" for t in TASKS))

    rows = []
    for fraction in FRACTIONS:
        repeats = 1 if fraction == 1.0 else args.repeats
        scores: dict[str, dict[str, list[float]]] = {}
        for r in range(repeats):
            rng = np.random.default_rng([args.seed, r, int(fraction * 1000)])
            for t in TASKS:
                pick = labelled_subset(train_y[t], fraction, rng)
                for name, (tr, te) in feats.items():
                    auc = probe_auroc(tr[pick], train_y[t][pick], te, test_y[t])
                    scores.setdefault(f"{name} (probe)", {}).setdefault(t, []).append(auc)
            # scratch: one multi-label network on one labelled subset (the lvsd-stratified draw)
            pick = labelled_subset(train_y["lvsd"], fraction, rng)
            if all(0 < train_y[t][pick].sum() < len(pick) for t in TASKS) or fraction == 1.0:
                for t, auc in scratch_aurocs(data, pick, args.scratch_steps, r, args.out, backbone).items():
                    scores.setdefault("scratch (e2e)", {}).setdefault(t, []).append(auc)
        for name, per_task in scores.items():
            rows.append((fraction, name, {t: float(np.mean(v)) for t, v in per_task.items()},
                         len(next(iter(per_task.values())))))

    print(f"\nAUROC on held-out patients (mean over draws; n labelled ECGs at 1%/10%/100% = "
          f"{max(2, round(0.01 * n_train))}/{round(0.1 * n_train)}/{n_train})")
    print(f"{'labels':>6s} {'init':16s} " + " ".join(f"{t:>6s}" for t in TASKS) + "  draws")
    for fraction, name, per_task, n in rows:
        print(f"{fraction:6.0%} {name:16s} " + " ".join(f"{per_task.get(t, float('nan')):6.3f}" for t in TASKS)
              + f"  {n}")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
