"""Where does the image path lose the label? A one-factor-at-a-time ablation of supervised image training.

Same cohort, split and label for every row; one image CNN (timm resnet10t unless a row says otherwise, from scratch) trained
with the engine on pages rendered by `ecgimg.data.images.RenderedImages` (drawn once into page
banks, `ecgimg.data.page_bank`), evaluated on the patient-disjoint test split with a
patient-bootstrap 95% CI. Each row changes one thing relative to the row it names:

- input size and what a small page still shows (128 / 192 / 256 px),
- page crop policy (letterboxed whole page vs cut to the lead grid, oversampled),
- page mix (any layout / style / degradation vs readable 3x4-family layouts, light effects),
- optimisation budget (steps), learning rate, batch size (BatchNorm with small batches),
- how evaluation pages are rendered (any random page vs the training policy).

Also reports the trivial page statistics (mean grey, ink fraction) of the evaluation pages as
"models": if a trained model ranks test pages like one of them, it learned paper, not cardiology.

    .venv/bin/python benchmarks/image_arm_ablation.py --patients 600 --rows all
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)

from ecgimg.data import SignalCache, synthetic_cohort_cache  # noqa: E402
from ecgimg.data.images import PAGE_POLICIES, READABLE_LAYOUTS, RenderedImages  # noqa: E402
from ecgimg.data.page_bank import build_page_bank  # noqa: E402
from ecgimg.evaluate.stats import patient_bootstrap, percentile_ci  # noqa: E402
from ecgimg.models import create_model  # noqa: E402
from ecgimg.train import TrainConfig, fit, make_loader, predict  # noqa: E402
from ecgimg.weights import load_weights  # noqa: E402
from ecgimg.train.objectives import supervised_bce  # noqa: E402

ANY_PAGES: dict = {}
READABLE_PAGES = dict(PAGE_POLICIES["readable"])
CLEAN_PAGES = {**READABLE_PAGES, "spec_kwargs": {"layouts": READABLE_LAYOUTS, "degrade_strength": None}}
ONE_LAYOUT_PAGES = {**READABLE_PAGES, "spec_kwargs": {"layouts": ("3x4+1R",), "degrade_strength": "light"}}
ONE_LAYOUT_CLEAN_PAGES = {**READABLE_PAGES, "spec_kwargs": {"layouts": ("3x4+1R",), "degrade_strength": None}}


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    pages: dict
    eval_pages: dict
    image_size: int = 128
    steps: int = 300
    batch: int = 32
    lr: float = 1e-3
    views: int = 4
    grayscale: bool = False
    backbone: str = "resnet10t"


def settings() -> list[Setting]:
    """The rows, in order; each changes one thing relative to the one it names."""
    demo = Setting("demo before (any page, letterbox, 40 steps x 16, lr 5e-4)", ANY_PAGES,
                   ANY_PAGES, 128, 40, 16, 5e-4)
    steps = dataclasses.replace(demo, name="+ 300 steps x 32, lr 1e-3", steps=300, batch=32, lr=1e-3)
    readable = dataclasses.replace(steps, name="+ readable pages cut to the grid (train and eval)",
                                   pages=READABLE_PAGES, eval_pages=READABLE_PAGES)
    eval_any = dataclasses.replace(readable, name="  readable training, any-page evaluation",
                                   eval_pages=ANY_PAGES)
    size160 = dataclasses.replace(readable, name="+ 160 px", image_size=160)
    size224 = dataclasses.replace(readable, name="+ 224 px", image_size=224)
    mobile = dataclasses.replace(size160, name="  160 px, mobilenetv3_small_100",
                                 backbone="mobilenetv3_small_100")
    mobile_long = dataclasses.replace(mobile, name="  160 px, mobilenetv3_small_100, 900 steps",
                                      steps=900)
    one_layout = dataclasses.replace(readable, name="  128 px, one layout (3x4+1R)",
                                     pages=ONE_LAYOUT_PAGES, eval_pages=ONE_LAYOUT_PAGES)
    one_layout_clean = dataclasses.replace(readable, name="  128 px, one layout (3x4+1R), clean pages",
                                           pages=ONE_LAYOUT_CLEAN_PAGES, eval_pages=ONE_LAYOUT_CLEAN_PAGES)
    mobile_clean = dataclasses.replace(mobile, name="  160 px, mobilenetv3_small_100, clean pages",
                                       pages=CLEAN_PAGES, eval_pages=CLEAN_PAGES)
    mobile256 = dataclasses.replace(mobile, name="  256 px, mobilenetv3_small_100", image_size=256)
    long = dataclasses.replace(readable, name="  128 px, 900 steps", steps=900)
    lr_high = dataclasses.replace(readable, name="  128 px, lr 3e-3", lr=3e-3)
    batch8 = dataclasses.replace(readable, name="  128 px, batch 8 x 1200 steps (BatchNorm)",
                                 batch=8, steps=1200)
    clean = dataclasses.replace(readable, name="  128 px, clean pages (no degradation)",
                                pages=CLEAN_PAGES, eval_pages=CLEAN_PAGES)
    grey = dataclasses.replace(readable, name="  128 px, greyscale", grayscale=True)
    return [demo, steps, readable, eval_any, size160, size224, mobile, mobile_long, long, lr_high,
            batch8, clean, grey, mobile256, one_layout, one_layout_clean, mobile_clean]


def auroc_ci(y, score, patients, seed=0):
    boot = patient_bootstrap(y, score, patients, n_boot=500, seed=seed)
    lo, hi = percentile_ci(boot.boot_auroc[0, :, 0])
    return float(boot.auroc[0, 0]), lo, hi


def run_setting(s: Setting, cache: SignalCache, task: str, rows: dict, root: Path, seed: int,
                workers: int) -> dict:
    def pages(idx, policy, view_seed):
        return RenderedImages(cache, indices=idx, task=task, seed=view_seed,
                              image_size=s.image_size, grayscale=s.grayscale, **policy)
    start = time.perf_counter()
    banks = root / "banks"

    def banked(idx, policy, view_seed, views):
        return build_page_bank(pages(idx, policy, view_seed), banks, views, workers).dataset(
            pages(idx, policy, view_seed))
    train = banked(rows["train"], s.pages, seed, s.views)
    val = banked(rows["val"], s.eval_pages, seed + 1_000_003, 1)
    test = banked(rows["test"], s.eval_pages, seed + 2_000_003, 1)
    render_s = time.perf_counter() - start
    torch.manual_seed(seed)
    model = create_model(f"timm:{s.backbone}", num_classes=1, input_size=s.image_size,
                         in_chans=1 if s.grayscale else 3)
    out = root / "runs" / task / re.sub(r"[^a-z0-9]+", "_", s.name.lower()).strip("_")
    steps_per_epoch = max(1, len(train) // s.batch)
    config = TrainConfig(max_steps=s.steps, epochs=-(-s.steps // steps_per_epoch), lr=s.lr,
                         warmup_steps=max(1, s.steps // 20), seed=seed, out_dir=str(out),
                         progress=False, log_every=10**6, save_every_epochs=10**6)
    train_loader = make_loader(train, s.batch, shuffle=True, seed=seed, drop_last=True)
    val_loader = make_loader(val, 64, shuffle=False, seed=seed)
    start = time.perf_counter()
    result = fit(model, train_loader, val_loader, config, objective=supervised_bce("image"))
    train_s = time.perf_counter() - start
    load_weights(model, result.best_checkpoint)
    outputs = predict(model, make_loader(test, 64, shuffle=False, seed=seed), input_key="image")
    y = outputs["target"].reshape(-1)
    patients = cache.index["patient_id"].to_numpy()[outputs["index"]]
    auc, lo, hi = auroc_ci(y, outputs["output"].reshape(-1), patients)
    pages_test = np.stack([test.bank.page(test.source_index(i)) for i in range(len(test))]
                          ).astype(np.float32)
    grey_mean = pages_test.mean(axis=(1, 2, 3))
    ink = (pages_test.mean(axis=3) < 128).mean(axis=(1, 2))
    scores = outputs["output"].reshape(-1)
    return {"setting": s.name, "auroc": auc, "lo": lo, "hi": hi,
            "score_sd": float(np.std(scores)),
            "rank_corr_with_page_grey": float(np.corrcoef(np.argsort(np.argsort(scores)),
                                                           np.argsort(np.argsort(grey_mean)))[0, 1]),
            "page_grey_auroc": auroc_ci(y, -grey_mean, patients)[0],
            "page_ink_auroc": auroc_ci(y, ink, patients)[0],
            "best_val_loss": float(result.best_value), "render_s": round(render_s, 1),
            "train_s": round(train_s, 1), "n_train": len(train), "n_test": len(test)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--list", action="store_true", help="print the rows and exit")
    parser.add_argument("--task", default="lvsd")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", default="all", help="comma-separated row numbers (0-based) or 'all'")
    parser.add_argument("--workers", type=int, default=2, help="render processes for the page banks")
    parser.add_argument("--out", type=Path, default=Path("/tmp/ecgimg_image_ablation"))
    args = parser.parse_args()
    if args.list:
        for i, s in enumerate(settings()):
            print(i, s.name)
        return
    from ecgimg.data.synthetic import COHORT_VERSION
    cache_dir = args.out / f"cache_v{COHORT_VERSION}_p{args.patients}_s{args.seed}"
    cache = (SignalCache.open(cache_dir) if (cache_dir / "cache.json").is_file() else
             synthetic_cohort_cache(cache_dir, args.patients, 3, seed=args.seed,
                                    fractions={"train": 0.6, "val": 0.15, "test": 0.25}))
    labelled = cache.labelled_indices(args.task)
    rows = {split: np.intersect1d(cache.split_indices(split), labelled) for split in ("train", "val", "test")}
    print(f"cohort: {len(cache)} ECGs of {cache.index['patient_id'].nunique()} patients; "
          f"train/val/test ECGs {len(rows['train'])}/{len(rows['val'])}/{len(rows['test'])}; "
          f"task {args.task}, prevalence {np.nanmean(cache.targets(args.task)[1]):.2f}", flush=True)
    chosen = settings() if args.rows == "all" else [settings()[int(i)] for i in args.rows.split(",")]
    results = []
    for s in chosen:
        r = run_setting(s, cache, args.task, rows, args.out, args.seed, args.workers)
        results.append(r)
        print(f"{r['setting']:60s} AUROC {r['auroc']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]  "
              f"score sd {r['score_sd']:.3f}  rank corr w/ page grey {r['rank_corr_with_page_grey']:+.2f}  "
              f"(render {r['render_s']}s, train {r['train_s']}s)", flush=True)
    print(f"\npage statistics as classifiers (test pages of the first row): grey "
          f"{results[0]['page_grey_auroc']:.3f}, ink {results[0]['page_ink_auroc']:.3f}")
    (args.out / f"results_{args.task}_{args.rows.replace(',', '-')}.json").write_text(
        json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
