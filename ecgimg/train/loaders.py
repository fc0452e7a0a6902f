"""Reproducible, DDP-aware data loaders whose order can be replayed after a resume.

`make_loader` always uses a `DistributedSampler` (with world size 1 outside DDP) so the order of
epoch `e` is a pure function of (seed, e), identical whether or not we run distributed: with W
ranks, rank r sees samples perm[r::W], and the union of the ranks' k-th batches equals the k-th
batch of a single process using W times the batch size. Worker seeds derive from
(seed, rank, epoch, worker id), so augmentations are reproducible too.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ecgimg import distributed


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixing several integers (seed, rank, epoch, ...) via numpy's SeedSequence."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(2, np.uint64)[0]
               & 0x7FFFFFFFFFFFFFFF)


def seed_worker(worker_id: int) -> None:
    """`worker_init_fn`: seed numpy and python from the worker's torch seed.

    torch gives each worker seed base_seed + worker_id, and `SeededLoader` derives base_seed from
    (seed, rank, epoch); numpy is not seeded by torch, so we do it here.
    """
    worker_seed = torch.initial_seed()
    np.random.seed(derive_seed(worker_seed, worker_id) % 2**32)
    random.seed(worker_seed)


class ResumableDistributedSampler(DistributedSampler):
    """DistributedSampler that can start an epoch part-way (for exact mid-epoch resume)."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, shuffle: bool, seed: int,
                 drop_last: bool = False):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                         drop_last=drop_last)
        self.start_index = 0

    def set_start_index(self, start_index: int) -> None:
        """Skip the first `start_index` samples of this rank's order in the next iteration only."""
        self.start_index = int(start_index)

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())[self.start_index:]
        self.start_index = 0
        return iter(indices)


class SeededLoader(DataLoader):
    """DataLoader whose `set_epoch(e)` fixes the sample order and the worker seeds of epoch e, and
    tells a dataset that has `set_epoch` (e.g. on-the-fly renders drawing a fresh page per epoch)."""

    def __init__(self, dataset: Dataset, *, seed: int, rank: int, **kwargs: Any):
        super().__init__(dataset, **kwargs)
        self.seed = seed
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if isinstance(self.sampler, DistributedSampler):
            self.sampler.set_epoch(epoch)
        if self.generator is not None:
            self.generator.manual_seed(derive_seed(self.seed, self.rank, epoch))
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def skip_batches(self, n_batches: int) -> bool:
        """Start the next iteration after `n_batches` batches (True if done without loading them)."""
        if isinstance(self.sampler, ResumableDistributedSampler) and self.batch_size is not None:
            self.sampler.set_start_index(n_batches * self.batch_size)
            return True
        return False


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = True, seed: int = 0,
                num_workers: int = 0, drop_last: bool = False, collate_fn: Callable | None = None,
                pin_memory: bool | None = None, distributed_sampling: bool = True,
                **kwargs: Any) -> SeededLoader:
    """A loader that does the right thing in and out of DDP.

    `batch_size` is per rank (the global batch is batch_size × world size). In DDP every rank gets
    a disjoint shard (`DistributedSampler`, padded to equal length unless `drop_last`); set
    `distributed_sampling=False` for a loader every rank should read whole. Call `set_epoch`
    each epoch (`fit` does).
    """
    distributed.init_from_env()  # under torchrun, join the group first so the shard is right
    world, rank = (distributed.world_size(), distributed.rank()) if distributed_sampling else (1, 0)
    sampler = ResumableDistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=shuffle,
                                          seed=seed, drop_last=drop_last)
    generator = torch.Generator()
    generator.manual_seed(derive_seed(seed, rank, 0))
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    return SeededLoader(dataset, seed=seed, rank=rank, batch_size=batch_size, sampler=sampler,
                        num_workers=num_workers, drop_last=drop_last, collate_fn=collate_fn,
                        pin_memory=pin_memory, worker_init_fn=seed_worker, generator=generator,
                        **kwargs)


def set_loader_epoch(loader: Any, epoch: int) -> None:
    """Tell a loader (or its sampler) which epoch starts: reshuffles DistributedSampler orders."""
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    elif isinstance(getattr(loader, "sampler", None), DistributedSampler):
        loader.sampler.set_epoch(epoch)
    elif hasattr(getattr(loader, "batch_sampler", None), "sampler") and \
            hasattr(loader.batch_sampler.sampler, "set_epoch"):
        loader.batch_sampler.sampler.set_epoch(epoch)


def iterate_from(loader: Any, start_batch: int) -> Iterator[Any]:
    """Iterate a loader from batch `start_batch` on (skipping cheaply when the sampler allows)."""
    if start_batch <= 0:
        yield from loader
        return
    if hasattr(loader, "skip_batches") and loader.skip_batches(start_batch):
        yield from loader
        return
    for index, batch in enumerate(loader):  # fallback: load and discard the batches already seen
        if index >= start_batch:
            yield batch
