"""Realism of the synthetic cohort: a two-sample test against the 500 PTB-XL records at 500 Hz.

(a) Feature classifier: gradient boosting (and logistic regression) on the statistics of
    `ecgimg.data.synthetic.measure` (per-lead P/Q/R/S/ST/T amplitudes, peak-to-peak, band powers,
    beat residual; intervals, axis, rate, RR variability), patient-grouped 5-fold CV AUROC of
    "real vs synthetic". 0.5 = indistinguishable; the issue's goal is <= 0.80.
(b) A small 1-D CNN discriminator on the raw signals (250 Hz, mV), patient-grouped 3-fold CV.

Also prints the features that still give synthetic records away (univariate AUROC furthest
from 0.5), and writes under --out: `distributions.png` (per-lead amplitudes, R progression,
intervals, band powers, real vs synthetic), `pages.png` (two real and two synthetic ECGs
rendered with the same layout and style) and `realism.json`.

    nice -n 10 .venv/bin/python benchmarks/cohort_realism.py [--out DIR] [--no-cnn]
    # the generator of an older commit, from a copy of its synthetic.py outside the repo:
    nice -n 10 .venv/bin/python benchmarks/cohort_realism.py --before /path/to/synthetic_old.py
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from ecgimg.data.synthetic.measure import LEADS, feature_names, measure_records  # noqa: E402

SHARED = Path(os.environ.get("ECGIMG_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))


def load_ptbxl_500(root: Path) -> tuple[np.ndarray, np.ndarray, "object"]:
    """(signals (N, 12, 5000) mV, patient ids, metadata rows) of the PTB-XL 500 Hz records."""
    from ecgimg.data import PTBXL

    dataset = PTBXL(root, sampling_rate=500)
    records = [dataset[i] for i in range(len(dataset))]
    signals = np.stack([r.signal for r in records]).astype(np.float32)
    return signals, np.array([f"ptb{r.patient_id}" for r in records]), dataset.metadata


def load_generator(before: str | None):
    """`synthetic_cohort` of this tree, or of a synthetic.py file given by path (--before)."""
    if before is None:
        from ecgimg.data.synthetic import synthetic_cohort
        return synthetic_cohort
    spec = importlib.util.spec_from_file_location("synthetic_before", before)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_cohort


def feature_test(features: np.ndarray, is_synthetic: np.ndarray, groups: np.ndarray,
                 seed: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cv = StratifiedGroupKFold(5, shuffle=True, random_state=seed)
    models = {
        "gradient_boosting": HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05,
                                                            random_state=seed),
        "logistic_regression": make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                             LogisticRegression(C=0.1, max_iter=3000)),
    }
    out = {}
    for name, model in models.items():
        scores = cross_val_predict(model, features, is_synthetic, groups=groups, cv=cv,
                                   method="predict_proba")[:, 1]
        out[name] = float(roc_auc_score(is_synthetic, scores))
    names = feature_names()
    single = []
    for j, name in enumerate(names):
        ok = np.isfinite(features[:, j])
        if ok.sum() < 20 or len(np.unique(is_synthetic[ok])) < 2:
            continue
        single.append((name, float(roc_auc_score(is_synthetic[ok], features[ok, j]))))
    single.sort(key=lambda kv: -abs(kv[1] - 0.5))
    out["top_features"] = single[:15]
    return out


def cnn_test(signals: np.ndarray, is_synthetic: np.ndarray, groups: np.ndarray, seed: int,
             epochs: int) -> float:
    """Patient-grouped 3-fold CV AUROC of a small 1-D CNN discriminator (CPU, one thread)."""
    import torch
    from scipy.signal import resample_poly
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    torch.set_num_threads(1)
    x = resample_poly(signals, 1, 2, axis=-1).astype(np.float32)  # 250 Hz keeps mains and noise
    x = torch.from_numpy(x)
    y = torch.from_numpy(is_synthetic.astype(np.float32))
    scores = np.zeros(len(x))
    cv = StratifiedGroupKFold(3, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(cv.split(x, is_synthetic, groups)):
        torch.manual_seed(seed + fold)
        net = torch.nn.Sequential(
            torch.nn.Conv1d(12, 32, 9, stride=2, padding=4), torch.nn.BatchNorm1d(32),
            torch.nn.ReLU(),
            torch.nn.Conv1d(32, 48, 9, stride=2, padding=4), torch.nn.BatchNorm1d(48),
            torch.nn.ReLU(),
            torch.nn.Conv1d(48, 64, 9, stride=2, padding=4), torch.nn.BatchNorm1d(64),
            torch.nn.ReLU(),
            torch.nn.Conv1d(64, 64, 9, stride=2, padding=4), torch.nn.BatchNorm1d(64),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(), torch.nn.Linear(64, 1))
        opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-3)
        gen = torch.Generator().manual_seed(seed + fold)
        for _ in range(epochs):
            net.train()
            order = torch.from_numpy(train)[torch.randperm(len(train), generator=gen)]
            for start in range(0, len(order), 32):
                batch = order[start:start + 32]
                shift = int(torch.randint(0, 250, (1,), generator=gen))  # 1 s random crop
                logits = net(x[batch][..., shift:shift + 2250]).squeeze(1)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            scores[test] = net(x[torch.from_numpy(test)][..., 125:2375]).squeeze(1).numpy()
    return float(roc_auc_score(is_synthetic, scores))


def plot_distributions(real: np.ndarray, synthetic: np.ndarray, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = feature_names()
    col = {n: i for i, n in enumerate(names)}
    panels = [("peak-to-peak 0.5-99.5 pct (mV)", [f"p2p_{lead}" for lead in LEADS]),
              ("R amplitude (mV)", [f"r_{lead}" for lead in LEADS]),
              ("S amplitude (mV)", [f"s_{lead}" for lead in LEADS]),
              ("T amplitude (mV, signed)", [f"t_{lead}" for lead in LEADS]),
              ("P amplitude (mV, signed)", [f"p_{lead}" for lead in LEADS]),
              ("baseline wander <0.5 Hz (log10 mV^2)", [f"wander_{lead}" for lead in LEADS]),
              ("> 40 Hz without mains (log10 mV^2)", [f"hf_{lead}" for lead in LEADS]),
              ("beat residual rms (log10 mV)", [f"resid_{lead}" for lead in LEADS])]
    scalars = [("heart rate (bpm)", "hr_bpm"), ("RR CV", "rr_cv"), ("P (ms)", "p_ms"),
               ("PR (ms)", "pr_ms"), ("QRS (ms)", "qrs_ms"), ("QT (ms)", "qt_ms"),
               ("QTc (ms)", "qtc_ms"), ("frontal axis (deg)", "axis_deg")]
    fig = plt.figure(figsize=(22, 20))
    grid = fig.add_gridspec(6, 4)
    for k, (label, cols) in enumerate(panels):
        ax = fig.add_subplot(grid[k // 2, (k % 2) * 2:(k % 2) * 2 + 2])
        pos = np.arange(len(cols))
        for data, offset, colour in ((real, -0.18, "tab:blue"), (synthetic, 0.18, "tab:orange")):
            values = [data[np.isfinite(data[:, col[c]]), col[c]] for c in cols]
            box = ax.boxplot(values, positions=pos + offset, widths=0.32, showfliers=False,
                             patch_artist=True)
            for patch in box["boxes"]:
                patch.set_facecolor(colour)
                patch.set_alpha(0.6)
        ax.set_xticks(pos, LEADS)
        ax.set_title(label)
    for k, (label, name) in enumerate(scalars):
        ax = fig.add_subplot(grid[4 + k // 4, k % 4])
        a, b = real[:, col[name]], synthetic[:, col[name]]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        lo, hi = np.percentile(np.r_[a, b], (1, 99)) if len(a) + len(b) else (0, 1)
        bins = np.linspace(lo, hi, 30)
        ax.hist(a, bins, alpha=0.55, density=True, label="PTB-XL", color="tab:blue")
        ax.hist(b, bins, alpha=0.55, density=True, label="synthetic", color="tab:orange")
        ax.set_title(label)
        if k == 0:
            ax.legend()
    fig.suptitle(title + "   (blue PTB-XL 500 Hz, orange synthetic)", fontsize=14)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def render_pages(real: np.ndarray, synthetic: np.ndarray, path: Path) -> None:
    """Two real (top) and two synthetic (bottom, pass two patients) pages, 3x4+1R classic."""
    import render
    from PIL import Image

    pages = [render.render(s, 500.0, list(LEADS), layout="3x4+1R", style="classic",
                           seed=0).image for s in (*real[:2], *synthetic[:2])]
    h, w = min(p.shape[0] for p in pages), min(p.shape[1] for p in pages)
    pages = [p[:h, :w] for p in pages]
    sheet = np.vstack([np.hstack(pages[:2]), np.hstack(pages[2:])])
    Image.fromarray(sheet).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ptbxl", default=str(SHARED / "ptbxl"))
    parser.add_argument("--before", default=None, help="path of an older synthetic.py to test")
    parser.add_argument("--patients", type=int, default=250)
    parser.add_argument("--ecgs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--no-cnn", action="store_true")
    parser.add_argument("--out", default="runs/bench/cohort_realism")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    real, real_groups, _ = load_ptbxl_500(Path(args.ptbxl))
    generator = load_generator(args.before)
    t0 = time.perf_counter()
    records = generator(args.patients, args.ecgs, seed=args.seed)
    synthetic = np.stack([r.signal for r in records]).astype(np.float32)
    syn_groups = np.array([r.patient_id for r in records])
    print(f"PTB-XL {len(real)} records ({len(set(real_groups))} patients); synthetic "
          f"{len(synthetic)} ({args.patients} x {args.ecgs}) in {time.perf_counter() - t0:.1f} s "
          f"from {'--before ' + args.before if args.before else 'this tree'}")
    f_real, f_syn = measure_records(real, 500.0), measure_records(synthetic, 500.0)
    features = np.vstack([f_real, f_syn])
    is_synthetic = np.r_[np.zeros(len(real)), np.ones(len(synthetic))].astype(int)
    groups = np.r_[real_groups, syn_groups]
    result = {"n_real": len(real), "n_synthetic": len(synthetic), "before": args.before}
    result.update(feature_test(features, is_synthetic, groups, args.seed))
    print(f"feature classifier AUROC real vs synthetic: gradient boosting "
          f"{result['gradient_boosting']:.3f}, logistic regression "
          f"{result['logistic_regression']:.3f}  (0.5 = indistinguishable; goal <= 0.80)")
    print("features that give synthetic records away (univariate AUROC, >0.5 = higher in "
          "synthetic):")
    for name, auc in result["top_features"]:
        i = feature_names().index(name)
        print(f"  {name:<16} {auc:.3f}   median PTB-XL {np.nanmedian(f_real[:, i]):8.3f}  "
              f"synthetic {np.nanmedian(f_syn[:, i]):8.3f}")
    if not args.no_cnn:
        t0 = time.perf_counter()
        result["cnn"] = cnn_test(np.vstack([real, synthetic]), is_synthetic, groups, args.seed,
                                 args.epochs)
        print(f"1-D CNN discriminator AUROC (3-fold, {args.epochs} epochs): {result['cnn']:.3f}"
              f"  ({time.perf_counter() - t0:.0f} s)")
    names = feature_names()
    result["medians"] = {n: [float(np.nanmedian(f_real[:, i])), float(np.nanmedian(f_syn[:, i]))]
                         for i, n in enumerate(names)}
    title = "before" if args.before else "this tree"
    plot_distributions(f_real, f_syn, out / "distributions.png", f"synthetic cohort ({title})")
    render_pages(real, synthetic[::args.ecgs], out / "pages.png")
    (out / "realism.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {out / 'distributions.png'}, {out / 'pages.png'}, {out / 'realism.json'}")


if __name__ == "__main__":
    main()
