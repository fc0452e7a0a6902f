"""Pages rendered once and reused: a memory-mapped bank of K seeded views per record.

Why: on a CPU budget, rendering a fresh page for every training image costs about as much as the
model step itself, and evaluation pages must be the same for every model anyway. A bank renders
each (record, view) of a `RenderedImages` dataset once, in parallel processes, into one uint8 file
that every stage and every DataLoader worker maps read-only: BCL, SimCLR, fine-tuning at every
label fraction and evaluation of one run all read the same pages. `PageBank.dataset(pages)` serves
any `RenderedImages` whose records the bank holds (a label-fraction subset, another task) with
the same keys and sample dicts; view v of epoch e reads slot (v + e) mod K, so two views of one ECG
in a batch are different renders (K >= 2) and a record's page changes from epoch to epoch. With
K = 1 it is a fixed evaluation set.

Layout of a bank directory: ``pages.u8`` (uint8 [N, K, S, S, 3], C order) and ``bank.json``
(shape, settings, source rows). A bank is reused only when every setting that decides its pixels
matches (renderer source included); it is written to a temporary directory and renamed into
place, so a half-written bank is never read and two processes building it at once are harmless.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from ecgimg.data.images import RenderedImages, to_tensor

PAGES_FILE, META_FILE = "pages.u8", "bank.json"
#: bump when the bank layout changes
BANK_FORMAT = 1


def renderer_fingerprint() -> str:
    """Hash of the renderer's source: a changed renderer draws other pixels for the same seed."""
    import render

    digest = hashlib.sha256()
    for path in sorted(Path(render.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def pixel_settings(pages: RenderedImages) -> dict[str, Any]:
    """What decides a page's pixels besides its record (JSON-normalised, so stored settings
    compare equal to freshly computed ones)."""
    settings = {"format": BANK_FORMAT, "renderer": renderer_fingerprint(), "seed": pages.seed,
                "image_size": pages.image_size, "policy": pages.policy,
                "render_dpi": pages.render_dpi, "spec_kwargs": pages.spec_kwargs,
                "crop": pages.crop, "orientation": pages.orientation,
                "drop_effects": pages.drop_effects, "oversample": pages.oversample,
                "fs": pages.fs, "leads": pages.leads}
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


_WORKER_PAGES: RenderedImages | None = None  # set in the parent before forking the workers


def _render_rows(args: tuple[str, tuple[int, ...], int, int]) -> int:
    path, shape, start, stop = args
    bank = np.memmap(path, dtype=np.uint8, mode="r+", shape=shape)
    for position in range(start, stop):
        record = _WORKER_PAGES.source_index(position)
        for view in range(shape[1]):
            bank[position, view] = _WORKER_PAGES.render_view(record, view, epoch=0)
    bank.flush()
    return stop - start


def build_page_bank(pages: RenderedImages, root: str | Path, views: int, workers: int = 1,
                    progress: Callable[[int, int], None] | None = None) -> "PageBank":
    """Render every record of `pages` x `views` into a bank under `root` (or reuse a matching
    one) and open it. `progress(done, total)` is called as chunks of records finish."""
    global _WORKER_PAGES
    if views < 1:
        raise ValueError(f"a page bank needs views >= 1, got {views}")
    rows = [int(r) for r in pages.indices]
    signals = hashlib.sha256()  # the records' content, not just their ids: ids are reused
    for row in rows:
        signals.update(np.ascontiguousarray(pages.signals[row], dtype=np.float32).tobytes())
    key = {"pixels": pixel_settings(pages), "views": int(views), "rows": rows,
           "signals": signals.hexdigest()}
    out = Path(root) / hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    if (out / META_FILE).is_file():
        return PageBank(out)
    shape = (len(rows), views, pages.image_size, pages.image_size, 3)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.memmap(tmp / PAGES_FILE, dtype=np.uint8, mode="w+", shape=shape).flush()
    chunk = max(1, min(32, -(-len(rows) // max(1, 4 * workers))))
    jobs = [(str(tmp / PAGES_FILE), shape, s, min(s + chunk, len(rows)))
            for s in range(0, len(rows), chunk)]
    _WORKER_PAGES, done = pages, 0
    try:
        if workers > 1:  # fork: workers inherit the dataset (and its signal memmap) for free
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for n in pool.imap_unordered(_render_rows, jobs):
                    done += n
                    if progress:
                        progress(done, len(rows))
        else:
            for job in jobs:
                done += _render_rows(job)
                if progress:
                    progress(done, len(rows))
    finally:
        _WORKER_PAGES = None
    meta = {"shape": list(shape), **key,
            "record_ids": pages.record_ids[pages.indices].tolist()}
    (tmp / META_FILE).write_text(json.dumps(meta))
    try:
        os.replace(tmp, out)
    except OSError:  # another process (a DDP rank, a parallel stage) finished the same bank first
        if not (out / META_FILE).is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return PageBank(out)


class PageBank:
    """A built bank: uint8 pages [N, K, S, S, 3] of N source rows x K views."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta = json.loads((self.path / META_FILE).read_text())
        self.shape = tuple(meta["shape"])
        self.views = self.shape[1]
        self.pixels = meta["pixels"]
        self.slot_of_row = {int(row): i for i, row in enumerate(meta["rows"])}
        self._pages: np.memmap | None = None  # opened lazily: one map per worker process

    @property
    def pages(self) -> np.memmap:
        if self._pages is None:
            self._pages = np.memmap(self.path / PAGES_FILE, dtype=np.uint8, mode="r",
                                    shape=self.shape)
        return self._pages

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pages": None}  # workers reopen the map instead of copying it

    def __len__(self) -> int:
        return self.shape[0]

    def page(self, row: int, view: int = 0, epoch: int = 0) -> np.ndarray:
        """uint8 RGB page of source row `row` (a copy: the map is read-only)."""
        return np.array(self.pages[self.slot_of_row[int(row)], (view + epoch) % self.views])

    def dataset(self, pages: RenderedImages) -> "BankedImages":
        """`pages` served from this bank (its records must be in the bank, its pixel settings equal)."""
        return BankedImages(self, pages)


class BankedImages(Dataset):
    """A `RenderedImages` dataset whose pages come from a `PageBank` instead of the renderer.

    Same keys, sample dicts, `set_epoch`, `source_index` and `patient_of_position` as the dataset
    it wraps, so samplers, loaders and objectives use it unchanged.
    """

    def __init__(self, bank: PageBank, pages: RenderedImages):
        if pixel_settings(pages) != bank.pixels:
            raise ValueError(f"{bank.path}: page bank was built with other page settings than "
                             "this dataset's; build one for these settings with build_page_bank")
        missing = [int(r) for r in pages.indices if int(r) not in bank.slot_of_row]
        if missing:
            raise ValueError(f"{bank.path}: {len(missing)} records of the dataset are not in the "
                             f"page bank (first source rows: {missing[:5]})")
        self.bank, self.pages = bank, pages

    def __len__(self) -> int:
        return len(self.pages)

    def set_epoch(self, epoch: int) -> None:
        self.pages.set_epoch(epoch)

    @property
    def patient_of_position(self) -> np.ndarray:
        return self.pages.patient_of_position

    def source_index(self, position: int) -> int:
        return self.pages.source_index(position)

    def __getitem__(self, key: int | tuple) -> dict[str, Any]:
        if isinstance(key, tuple):
            position, view, *rest = key
            epoch = rest[0] if rest else self.pages.epoch
        else:
            position, view, epoch = key, 0, self.pages.epoch
        record = self.source_index(position)
        pages = self.pages
        image = self.bank.page(record, view, epoch)
        sample: dict[str, Any] = {"image": to_tensor(image, pages.grayscale), "index": record,
                                  "patient": int(pages.patient[record]), "view": int(view)}
        if pages.targets is not None:
            sample["target"] = torch.from_numpy(pages.targets[record].copy())
        return sample
