"""`ecgimg demo`: the whole signal-vs-image story in one command, on small CPU budgets.

cohort cache -> contact sheet -> page banks -> MAE (signal ViT), BCL and SimCLR (image CNN) ->
fine-tuning of the pretrained models and the scratch baselines at nested label fractions -> test
predictions -> report. Every stage is an ordinary `pretrain` / `finetune` run built from the
config's sections plus the stage's own overrides (`demo.stages` in configs/demo.yaml), with its
own directory, config and run record under `<out_dir>/<name>/<stage>/`, so any stage can be
re-run or extended alone with `ecgimg pretrain|finetune -c <out>/<name>/<stage>/config.yaml`.

A finetune stage whose `model.init` is `"@<stage>"` starts from that stage's exported encoder and
waits for it; independent stages run `demo.parallel` at a time in worker processes (one torch
thread each), so two cores train two models at once.
"""
from __future__ import annotations

import concurrent.futures as futures
import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

from ecgimg.config import ConfigError, build, deep_merge, to_dict
from ecgimg.experiments import sources
from ecgimg.experiments.common import apply_threads, run_dir, start_run
from ecgimg.experiments.schema import ExperimentConfig, modality_of

DEFAULT_REAL_TASK = "superdiagnostic"
STAGE_KINDS = ("pretrain", "finetune")
PAGES_JOB = "page_banks"


# ----------------------------------------------------------------------------- stage configs
def stage_configs(cfg: ExperimentConfig, root: Path) -> dict[str, tuple[str, ExperimentConfig]]:
    """name -> (kind, config) of every stage not skipped (nor depending on a skipped one).

    A stage is the config's sections (without `demo`) deep-merged with the stage's overrides,
    named after the stage, writing below `root`, validated like any config; `model.init: "@x"`
    becomes stage x's encoder file, and `finetune.pretraining` defaults to x's objective.
    """
    from ecgimg.experiments.pretrain import ENCODER_FILE

    specs = {name: dict(spec or {}) for name, spec in cfg.demo.stages.items()}
    unknown = set(cfg.demo.skip) - set(specs)
    if unknown:
        raise ConfigError(f"demo.skip: unknown stages {sorted(unknown)}; stages: {sorted(specs)}")
    parents = {}
    for name, spec in specs.items():
        if spec.get("run") not in STAGE_KINDS:
            raise ConfigError(f"demo.stages.{name}.run: expected one of {list(STAGE_KINDS)}, "
                              f"got {spec.get('run')!r}")
        init = (spec.get("model") or {}).get("init")
        if isinstance(init, str) and init.startswith("@"):
            if init[1:] not in specs:
                raise ConfigError(f"demo.stages.{name}.model.init: no stage {init[1:]!r}")
            parents[name] = init[1:]
    skipped = set(cfg.demo.skip)
    while True:  # leave out the dependants of skipped stages too
        more = {name for name, parent in parents.items() if parent in skipped} - skipped
        if not more:
            break
        skipped |= more
    base = {k: v for k, v in to_dict(cfg).items() if k != "demo"}
    stages: dict[str, tuple[str, ExperimentConfig]] = {}
    for name, spec in specs.items():
        if name in skipped:
            continue
        kind = spec.pop("run")
        if name in parents:
            parent = specs[parents[name]]
            objective = (parent.get("pretrain") or {}).get("objective", cfg.pretrain.objective)
            spec["model"] = {**spec["model"], "init": str(root / parents[name] / ENCODER_FILE)}
            spec["finetune"] = {"pretraining": objective, **(spec.get("finetune") or {})}
        merged = deep_merge(base, {**spec, "name": name, "out_dir": str(root)})
        try:
            stages[name] = (kind, build(ExperimentConfig, merged))
        except ConfigError as err:
            raise ConfigError(f"demo.stages.{name}: {err}") from err
    return stages


def depends_on(cfg: ExperimentConfig, stages: dict[str, tuple[str, ExperimentConfig]]) -> dict[str, set]:
    """Stage -> stages it waits for: the stage whose encoder it loads, and the page banks for
    image stages (drawn once, before any image model trains)."""
    encoders = {str(Path(c.out_dir) / name): name for name, (_, c) in stages.items()}
    needs: dict[str, set] = {}
    for name, (_, c) in stages.items():
        wanted = set()
        if c.model.init and str(Path(c.model.init).parent) in encoders:
            wanted.add(encoders[str(Path(c.model.init).parent)])
        if modality_of(c.model) == "image":
            wanted.add(PAGES_JOB)
        needs[name] = wanted
    return needs


