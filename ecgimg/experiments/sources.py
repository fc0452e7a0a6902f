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
from torch.utils.data import Dataset

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

        tag = (f"synthetic_v{COHORT_VERSION}_p{cfg.data.n_patients}_e{cfg.data.ecgs_per_patient}"
               f"_s{cfg.seed}")
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
                                    ecgs_per_patient=cfg.data.ecgs_per_patient, seed=cfg.seed)
    elif kind == "ptbxl":
        data.build_cache(data.PTBXL(path, sampling_rate=cfg.data.sampling_rate_hz), out)
    elif kind == "wfdb":
        data.build_cache(data.WFDBFolder(path, split_seed=cfg.seed), out)


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


class MemoizedDataset(Dataset):
    """Keeps each item after its first load. Evaluation pages are fixed (seeded) renders, and
    re-rendering them at every validation would cost more than the model; memory is small at
    training sizes (128 px RGB: 0.2 MB per page). Effective in the loading process, so use it
    with num_workers=0 or persistent workers."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._items: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, position: int):
        if position not in self._items:
            self._items[position] = self.dataset[position]
        return self._items[position]


def supervised_dataset(cfg: ExperimentConfig, cache, indices: np.ndarray, *, train: bool):
    """Dataset of {input, "target", "index"} over `indices`: signals, or pages rendered on the fly
    (a fresh random page per epoch when training; one fixed seeded page per record otherwise)."""
    from ecgimg.experiments.models import input_key

    if input_key(cfg) == "signal":
        from ecgimg.data import SignalDataset
        return SignalDataset(cache, task=cfg.data.task, indices=indices)
    from ecgimg.data.images import RenderedImages
    pages = RenderedImages(cache, indices=indices, task=cfg.data.task,
                           seed=cfg.seed if train else cfg.seed + 1_000_003,
                           image_size=cfg.image.image_size, grayscale=cfg.image.grayscale)
    return pages if train else MemoizedDataset(pages)
