"""Rendered pages streamed into the engine as batches, from shards or rendered on the fly.

`PageStream` is an IterableDataset that yields whole batches, split by rank and DataLoader worker:

* epoch order: tars in a seeded order, units shuffled within each tar (a unit is one page, or one
  patient/ECG group for contrastive batches); the order is cut into one contiguous run per rank, so
  a rank reads few tars, and the run into batches; batch b goes to worker b % num_workers, which is
  the order the DataLoader hands them out in. Every unit appears exactly once per epoch across
  ranks x workers when the count divides by the world size; otherwise the run wraps round (like
  `DistributedSampler`) or drops the remainder (`drop_last`), so all ranks take the same steps.
* supervised batches: {"image", "index", "patient", "view", "target" (with `task`)}, as
  `RenderedImages` yields; contrastive batches (`identity="patient"` for BCL, `"record"` for
  SimCLR): `units_per_batch` groups x `views` pages each, different records of a patient first.
* the source is a folder of shards (`ShardSource`) or the same pages rendered now
  (`ecgimg.pages.render_source.RenderSource`: the writer's plan and seeds); with lossless PNG both
  give the same tensors, batch by batch. A source has `entries` (one dict per page: record_id,
  patient_id, identity, view, split, labels, position, shard) and `fetch(row)`.

A batch is a pure function of (seed, epoch, rank, batch number), so `ShardLoader.skip_batches`
resumes mid-epoch exactly.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import cv2
import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ecgimg.data.images import grid_crop, letterbox, stretch, to_tensor
from ecgimg.data.pairs import patient_codes
from ecgimg.data.shards import ShardError, open_shards

ENTRY_KEYS = ("record_id", "patient_id", "identity", "view", "split", "labels", "position")


class ShardSource:
    """Pages from a complete `ecg-render --format wds` folder (decoded from the tars)."""

    def __init__(self, root):
        self.summary, self.samples = open_shards(root)
        self.entries = [{**{k: s.entry.get(k) for k in ENTRY_KEYS}, "shard": s.shard} for s in self.samples]

    def fetch(self, row: int) -> tuple[np.ndarray, list, dict]:
        """(RGB uint8 page, panel cell quads, labels) of one sample."""
        sample = self.samples[row]
        data = sample.read(sample.entry["image"])
        rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
        if rgb is None:
            raise ShardError(sample.tar, f"member {sample.entry['key']}.{sample.entry['image']} does not decode")
        return rgb, sample.entry["cell_quads"], sample.entry["labels"]


class PageStream(IterableDataset):
    """Batches of preprocessed pages for one rank (see the module docstring)."""

    def __init__(self, source, *, batch_size: int, seed: int = 0, image_size: int = 300, grayscale: bool = False,
                 crop: str = "page", identity: str | None = None, views: int = 2, task: str | None = None,
                 classes: Sequence[str] | None = None, split: str | None = None, drop_last: bool = False,
                 rank: int | None = None, world_size: int | None = None):
        if identity not in (None, "patient", "record"):
            raise ValueError(f"identity must be None (pages), 'patient' (BCL) or 'record' (SimCLR), got {identity!r}")
        if crop not in ("page", "grid"):
            raise ValueError(f"crop must be 'page' or 'grid', got {crop!r}")
        self.source, self.batch_size, self.seed = source, int(batch_size), int(seed)
        self.image_size, self.grayscale, self.crop = int(image_size), grayscale, crop
        self.identity, self.views, self.task, self.drop_last = identity, int(views), task, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start_batch = 0, 0
        entries = source.entries
        self.rows = np.array([i for i, e in enumerate(entries) if split is None or e["split"] == split], np.int64)
        if not len(self.rows):
            raise ValueError(f"no pages{'' if split is None else f' in split {split!r}'}")
        picked = [entries[i] for i in self.rows]
        self.patient = patient_codes([e["identity"] for e in picked])
        self.index = _record_index(picked)
        self.classes = list(classes) if classes is not None else self._classes(picked)
        key = {"patient": "identity", "record": "record_id"}.get(identity)
        groups: dict[Any, list[int]] = {}
        for pos, e in enumerate(picked):  # units hold positions into self.rows
            groups.setdefault(pos if key is None else e[key], []).append(pos)
        self.units = [g for g in groups.values() if identity is None or len(g) >= 2]
        if not self.units:
            raise ValueError(f"no {identity} has two pages for a positive pair: render with --views 2 or more")
        self.unit_shard = np.array([entries[self.rows[g[0]]]["shard"] for g in self.units], np.int64)

    def _classes(self, entries) -> list[str]:
        if self.task is None:
            return []
        values = [e["labels"].get(self.task) for e in entries if e["labels"]]
        if any(isinstance(v, list) for v in values):
            return sorted({c for v in values if isinstance(v, list) for c in v})
        return [self.task]

    # ------------------------------------------------------------------ plan
    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _resolve_world(self) -> tuple[int, int]:
        if self.rank is None or self.world_size is None:
            on = dist.is_available() and dist.is_initialized()
            self.rank = dist.get_rank() if on else 0
            self.world_size = dist.get_world_size() if on else 1
        return self.rank, self.world_size

    def _units_per_rank(self) -> int:
        _, world = self._resolve_world()
        n = len(self.units)
        return n // world if self.drop_last else math.ceil(n / world)

    def __len__(self) -> int:
        per_rank = self._units_per_rank()
        return per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)

    def epoch_units(self) -> np.ndarray:
        """This rank's units for the epoch, in batch order."""
        rank, world = self._resolve_world()
        shards = np.unique(self.unit_shard)
        order = []
        for s in np.random.default_rng([self.seed, self.epoch]).permutation(shards):
            members = np.flatnonzero(self.unit_shard == s)
            order.append(members[np.random.default_rng([self.seed, self.epoch, int(s) + 1]).permutation(len(members))])
        order = np.concatenate(order)
        per_rank = self._units_per_rank()
        order = np.resize(order, per_rank * world)  # wraps round when the count does not divide
        return order[rank * per_rank:(rank + 1) * per_rank]

    def __iter__(self):
        # not a generator function: the plan (and start_batch) is fixed when iter() is called, which
        # ShardLoader relies on when it resets start_batch right after creating its iterator
        info = get_worker_info()
        worker, n_workers = (0, 1) if info is None else (info.id, info.num_workers)
        if info is None:
            self._resolve_world()
        mine = self.epoch_units()
        starts = [b for b in range(self.start_batch, len(self)) if b % n_workers == worker]
        return (self.batch(mine[b * self.batch_size:(b + 1) * self.batch_size]) for b in starts)

    # ------------------------------------------------------------------ batches
    def _pick_views(self, unit: int) -> list[int]:
        """`views` pages of a group: distinct records first (random), then other renders, then repeats."""
        group = self.units[unit]
        rng = np.random.default_rng([self.seed, self.epoch, unit, 2])
        entries = self.source.entries
        by_record: dict[str, list[int]] = {}
        for pos in rng.permutation(group):
            by_record.setdefault(entries[self.rows[pos]]["record_id"], []).append(int(pos))
        ranked = [lst[k] for k in range(max(map(len, by_record.values()))) for lst in by_record.values() if k < len(lst)]
        return (ranked * self.views)[:self.views]

    def batch(self, units: np.ndarray) -> dict[str, torch.Tensor]:
        positions = [p for u in units for p in (self._pick_views(int(u)) if self.identity else self.units[int(u)])]
        images, targets, views = [], [], []
        for pos in positions:
            rgb, quads, labels = self.source.fetch(int(self.rows[pos]))
            if self.crop == "grid":
                rgb = stretch(grid_crop(rgb, {"panels": [{"cell_quad": q} for q in quads]}), self.image_size)
            else:
                rgb = letterbox(rgb, self.image_size)
            images.append(to_tensor(rgb, self.grayscale))
            views.append(self.source.entries[self.rows[pos]]["view"])
            if self.task is not None:
                targets.append(self._target(labels))
        out = {"image": torch.stack(images), "index": torch.from_numpy(self.index[positions]),
               "patient": torch.from_numpy(self.patient[positions]), "view": torch.tensor(views)}
        if self.task is not None:
            out["target"] = torch.from_numpy(np.stack(targets))
        return out

    def _target(self, labels: dict | None) -> np.ndarray:
        value = None if labels is None else labels.get(self.task)
        if value is None:
            return np.full(len(self.classes), np.nan, np.float32)
        if isinstance(value, list):
            return np.array([c in value for c in self.classes], np.float32)
        return np.array([value], np.float32)


