"""MAE vs JEPA vs BELL vs random init on one ViT backbone and one pretraining budget (issue 7).

Each method pretrains the same small ECG ViT for the same number of steps x batch with the shared
engine; the frozen encoder's pooled features are then linear-probed (and optionally attentive-probed)
on the labelled train split and scored on the test split (macro AUROC over the task's labels).
Representation collapse is checked with per-dimension std of normalised embeddings.

    python benchmarks/ssl_compare.py --data synthetic --steps 150 --batch 16
    python benchmarks/ssl_compare.py --data ptbxl:../shared/data/ptbxl --task superdiagnostic
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ecgimg.data import PTBXL, SignalDataset, build_cache, synthetic_cohort_cache
from ecgimg.models import create_model
from ecgimg.ssl.probing import attentive_probe, collapse_stats, extract_features, linear_probe
from ecgimg.train import TrainConfig, fit, input_loss, make_loader

PRETRAINERS = {"mae": "mae_ecg_vit_{size}_p250", "jepa": "jepa_ecg_vit_{size}_p250",
               "bell": "bell_ecg_vit_{size}_p250"}


def build_data(spec: str, out: Path, n_patients: int, seed: int):
    if spec == "synthetic":
        cache = synthetic_cohort_cache(out / "cache", n_patients, 3, seed=seed,
                                       fractions={"train": 0.6, "val": 0.1, "test": 0.3})
        return cache, ["lvsd", "sex", "af"]
    root = spec.split(":", 1)[1]
    cache = build_cache(PTBXL(root, sampling_rate=500), out / "cache", progress=False)
    return cache, ["superdiagnostic", "sex"]


def macro_auroc(y: np.ndarray, scores: np.ndarray) -> float:
    aucs = [roc_auc_score(y[:, k], scores[:, k]) for k in range(y.shape[1])
            if np.unique(y[:, k]).size == 2]
    return float(np.mean(aucs)) if aucs else float("nan")


def pretrain(method: str, encoder_kwargs: dict, cache, args, out: Path):
    """Returns the encoder (ECGViT) after `args.steps` steps of `method` (none for random init)."""
    torch.manual_seed(args.seed)
    if method == "random":
        return create_model(f"ecg_vit_{args.size}_p250", **encoder_kwargs), 0.0, None
    extra = {"momentum_total_steps": args.steps} if method in ("jepa", "bell") else {}
    if method == "mae":
        extra = {"decoder_embed_dim": 128, "decoder_depth": 2, "decoder_num_heads": 4}
    model = create_model(PRETRAINERS[method].format(size=args.size), **encoder_kwargs, **extra)
    loader = make_loader(SignalDataset(cache, split="train"), args.batch, shuffle=True,
                         seed=args.seed, drop_last=True)
    config = TrainConfig(max_steps=args.steps, lr=args.lr, weight_decay=0.05, warmup_steps=args.steps // 10,
                         seed=args.seed, out_dir=str(out / method), progress=False, log_every=50)
    start = time.perf_counter()
    result = fit(model, loader, None, config, objective=input_loss("signal"))
    losses = [h["train_loss"] for h in result.history if "train_loss" in h]  # per epoch
    return model.encoder, time.perf_counter() - start, (losses[0], losses[-1]) if losses else None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="synthetic", help="synthetic | ptbxl:PATH")
    parser.add_argument("--n-patients", type=int, default=150)
    parser.add_argument("--methods", default="random,mae,jepa,bell")
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--depth", type=int, default=4, help="ViT depth (kept small for CPU)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--attentive", action="store_true", help="also run the attentive probe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(args.out or tempfile.mkdtemp(prefix="ssl_compare_"))
    cache, tasks = build_data(args.data, out, args.n_patients, args.seed)
    encoder_kwargs = {"depth": args.depth}
    rows = []
    for method in args.methods.split(","):
        encoder, seconds, loss_span = pretrain(method, encoder_kwargs, cache, args, out)
        row = {"method": method, "pretrain_s": round(seconds, 1),
               "loss_first_last": None if loss_span is None else [round(v, 4) for v in loss_span]}
        for task in tasks:
            train = make_loader(SignalDataset(cache, split="train", task=task), 32, shuffle=False)
            test = make_loader(SignalDataset(cache, split="test", task=task), 32, shuffle=False)
            train_x, train_y = extract_features(encoder, train)
            test_x, test_y = extract_features(encoder, test)
            row[f"linear/{task}"] = round(macro_auroc(test_y, linear_probe(train_x, train_y, test_x)), 3)
            if args.attentive:
                train_t, _ = extract_features(encoder, train, tokens=True)
                test_t, _ = extract_features(encoder, test, tokens=True)
                scores = attentive_probe(train_t, train_y, test_t, epochs=20, seed=args.seed)
                row[f"attentive/{task}"] = round(macro_auroc(test_y, scores), 3)
        stats = collapse_stats(np.concatenate([train_x, test_x]))
        row.update({"emb_std": round(stats["mean_std"], 4),
                    "emb_std_centred": round(stats["centred_mean_std"], 4),
                    "emb_ref_std": round(stats["reference_std"], 4),
                    "effective_rank": round(stats["effective_rank"], 1)})
        rows.append(row)
        print(json.dumps(row), flush=True)
    (out / "ssl_compare.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    columns = list(rows[0])
    print("\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    print(f"\nresults: {out / 'ssl_compare.json'} (train n={len(cache.split_indices('train'))}, "
          f"test n={len(cache.split_indices('test'))})")


if __name__ == "__main__":
    main()