# ----------------------------------------------------------------------------- jobs (worker side)
def _run_job(kind: str, cfg: ExperimentConfig) -> tuple[str, float, float]:
    """One stage in a worker process: (run directory, wall s, CPU s)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    if kind == "pretrain":
        from ecgimg.experiments.pretrain import run_pretrain as runner
    elif kind == "finetune":
        from ecgimg.experiments.finetune import run_finetune as runner
    else:
        runner = build_page_banks
    result = runner(cfg)
    return str(result), time.perf_counter() - start, time.process_time() - start_cpu


def build_page_banks(cfg: ExperimentConfig) -> Path:
    """The page banks every image stage of the demo reads: training pages of the training split,
    evaluation pages of validation and test, and two-view validation pages for contrastive
    stages. Built by the same calls the stages make, so they find them."""
    apply_threads(cfg)
    cache = sources.open_cache(cfg)
    train = sources.split_indices(cache, "train")
    val = sources.split_indices(cache, "val")
    if cfg.image.bank_views:
        sources.page_dataset(cfg, cache, train, train=True, task=None)
    for split in ("val", cfg.eval.split):
        sources.page_dataset(cfg, cache, sources.split_indices(cache, split), train=False, task=None)
    sources.page_dataset(cfg, cache, val, train=False, task=None, views=cfg.image.views_per_patient)
    return cache.path / "pages"


# ----------------------------------------------------------------------------- the scheduler
def run_stages(cfg: ExperimentConfig, stages: dict[str, tuple[str, ExperimentConfig]],
               timings: dict[str, dict]) -> None:
    """Run every stage once its dependencies are done, `demo.parallel` at a time."""
    needs = depends_on(cfg, stages)
    jobs: dict[str, tuple[str, ExperimentConfig]] = dict(stages)
    if any(PAGES_JOB in n for n in needs.values()):
        image_cfg = next(c for name, (_, c) in stages.items() if PAGES_JOB in needs[name])
        jobs = {PAGES_JOB: ("pages", image_cfg), **jobs}
        needs[PAGES_JOB] = set()
    order = list(jobs)
    total, done, running = len(order), set(), {}
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # torch + fork is unsafe once threads exist
    with futures.ProcessPoolExecutor(max_workers=max(1, cfg.demo.parallel), mp_context=context) as pool:
        while len(done) < total:
            for name in order:
                if name in done or name in running.values() or not needs[name] <= done:
                    continue
                if len(running) >= max(1, cfg.demo.parallel):
                    break
                kind, job_cfg = jobs[name]
                running[pool.submit(_run_job, kind, job_cfg)] = name
                print(f"[demo {order.index(name) + 1}/{total}] {name} started", flush=True)
            finished, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                _, wall_s, cpu_s = future.result()  # a failed stage stops the demo with its error
                done.add(name)
                timings[name] = {"wall_s": round(wall_s, 1), "cpu_s": round(cpu_s, 1)}
                elapsed = time.perf_counter() - started
                print(f"[demo {order.index(name) + 1}/{total}] {name} done in {wall_s:.0f} s "
                      f"({cpu_s:.0f} CPU s); {len(done)}/{total} stages done, "
                      f"{int(elapsed) // 60}:{int(elapsed) % 60:02d} elapsed", flush=True)


# ----------------------------------------------------------------------------- the report
def report_intro(cfg: ExperimentConfig, cache, stages: dict[str, tuple[str, ExperimentConfig]],
                 reference: str | None) -> list[str]:
    """What the report is about, in words: data, task and label, budgets, the reference and why."""
    kind, _ = sources.parse_source(cfg.data.source)
    n_patients = cache.index["patient_id"].nunique()
    lines = [f"**Data.** {cfg.data.source}: {len(cache.index)} ECGs of {n_patients} patients, "
             f"split by patient ({_split_counts(cache)}). **Task:** {cfg.data.task} — "
             f"{sources.task_description(cfg)}",
             "**Budgets (CPU demo, not paper scale).** " + "; ".join(
                 _budget(name, kind_, c) for name, (kind_, c) in stages.items()) + "."]
    if reference:
        lines.append(f"**Reference: {reference}** — {cfg.demo.reference_reason}")
    learned = [_pretraining_result(name, Path(c.out_dir) / name)
               for name, (kind_, c) in stages.items() if kind_ == "pretrain"]
    if any(learned):
        lines.append("**Did pretraining learn?** " + " ".join(line for line in learned if line))
    return lines


#: a best validation loss within this fraction of the learned-nothing loss counts as not learned
NEAR_CHANCE = 0.03


def _pretraining_result(name: str, run: Path) -> str | None:
    """One sentence: the stage's best validation loss against an encoder that learned nothing."""
    from ecgimg.experiments.pretrain import SUMMARY_FILE

    path = run / SUMMARY_FILE
    if not path.is_file():
        return None
    s = json.loads(path.read_text())
    if s.get("chance_loss") is None or s.get("best_value") is None:
        return None
    what = ("equal similarities to every view" if s["objective"] in ("bcl", "simclr")
            else "predicting zero")
    text = (f"{name}: best validation loss {s['best_value']:.3f} against {s['chance_loss']:.3f} "
            f"for {what}")
    if s.get("val_top1") is not None and s.get("chance_top1") is not None:
        text += (f", same-identity top-1 retrieval {100 * s['val_top1']:.1f}% against "
                 f"{100 * s['chance_top1']:.1f}% by chance")
    if s["best_value"] >= (1 - NEAR_CHANCE) * s["chance_loss"]:
        how = ("no better" if s["best_value"] >= s["chance_loss"]
               else f"within {NEAR_CHANCE:.0%} of it")
        return text + (f" — {how}, so it did not learn within its budget and the arm "
                       "fine-tuned from it says nothing about the method.")
    return text + "."


