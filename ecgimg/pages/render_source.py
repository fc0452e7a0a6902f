"""The pages a shard folder would hold, rendered when asked: a `PageStream` source.

Same discovery, patient plan, tar order, seeds and pixels as `ecg-render --format wds`, so training
on the fly and training from shards see the same batches (lossless PNG), which tests check.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ecgimg.pages.jobs import PageSettings, cell_quads, jsonable_labels, render_page
from ecgimg.pages.plan import job_records, tar_parts
from ecgimg.pages.records import discover, load


class RenderSource:
    """The pages a shard folder would hold, rendered when asked: same plan, seeds and pixels.

    `inputs`, `settings`, `jobs` and `records_per_tar` as given to ecg-render. Labels are only known
    once a record is read, so supervised use needs `classes` for multi-label tasks."""

    def __init__(self, inputs: Sequence[str], settings: PageSettings, jobs: int = 1, records_per_tar: int = 500):
        # the image does not depend on exports; skip the masks they would make us draw
        self.settings = dataclasses.replace(settings, exports=(), masks_npz=False)
        refs = discover(inputs)
        self.refs, self.entries = [], []
        parts = [p for job in range(jobs) for p in tar_parts(job_records(refs, job, jobs), records_per_tar)]
        for shard, part in enumerate(parts):
            for ref in part:
                for view in range(settings.views):
                    self.refs.append((ref, view))
                    self.entries.append({"record_id": ref.record_id, "patient_id": ref.patient_id,
                                         "identity": ref.identity, "view": view, "split": ref.split,
                                         "labels": None, "position": ref.position, "shard": shard})

    def fetch(self, row: int) -> tuple[np.ndarray, list, dict]:
        """(RGB uint8 page, panel cell quads, labels) of one page, rendered now."""
        ref, view = self.refs[row]
        record = load(ref)
        page = render_page(ref, record, self.settings, view)
        return page.image, cell_quads(page.truth), jsonable_labels(record.labels)
