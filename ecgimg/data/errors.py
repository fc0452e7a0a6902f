"""Typed errors for bad ECG input: each names the file (and the lead, where one is at fault)."""
from __future__ import annotations


class RecordError(ValueError):
    """A record could not be read or does not meet the requirements (names the file and why)."""

    def __init__(self, path: str | None, reason: str, *, lead: str | None = None):
        self.path = None if path is None else str(path)
        self.reason = reason
        self.lead = lead
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class UnreadableRecordError(RecordError):
    """The file is missing, truncated, of an unknown format, or its header disagrees with the data."""


class InvalidHeaderError(UnreadableRecordError):
    """A header omits or misstates a physical field that a reader would otherwise have to guess:
    sampling rate absent/0/negative/absurd, a lead's ADC gain absent or 0 (WFDB's "uncalibrated",
    which wfdb silently reads as 200 units/mV), a lead without a name, a signal count that
    disagrees with the signal lines. `field` names the header field, `lead` the lead."""

    def __init__(self, path: str | None, reason: str, *, field: str, lead: str | None = None):
        super().__init__(path, reason, lead=lead)
        self.field = field


class InvalidSignalError(RecordError):
    """The signal is readable but unusable: NaN/inf, wrong shape or dtype, too short, or no usable
    lead at all (every lead flat, railed, of implausible amplitude, or not an ECG)."""


class MissingLeadsError(RecordError):
    """Leads needed for the canonical 12-lead form are absent and may not be derived."""


class PatientLeakError(ValueError):
    """A split would put the same patient on two sides."""
