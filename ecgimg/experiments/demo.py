"""`ecgimg demo`: the whole signal-vs-image story in one command, on small CPU budgets.

cohort cache → contact sheet → MAE (signal ViT) → BCL and SimCLR (image CNN) → fine-tuning of the
pretrained models and the scratch baselines at nested label fractions → test predictions →
report. Every stage is an ordinary `pretrain` / `finetune` / `compare` run with its own directory,
config and run record under `<out_dir>/<name>/`, so any stage can be re-run or extended alone.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from ecgimg.experiments import sources
from ecgimg.experiments.common import run_dir, start_run
from ecgimg.experiments.schema import ExperimentConfig

REFERENCE_ARM = "cnn_scratch"  # the MAE paper's baseline is the reference of every p-value
DEFAULT_REAL_TASK = "superdiagnostic"


def with_changes(cfg: ExperimentConfig, **sections) -> ExperimentConfig:
    """Copy of `cfg` with top-level fields replaced and sections updated by dicts."""
    top = {}
    for key, value in sections.items():
        current = getattr(cfg, key)
        top[key] = dataclasses.replace(current, **value) if isinstance(value, dict) and \
            dataclasses.is_dataclass(current) else value
    return dataclasses.replace(cfg, **top)


def arms(cfg: ExperimentConfig, pretrained: dict[str, Path]) -> list[tuple[str, dict]]:
    """(name, model section changes + pretraining label) of every fine-tuned model."""
    d = cfg.demo
    signal = {"name": d.signal_encoder, "kwargs": dict(d.signal_kwargs)}
    image = {"name": d.image_backbone, "kwargs": {}}
    candidates = [
        ("vit_mae", signal, "mae"), ("vit_scratch", signal, "none"),
        ("cnn_scratch", {"name": d.cnn_baseline, "kwargs": dict(d.cnn_kwargs)}, "none"),
        ("image_bcl", image, "bcl"), ("image_simclr", image, "simclr"),
        ("image_scratch", image, "none"),
    ]
    unknown = set(d.arms) - {name for name, _, _ in candidates}
    if unknown:
        raise ValueError(f"demo.arms: unknown arms {sorted(unknown)}; choose from "
                         f"{[name for name, _, _ in candidates]}")
    chosen = []
    for name, model, pretraining in candidates:
        if name not in d.arms:
            continue
        if pretraining != "none" and pretraining not in pretrained:
            continue  # its pretraining stage was not run
        init = str(pretrained[pretraining]) if pretraining != "none" else None
        chosen.append((name, {"model": {**model, "init": init, "modality": "auto"},
                              "pretraining": pretraining}))
    return chosen


def _timed(timings: dict, key: str, fn, *args, **kwargs):
    """Run one stage, recording wall and CPU seconds (CPU time tells the cost on a shared box)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    print(f"[demo] {key} ...", flush=True)
    result = fn(*args, **kwargs)
    timings[key] = {"wall_s": round(time.perf_counter() - start, 1),
                    "cpu_s": round(time.process_time() - start_cpu, 1)}
    print(f"[demo] {key} done in {timings[key]['wall_s']:.1f} s "
          f"({timings[key]['cpu_s']:.1f} CPU s)", flush=True)
    return result


