"""Typed errors for bad ECG input: each names the file and the problem."""
from __future__ import annotations


class RecordError(ValueError):
    """A record could not be read or does not meet the requirements (names the file and why)."""

    def __init__(self, path: str | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class UnreadableRecordError(RecordError):
    """The file is missing, truncated, of an unknown format, or its header disagrees with the data."""


class InvalidSignalError(RecordError):
    """The signal is readable but unusable: NaN/inf, wrong shape, flat, too short."""


class MissingLeadsError(RecordError):
    """Leads needed for the canonical 12-lead form are absent and may not be derived."""


class PatientLeakError(ValueError):
    """A split would put the same patient on two sides."""
