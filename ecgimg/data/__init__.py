"""ecgimg.data: readers, canonical 12-lead form, datasets, patient splits, caches, synthetic cohort.

Names are imported lazily so that `import ecgimg.data` stays cheap (no torch, no wfdb) until used.
"""
from __future__ import annotations

import importlib
from typing import Any

from ecgimg.data.errors import (InvalidHeaderError, InvalidSignalError, MissingLeadsError,
                                PatientLeakError, RecordError, UnreadableRecordError)
from ecgimg.data.record import STANDARD_LEADS, Record, normalize_lead_name

_LAZY = {
    "load_record": "ecgimg.data.readers",
    "parse_header_comments": "ecgimg.data.readers",
    "canonicalize": "ecgimg.data.canonical",
    "lead_flags": "ecgimg.data.quality",
    "LEAD_FLAGS": "ecgimg.data.quality",
    "PTBXL": "ecgimg.data.ptbxl",
    "PTBXL_TASKS": "ecgimg.data.ptbxl",
    "WFDBFolder": "ecgimg.data.folder",
    "patient_split": "ecgimg.data.splits",
    "assert_patient_disjoint": "ecgimg.data.splits",
    "stable_unit_hash": "ecgimg.data.splits",
    "build_cache": "ecgimg.data.cache",
    "SignalCache": "ecgimg.data.cache",
    "SignalDataset": "ecgimg.data.torch_datasets",
    "synthetic_cohort": "ecgimg.data.synthetic",
    "synthetic_cohort_cache": "ecgimg.data.synthetic",
}

__all__ = ["Record", "STANDARD_LEADS", "normalize_lead_name", "RecordError",
           "UnreadableRecordError", "InvalidHeaderError", "InvalidSignalError", "MissingLeadsError",
           "PatientLeakError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ecgimg.data' has no attribute {name!r}")
