"""Torch view of a `SignalCache`: dict samples for the shared training engine."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ecgimg.data.cache import SignalCache


class SignalDataset(Dataset):
    """Yields ``{"signal": FloatTensor[12, n], "target": FloatTensor[K], "index": int}``.

    `split` and `indices` select rows (intersected when both are given); `indices` keep their
    order and repeats, so a small labelled subset tiled to fill an epoch stays tiled. With a `task`, rows
    whose label is unknown are dropped (for multi-label sets: rows with no class, as in the
    PTB-XL benchmark). Without a task, ``target`` is an empty tensor. ``index`` is the row in the
    cache, so predictions can be joined back to ``cache.index``. `transform` maps the float32
    numpy signal (12, n) to a new array or tensor (augmentations run here, per worker).
    ``exclude_flagged=True`` drops records with a flagged lead (flat, railed, implausible
    amplitude, not an ECG: see `ecgimg.data.quality`); by default they are kept.
    """

    def __init__(self, cache: SignalCache | str, split: str | None = None,
                 task: str | None = None, indices: Sequence[int] | None = None,
                 transform: Callable[[np.ndarray], np.ndarray | torch.Tensor] | None = None,
                 exclude_flagged: bool = False):
        self.cache = SignalCache.open(cache) if not isinstance(cache, SignalCache) else cache
        rows = np.arange(len(self.cache))
        keep = np.ones(len(self.cache), dtype=bool)  # rows the split, flags and task allow
        if split is not None and split not in set(self.cache.index["split"]):
            present = sorted({str(v) for v in self.cache.index["split"] if v is not None})
            raise ValueError(f"{self.cache.path}: no split {split!r}; splits: "
                             f"{', '.join(present) or 'none'}")
        if split is not None:
            keep &= np.isin(rows, self.cache.split_indices(split))
        if indices is not None:
            indices = np.asarray(indices, dtype=np.int64)
            if indices.size and (indices.min() < 0 or indices.max() >= len(self.cache)):
                raise IndexError(f"{self.cache.path}: indices outside 0..{len(self.cache) - 1}")
            rows = indices
        if exclude_flagged:
            keep[self.cache.flagged_indices()] = False
        self.task = task
        self.class_names: list[str] = []
        self._targets = np.zeros((len(self.cache), 0), dtype=np.float32)
        if task is not None:
            self.class_names, self._targets = self.cache.targets(task)
            keep &= np.isin(np.arange(len(self.cache)), self.cache.labelled_indices(task))
        self.rows = rows[keep[rows]].astype(np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        row = int(self.rows[i])
        signal = np.array(self.cache.signals[row], dtype=np.float32)  # copy out of the memmap
        if self.transform is not None:
            signal = self.transform(signal)
        return {"signal": torch.as_tensor(signal, dtype=torch.float32),
                "target": torch.from_numpy(self._targets[row].copy()), "index": row}
