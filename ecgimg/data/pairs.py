"""Same-patient view batches for biometric contrastive learning (BCL) and SimCLR.

`PatientViewSampler` is a DataLoader `batch_sampler`: every batch holds several patients with
`views_per_patient` views each. A view is a key `(record_index, view_number, epoch)`: the dataset
(e.g. `RenderedImages`) renders each key with its own seeded layout/style, so two views of one ECG
still look different. Positives never cross patients because identities come from the patient id.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import pandas as pd
from torch.utils.data import DataLoader, Sampler

from ecgimg import distributed

ViewKey = tuple[int, int, int]  # (record index, view number, epoch)


def patient_codes(patient_ids: Sequence) -> np.ndarray:
    """Stable integer code per patient id (sorted unique order), the identity the loss compares."""
    return pd.factorize(pd.Series(np.asarray(patient_ids, dtype=object)).astype(str), sort=True)[0].astype(np.int64)


def _far_apart(candidates: np.ndarray, times: np.ndarray | None, k: int, rng: np.random.Generator) -> list[int]:
    """k distinct record indices; with times, farthest-point picks so views are recorded far apart."""
    if times is None or np.isnan(times).all():
        return rng.choice(candidates, size=k, replace=False).tolist()
    order = rng.permutation(len(candidates))
    chosen = [order[0]]
    t = np.nan_to_num(times, nan=np.nanmedian(times))
    while len(chosen) < k:
        gaps = np.min(np.abs(t[:, None] - t[chosen][None, :]), axis=1)
        gaps[chosen] = -1.0
        best = np.flatnonzero(gaps == gaps.max())
        chosen.append(int(rng.choice(best)))  # random tie-break keeps it seeded, not order-dependent
    return candidates[chosen].tolist()


class PatientViewSampler(Sampler[list[ViewKey]]):
    """Batches of `patients_per_batch` patients x `views_per_patient` views, shuffled per epoch.

    Views are different ECGs of the patient when it has enough (chosen far apart in time when
    `recorded_at` is given), else its ECGs are reused with distinct view numbers. Patients with one
    ECG are dropped (`single_ecg_policy="skip"`) or contribute renders of that ECG ("repeat").
    Under DDP each rank takes a disjoint share of patients (same shuffle on all ranks), and all ranks
    yield the same number of batches. For SimCLR pass one id per ECG with policy "repeat".
    """

    def __init__(self, patient_ids: Sequence, recorded_at: Sequence | None = None,
                 patients_per_batch: int = 32, views_per_patient: int = 2, seed: int = 0,
                 single_ecg_policy: str = "skip", drop_last: bool = True,
                 rank: int | None = None, world_size: int | None = None):
        if views_per_patient < 2:
            raise ValueError(f"views_per_patient must be >= 2 for a positive pair, got {views_per_patient}")
        if patients_per_batch < 1:
            raise ValueError(f"patients_per_batch must be >= 1, got {patients_per_batch}")
        if single_ecg_policy not in ("skip", "repeat"):
            raise ValueError(f"single_ecg_policy must be 'skip' or 'repeat', got {single_ecg_policy!r}")
        self.codes = patient_codes(patient_ids)
        self.times = None
        if recorded_at is not None:
            ts = pd.to_datetime(pd.Series(list(recorded_at)), errors="coerce", utc=True)
            self.times = (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=float)
        self.patients_per_batch = patients_per_batch
        self.views_per_patient = views_per_patient
        self.seed = seed
        self.single_ecg_policy = single_ecg_policy
        self.drop_last = drop_last
        self.rank = distributed.rank() if rank is None else rank
        self.world_size = distributed.world_size() if world_size is None else world_size
        self.epoch = 0
        groups = pd.Series(np.arange(len(self.codes))).groupby(self.codes).apply(np.asarray)
        min_ecgs = 1 if single_ecg_policy == "repeat" else 2
        self.groups = [g for g in groups.tolist() if len(g) >= min_ecgs]
        if not self.groups:
            raise ValueError("no patient has enough ECGs for a positive pair "
                             f"(policy {single_ecg_policy!r}); use single_ecg_policy='repeat'")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _patients_this_rank(self) -> np.ndarray:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.groups))
        per_step = self.patients_per_batch * self.world_size
        usable = (len(order) // per_step) * per_step if self.drop_last else len(order)
        if not self.drop_last and usable % self.world_size:  # pad by wrapping so ranks stay in step
            usable += self.world_size - usable % self.world_size
            order = np.resize(order, usable)
        return order[:usable][self.rank::self.world_size]

    def __len__(self) -> int:
        per_step = self.patients_per_batch * self.world_size
        if self.drop_last:
            return len(self.groups) // per_step
        return -(-len(self.groups) // per_step)

    def __iter__(self) -> Iterator[list[ViewKey]]:
        mine = self._patients_this_rank()
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, 1])
        for start in range(0, len(mine), self.patients_per_batch):
            batch: list[ViewKey] = []
            for group_index in mine[start:start + self.patients_per_batch]:
                batch.extend(self._views(self.groups[group_index], rng))
            yield batch

    def _views(self, records: np.ndarray, rng: np.random.Generator) -> list[ViewKey]:
        k = self.views_per_patient
        if len(records) >= k:
            times = None if self.times is None else self.times[records]
            picked = _far_apart(records, times, k, rng)
        else:  # too few ECGs: use each at least once, then reuse (new view number => new render)
            picked = list(rng.permutation(records)) + rng.choice(records, size=k - len(records)).tolist()
        return [(int(r), view, self.epoch) for view, r in enumerate(picked)]


class ViewLoader(DataLoader):
    """DataLoader over a view batch sampler whose `set_epoch` reaches the sampler and the dataset
    (the engine calls `loader.set_epoch(e)` each epoch)."""

    def __init__(self, dataset, batch_sampler: PatientViewSampler, **kwargs):
        super().__init__(dataset, batch_sampler=batch_sampler, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