def run_demo(cfg: ExperimentConfig) -> Path:
    from ecgimg.experiments.compare import find_figures, run_compare
    from ecgimg.experiments.finetune import run_finetune
    from ecgimg.experiments.gallery import render_gallery
    from ecgimg.experiments.pretrain import ENCODER_FILE, run_pretrain

    kind, _ = sources.parse_source(cfg.data.source)
    if kind != "synthetic" and cfg.data.task == "lvsd":
        print(f"[demo] real data has no 'lvsd' label: using task={DEFAULT_REAL_TASK}", flush=True)
        cfg = with_changes(cfg, data={"task": DEFAULT_REAL_TASK})
    root = run_dir(cfg)
    # every stage shares one cache (built once) and writes below the demo's run directory
    cfg = with_changes(cfg, data={"cache_dir": str(sources.cache_dir_for(cfg))})
    start_run(cfg, "demo")
    stages = set(cfg.demo.stages)
    unknown = stages - {"gallery", "mae", "bcl", "simclr", "finetune", "report"}
    if unknown:
        raise ValueError(f"demo.stages: unknown stages {sorted(unknown)}")
    stage_cfg = with_changes(cfg, out_dir=str(root))
    timings: dict[str, dict] = {}
    started, started_cpu = time.perf_counter(), time.process_time()
    cache = _timed(timings, "cache", sources.open_cache, cfg)
    figures = {}
    if "gallery" in stages:
        figures["Rendered training images (contact sheet)"] = _timed(
            timings, "gallery", render_gallery, cfg, root / "contact_sheet.png",
            n_images=cfg.demo.gallery_images, cache=cache)

    d = cfg.demo
    pretrained: dict[str, Path] = {}
    if "mae" in stages:
        mae_cfg = with_changes(stage_cfg, name="pretrain_mae",
                               model={"name": f"mae_{d.signal_encoder}",
                                      "kwargs": {**d.signal_kwargs, **d.mae_kwargs}, "init": None},
                               pretrain={"objective": "mae"},
                               train=cfg.train.replace(max_steps=d.mae_steps, lr=d.mae_lr))
        pretrained["mae"] = _timed(timings, "pretrain_mae", run_pretrain, mae_cfg) / ENCODER_FILE
    for objective in ("bcl", "simclr"):
        if objective in stages:
            ssl_cfg = with_changes(stage_cfg, name=f"pretrain_{objective}",
                                   model={"name": d.image_backbone, "kwargs": {}, "init": None},
                                   pretrain={"objective": objective},
                                   train=cfg.train.replace(max_steps=d.contrastive_steps,
                                                           lr=d.contrastive_lr))
            pretrained[objective] = _timed(timings, f"pretrain_{objective}", run_pretrain,
                                           ssl_cfg) / ENCODER_FILE

    finetune_dirs = []
    if "finetune" in stages:
        for name, change in arms(cfg, pretrained):
            arm_cfg = with_changes(
                stage_cfg, name=name, model=change["model"],
                data={"batch_size": d.finetune_batch_size},
                finetune={"label_fractions": list(d.label_fractions), "lrs": [d.finetune_lr],
                          "pretraining": change["pretraining"],
                          "min_epoch_batches": d.finetune_epoch_batches},
                train=cfg.train.replace(max_steps=d.finetune_steps, lr=d.finetune_lr))
            finetune_dirs.append(_timed(timings, f"finetune_{name}", run_finetune, arm_cfg))

    report = None
    if "report" in stages and finetune_dirs:
        figures.update(find_figures([root / "pretrain_mae"]))
        names = [p.name for p in finetune_dirs]
        notes = [f"Data: {cfg.data.source}, task {cfg.data.task}; "
                 f"{len(cache.index)} ECGs of {cache.index['patient_id'].nunique()} patients; "
                 "patient-disjoint train/val/test split.",
                 f"Budgets: MAE {d.mae_steps} steps, BCL/SimCLR {d.contrastive_steps} steps, "
                 f"fine-tuning {d.finetune_steps} steps of batch {d.finetune_batch_size} per model "
                 f"and label fraction at lr {d.finetune_lr:g}; MAE batch {cfg.data.batch_size}, "
                 f"contrastive batch {cfg.image.patients_per_batch} patients x "
                 f"{cfg.image.views_per_patient} views; images {cfg.image.image_size} px.",
                 "Stage wall / CPU seconds so far: " + ", ".join(
                     f"{k} {v['wall_s']:g}/{v['cpu_s']:g}" for k, v in timings.items())]
        report = _timed(timings, "report", run_compare, finetune_dirs, root / "report",
                        reference=REFERENCE_ARM if REFERENCE_ARM in names else None,
                        n_boot=cfg.eval.n_boot, seed=cfg.seed, figures=figures,
                        title=f"ecgimg demo ({kind}, {cfg.data.task})", notes=notes,
                        specificity=cfg.eval.specificity)
    timings["total"] = {"wall_s": round(time.perf_counter() - started, 1),
                        "cpu_s": round(time.process_time() - started_cpu, 1)}
    (root / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(f"[demo] finished in {timings['total']['wall_s']:.0f} s "
          f"({timings['total']['cpu_s']:.0f} CPU s)" +
          (f"; report: {report}" if report else ""), flush=True)
    return report.parent if report else root
