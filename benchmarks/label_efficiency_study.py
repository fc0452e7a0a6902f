"""Label efficiency on the synthetic cohort: BCL vs SimCLR vs scratch (image CNN) and MAE vs scratch
(signal ViT) at 1% and 10% of the labels, on lvsd, sex and af, with patient-bootstrap CIs and
patient-aware p-values (Holm-adjusted within each task's report).

Runs `ecgimg demo -c study` once per task (configs/study.yaml: 2,000 patients x 3 ECGs, 70/6/24%
patient split, label subsets sampled by patient and nested, one seed). The first task pretrains
MAE, BCL and SimCLR; the other tasks fine-tune the same encoders (pretraining never sees labels)
and read the same page banks. Prints one table of every arm and every contrast and writes it to
`<out>/study.md`. The seed papers' directions are BCL > SimCLR > scratch and MAE > scratch at low
label fractions; the table says which of them this budget reproduces.

    .venv/bin/python benchmarks/label_efficiency_study.py --out runs/study [--tasks lvsd,sex,af]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

PRETRAIN_STAGES = {"pretrain_mae": ("vit_mae", "mae"), "pretrain_bcl": ("image_bcl", "bcl"),
                   "pretrain_simclr": ("image_simclr", "simclr")}


def run_task(task: str, out: Path, first: Path | None, extra: list[str]) -> Path:
    """One `ecgimg demo -c study` run for `task`; reuses the first run's encoders if given."""
    name = f"study_{task}"
    args = [sys.executable, "-m", "ecgimg.cli", "demo", "-c", "study", f"out={out}",
            f"name={name}", f"task={task}", *extra]
    if first is not None:
        args.append(f"demo.skip=[cnn_scratch,{','.join(PRETRAIN_STAGES)}]")
        for stage, (arm, objective) in PRETRAIN_STAGES.items():
            args += [f"demo.stages.{arm}.model.init={first / stage / 'encoder.safetensors'}",
                     f"demo.stages.{arm}.finetune.pretraining={objective}"]
    print(f"== {task}: {' '.join(args[2:])}", flush=True)
    start = time.perf_counter()
    subprocess.run(args, check=True)
    print(f"== {task}: done in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    return out / name


def summary(runs: dict[str, Path]) -> str:
    """Markdown tables of every arm and every contrast across tasks."""
    arms, contrasts = [], []
    for task, run in runs.items():
        comparison = pd.read_csv(run / "report" / "comparison.csv")
        comparison.insert(0, "task", task)
        arms.append(comparison)
        table = pd.read_csv(run / "report" / "contrasts.csv")
        table.insert(0, "task", task)
        contrasts.append(table)
    arms_t, contrasts_t = pd.concat(arms), pd.concat(contrasts)
    lines = ["| task | model | pretraining | labels | AUROC [95% CI] | test patients |",
             "|---|---|---|---|---|---|"]
    for r in arms_t.itertuples(index=False):
        lines.append(f"| {r.task} | {r.model} | {r.pretraining} | {r.label_fraction:g} | "
                     f"{r.macro_auroc:.3f} [{r.auroc_lo:.3f}, {r.auroc_hi:.3f}] | {r.n_patients} |")
    lines += ["", "| task | contrast | labels | Δ AUROC [95% CI] | p | p (Holm) | test |",
              "|---|---|---|---|---|---|---|"]
    for r in contrasts_t.itertuples(index=False):
        lines.append(f"| {r.task} | {r.model} vs {r.baseline} | {r.label_fraction:g} | "
                     f"{r.delta:+.3f} [{r.delta_lo:+.3f}, {r.delta_hi:+.3f}] | {r.p_value:.3f} | "
                     f"{r.p_holm:.3f} | {r.p_method} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/study"))
    parser.add_argument("--tasks", default="lvsd,sex,af")
    parser.add_argument("overrides", nargs="*", help="extra key=value overrides for every run")
    args = parser.parse_args()
    runs: dict[str, Path] = {}
    first = None
    for task in args.tasks.split(","):
        runs[task] = run_task(task, args.out, first, args.overrides)
        first = first or runs[task]
    text = summary(runs)
    (args.out / "study.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
