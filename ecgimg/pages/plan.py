"""Which records a job renders and which tar each goes into: pure functions of the discovered list.

Work is split by patient, never by record, so every page of a patient lands in one job and one tar
(contrastive batches draw a patient's views from one place). Records without a patient id count as
their own patient. The same inputs and job count give the same plan on every machine.
"""
from __future__ import annotations

from ecgimg.pages.records import RecordRef


def patient_groups(refs: list[RecordRef]) -> list[list[RecordRef]]:
    """Records grouped by identity, groups in order of their first record, records in input order."""
    groups: dict[str, list[RecordRef]] = {}
    for ref in refs:
        groups.setdefault(ref.identity, []).append(ref)
    return list(groups.values())


def job_records(refs: list[RecordRef], job: int, jobs: int) -> list[RecordRef]:
    """Job `job` of `jobs` (`--shard I/N`): every `jobs`-th patient group, starting at group `job`."""
    return [ref for g, group in enumerate(patient_groups(refs)) if g % jobs == job for ref in group]


def tar_parts(refs: list[RecordRef], records_per_tar: int) -> list[list[RecordRef]]:
    """Consecutive whole patient groups per tar, closed once it holds >= `records_per_tar` records."""
    if records_per_tar < 1:
        raise ValueError(f"records per shard must be >= 1, got {records_per_tar}")
    parts: list[list[RecordRef]] = [[]]
    for group in patient_groups(refs):
        if len(parts[-1]) >= records_per_tar:
            parts.append([])
        parts[-1].extend(group)
    return [p for p in parts if p]
