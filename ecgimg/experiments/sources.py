"""From a config's `data` section to a signal cache, split indices, label subsets and datasets.

Every runner goes through here, so the signal path and the image path see exactly the same
records, patient-disjoint splits, labels and label-fraction subsets.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np

from ecgimg.experiments.schema import ExperimentConfig

SOURCE_KINDS = ("synthetic", "ptbxl", "wfdb", "cache")


def parse_source(source: str) -> tuple[str, str | None]:
    """'ptbxl:/data/ptb-xl' → ('ptbxl', '/data/ptb-xl'); 'synthetic' → ('synthetic', None)."""
    kind, sep, path = source.partition(":")
    if kind not in SOURCE_KINDS:
        raise ValueError(f"data.source {source!r}: kind must be one of {SOURCE_KINDS} "
                         "(e.g. synthetic, ptbxl:PATH, wfdb:PATH, cache:PATH)")
    if kind == "synthetic":
        return kind, None
    if not sep or not path:
        raise ValueError(f"data.source {source!r}: {kind} needs a path, e.g. {kind}:/path/to/data")
    return kind, path


def cache_dir_for(cfg: ExperimentConfig) -> Path:
    """Where this config's signal cache lives; one directory per distinct data source."""
    if cfg.data.cache_dir:
        return Path(cfg.data.cache_dir)
    kind, path = parse_source(cfg.data.source)
    if kind == "cache":
        return Path(path)
    if kind == "synthetic":
        from ecgimg.data.synthetic import COHORT_VERSION  # a newer generator never reuses a cache

        shares = "_".join(f"{name}{share:g}" for name, share in sorted(cfg.data.split_fractions.items()))
        tag = (f"synthetic_v{COHORT_VERSION}_p{cfg.data.n_patients}_e{cfg.data.ecgs_per_patient}"
               f"_s{cfg.seed}_{shares}")
    else:
        slug = re.sub(r"[^A-Za-z0-9]+", "_", str(Path(path).resolve())).strip("_")[-48:]
        tag = f"{kind}_{cfg.data.sampling_rate_hz}hz_{slug}"
    return Path(cfg.out_dir) / "cache" / tag


def open_cache(cfg: ExperimentConfig):
    """Open the config's SignalCache, building it first (atomically) when it does not exist yet."""
    from ecgimg.data import SignalCache

    out = cache_dir_for(cfg)
    kind, path = parse_source(cfg.data.source)
    if kind == "cache" or out.is_dir():
        return SignalCache.open(out)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    _build(kind, path, tmp, cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, out)  # a half-built cache is never mistaken for a finished one
    except OSError:
        if not out.is_dir():  # not "another process (e.g. a DDP rank) finished first"
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return SignalCache.open(out)


def _build(kind: str, path: str | None, out: Path, cfg: ExperimentConfig) -> None:
    from ecgimg import data

    if kind == "synthetic":
        data.synthetic_cohort_cache(out, n_patients=cfg.data.n_patients,
                                    ecgs_per_patient=cfg.data.ecgs_per_patient, seed=cfg.seed,
                                    fractions=dict(cfg.data.split_fractions))
    elif kind == "ptbxl":
        data.build_cache(data.PTBXL(path, sampling_rate=cfg.data.sampling_rate_hz), out)
    elif kind == "wfdb":
        data.build_cache(data.WFDBFolder(path, split_seed=cfg.seed), out)


def task_description(cfg: ExperimentConfig) -> str:
    """What the label of `data.task` means, for reports."""
    kind, _ = parse_source(cfg.data.source)
    if kind == "synthetic":
        from ecgimg.data import synthetic
        return synthetic.LABEL_DESCRIPTIONS.get(cfg.data.task, "a synthetic label.")
    if kind == "ptbxl":
        return (f"PTB-XL `{cfg.data.task}` statements (scp_codes aggregated through "
                "scp_statements.csv as in Strodthoff et al. 2020), one binary label per class.")
    return f"the `{cfg.data.task}` labels of the records' headers."


def class_targets(cache, task: str) -> tuple[list[str], np.ndarray]:
    """Class names and the (N, K) float32 0/1 matrix of one task."""
    names, matrix = cache.targets(task)
    matrix = np.asarray(matrix, dtype=np.float32)
    return list(names), matrix.reshape(len(matrix), -1)