def _split_counts(cache) -> str:
    index = cache.index
    return ", ".join(f"{split} {index.loc[index['split'] == split, 'patient_id'].nunique()}"
                     for split in ("train", "val", "test") if (index["split"] == split).any())


def _budget(name: str, kind: str, c: ExperimentConfig) -> str:
    steps = c.train.max_steps if c.train.max_steps is not None else f"{c.train.epochs} epochs"
    if kind == "pretrain":
        batch = (f"{c.image.patients_per_batch} patients x {c.image.views_per_patient} views"
                 if c.pretrain.objective in ("bcl", "simclr") else f"batch {c.data.batch_size}")
        return f"{name} {steps} steps, {batch}, lr {c.train.lr:g}"
    cap = f" (at most {c.finetune.max_epochs:g} epochs)" if c.finetune.max_epochs else ""
    return (f"{name} {steps} steps{cap} of batch {c.data.batch_size} per label fraction, "
            f"lr {', '.join(f'{lr:g}' for lr in c.finetune.lrs)}")


def run_demo(cfg: ExperimentConfig) -> Path:
    from ecgimg.experiments.compare import find_figures, run_compare
    from ecgimg.experiments.gallery import render_gallery

    kind, _ = sources.parse_source(cfg.data.source)
    if kind != "synthetic" and cfg.data.task in ("lvsd", "af"):
        print(f"[demo] real data has no {cfg.data.task!r} label: using task={DEFAULT_REAL_TASK}", flush=True)
        cfg = _with(cfg, data={"task": DEFAULT_REAL_TASK})
    root = run_dir(cfg)
    # every stage shares one cache (built once here) and writes below the demo's run directory
    # (an absolute path, so that `ecgimg pretrain|finetune -c <stage>/config.yaml` run from any
    # directory finds this cache instead of silently building a second one)
    cfg = _with(cfg, data={"cache_dir": str(sources.cache_dir_for(cfg).resolve())})
    start_run(cfg, "demo")
    stages = stage_configs(cfg, root)
    if not stages:
        raise ConfigError("demo: no stage left to run (demo.stages is empty or all skipped)")
    timings: dict[str, dict] = {}
    started, started_cpu = time.perf_counter(), time.process_time()
    cache = _timed(timings, "cache", sources.open_cache, cfg)
    figures = {}
    if cfg.demo.gallery_images:
        figures["Rendered training images (contact sheet)"] = _timed(
            timings, "gallery", render_gallery, cfg, root / "contact_sheet.png",
            n_images=cfg.demo.gallery_images, cache=cache)
    run_stages(cfg, stages, timings)

    finetuned = [root / name for name, (k, _) in stages.items() if k == "finetune"]
    report = None
    if finetuned:
        figures.update(find_figures([root / name for name, (k, _) in stages.items()
                                     if k == "pretrain"]))
        reference = cfg.demo.reference if cfg.demo.reference in stages else None
        contrasts = [tuple(pair) for pair in cfg.demo.contrasts
                     if len(pair) == 2 and all(p in stages for p in pair)]
        timing_note = ("Stage wall / CPU seconds: " + ", ".join(
            f"{k} {v['wall_s']:g}/{v['cpu_s']:g}" for k, v in timings.items()))
        report = _timed(timings, "report", run_compare, finetuned, root / "report",
                        reference=reference, n_boot=cfg.eval.n_boot, seed=cfg.seed,
                        figures=figures, title=f"ecgimg demo ({kind}, {cfg.data.task})",
                        notes=[timing_note], specificity=cfg.eval.specificity,
                        contrasts=contrasts, intro=report_intro(cfg, cache, stages, reference))
    timings["total"] = {"wall_s": round(time.perf_counter() - started, 1),
                        "cpu_s": round(time.process_time() - started_cpu
                                       + sum(v["cpu_s"] for k, v in timings.items()
                                             if k not in ("cache", "gallery", "report")), 1)}
    (root / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(f"[demo] finished in {timings['total']['wall_s']:.0f} s "
          f"({timings['total']['cpu_s']:.0f} CPU s)" + (f"; report: {report}" if report else ""),
          flush=True)
    return report.parent if report else root


def _with(cfg: ExperimentConfig, **sections: dict) -> ExperimentConfig:
    """Copy of `cfg` with some section fields changed (validated like any override)."""
    return build(ExperimentConfig, deep_merge(to_dict(cfg), sections))


def _timed(timings: dict, key: str, fn, *args, **kwargs) -> Any:
    """Run one in-process step, recording wall and CPU seconds."""
    start, start_cpu = time.perf_counter(), time.process_time()
    print(f"[demo] {key} ...", flush=True)
    result = fn(*args, **kwargs)
    timings[key] = {"wall_s": round(time.perf_counter() - start, 1),
                    "cpu_s": round(time.process_time() - start_cpu, 1)}
    print(f"[demo] {key} done in {timings[key]['wall_s']:.1f} s", flush=True)
    return result