def _record_index(entries: list[dict]) -> np.ndarray:
    """"index" of each page: the record's row in its dataset (as `RenderedImages` gives the cache
    row) when those rows tell records apart (one input), else a code per record id."""
    position = {e["record_id"]: e["position"] for e in entries}
    if len(set(position.values())) == len(position):
        return np.array([e["position"] for e in entries], np.int64)
    return patient_codes([e["record_id"] for e in entries])


class ShardLoader(DataLoader):
    """DataLoader over a `PageStream` (batches come whole): `set_epoch` reaches the stream, and
    `skip_batches` starts the next epoch part-way without loading what it skips (exact resume)."""

    def __init__(self, dataset: PageStream, num_workers: int = 0, **kwargs):
        if kwargs.get("persistent_workers"):
            raise ValueError("PageStream workers must restart each epoch to see it: persistent_workers=False")
        kwargs.setdefault("pin_memory", torch.cuda.is_available())
        super().__init__(dataset, batch_size=None, num_workers=num_workers, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def skip_batches(self, n_batches: int) -> bool:
        self.dataset.start_batch = int(n_batches)
        return True

    def __iter__(self):
        self.dataset._resolve_world()  # in the main process, where the process group lives
        iterator = super().__iter__()
        self.dataset.start_batch = 0  # workers (or the single-process fetcher) already hold it
        return iterator