def split_indices(cache, split: str, task: str | None = None) -> np.ndarray:
    """Cache rows of one split; with a task, only rows whose label is known (as the PTB-XL
    benchmark drops records without a statement of the task)."""
    indices = np.asarray(cache.split_indices(split), dtype=np.int64)
    if task is not None:
        indices = np.intersect1d(indices, cache.labelled_indices(task))
    if indices.size == 0:
        raise ValueError(f"{cache.path}: the {split!r} split has no records"
                         + (f" labelled for task {task!r}" if task else ""))
    return indices


def label_subsets(cache, task: str, fractions: list[float], seed: int) -> dict[float, np.ndarray]:
    """Nested training subsets by patient (1% ⊂ 10% ⊂ ...), each with both classes where possible."""
    from ecgimg.evaluate.label_efficiency import nested_label_fractions

    train = split_indices(cache, "train", task)
    _, y = class_targets(cache, task)
    patients = cache.index["patient_id"].astype(str).to_numpy()[train]
    subsets = nested_label_fractions(patients, fractions=fractions, seed=seed,
                                     labels=y[train].astype(int))
    return {float(f): train[idx] for f, idx in subsets.items()}


def repeat_to_batches(indices: np.ndarray, batch_size: int, min_batches: int) -> np.ndarray:
    """Tile a small labelled subset so one epoch has at least `min_batches` batches.

    Tiny label fractions otherwise make epochs of one or two batches, and the engine would spend
    most of its time validating (once per epoch)."""
    need = batch_size * min_batches
    if min_batches <= 0 or len(indices) >= need:
        return indices
    return np.resize(indices, need)


#: evaluation pages use another seed than training pages, so no model is scored on a page it saw
EVAL_PAGE_SEED_OFFSET = 1_000_003


def page_dataset(cfg: ExperimentConfig, cache, indices: np.ndarray, *, train: bool,
                 task: str | None, views: int = 1):
    """Rendered pages of `indices` under the config's page policy.

    Training pages (`train=True`) are a fresh seeded render per (record, view, epoch), or, with
    `image.bank_views = K`, K views per record of the whole training split drawn once into a page
    bank. Evaluation pages are one fixed seeded page per record (`views` per record for
    contrastive validation), always banked: every model and every validation pass sees the same
    pages, rendered once. Banks cover every record of the splits `indices` fall in, so all label
    fractions and tasks share them; they live in `<cache>/pages/`.
    """
    from ecgimg.data.images import PAGE_POLICIES, RenderedImages
    from ecgimg.data.page_bank import build_page_bank

    seed = cfg.seed if train else cfg.seed + EVAL_PAGE_SEED_OFFSET

    def pages(rows: np.ndarray) -> RenderedImages:
        return RenderedImages(cache, indices=rows, task=task, seed=seed,
                              image_size=cfg.image.image_size, grayscale=cfg.image.grayscale,
                              **PAGE_POLICIES[cfg.image.pages])

    if train:
        if cfg.image.bank_views == 0:
            return pages(indices)
        views = cfg.image.bank_views
    splits = cache.index["split"].to_numpy()
    universe = np.flatnonzero(np.isin(splits, np.unique(splits[indices])))
    kind = "training" if train else "evaluation"
    bank = build_page_bank(pages(universe), cache.path / "pages", views,
                           workers=cfg.image.render_workers,
                           progress=_page_progress(f"{kind} pages ({views} per record)"))
    return bank.dataset(pages(indices))


def _page_progress(what: str):
    """`progress(done, total)` printing a line with an ETA at most every 15 s (and at the end)."""
    import time

    state = {"start": time.perf_counter(), "last": time.perf_counter()}

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - state["last"] < 15 and done < total:
            return
        state["last"] = now
        eta = (now - state["start"]) / max(done, 1) * (total - done)
        print(f"[pages] {what}: {done}/{total} records, {now - state['start']:.0f} s, "
              f"ETA {int(eta) // 60}:{int(eta) % 60:02d}", flush=True)
    return report


def supervised_dataset(cfg: ExperimentConfig, cache, indices: np.ndarray, *, train: bool):
    """Dataset of {input, "target", "index"} over `indices`: signals, or rendered pages
    (`page_dataset`: fresh or banked training pages, fixed banked evaluation pages)."""
    from ecgimg.experiments.models import input_key

    if input_key(cfg) == "signal":
        from ecgimg.data import SignalDataset
        return SignalDataset(cache, task=cfg.data.task, indices=indices)
    return page_dataset(cfg, cache, indices, train=train, task=cfg.data.task)
