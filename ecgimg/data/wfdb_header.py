"""Check a WFDB header's physical fields before wfdb silently guesses them.

wfdb (4.x, `wfdb.io._header`) fills absent or odd fields with defaults and says nothing:

| field | wfdb when absent / odd | here |
|---|---|---|
| sampling frequency | 250 Hz when absent; "-500", "nan" fail its regex and also read as 250 | refused (`InvalidHeaderError`, field ``fs``) unless a number in `FS_RANGE_HZ` |
| ADC gain | 200 units/mV when absent *or 0* (WFDB: "uncalibrated") | refused, naming the lead (a lead 5x too big for PTB-XL's 1000/mV) |
| units | "mV" | accepted as WFDB says, with a warning; the amplitude flag catches a wrong scale |
| baseline | ADC zero if given, else 0 | with neither given: a warning |
| ADC resolution | kept, unused for reading | beyond the format's bits: a warning |
| signal count | signal lines parsed as they come | must equal the signal lines |
| lead name | None | refused (a lead without a name cannot be placed) |
| signal length | read from the file | absent: a warning (truncation goes unnoticed); n_leads x length over `MAX_RECORD_SAMPLES`: refused before reading |

The header text is parsed with wfdb's own line patterns (`wfdb.io.header`), so the raw fields
are exactly those wfdb sees, before its defaults.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ecgimg.data.errors import InvalidHeaderError, UnreadableRecordError

#: Plausible ECG sampling rates (Hz): PTB-XL's low-rate files are 100 Hz, high-resolution ECGs 10 kHz+.
FS_RANGE_HZ = (50.0, 20_000.0)
#: n_leads x n_samples a reader will load (about 24 h of 3 leads at 250 Hz, ~0.5 GB as float64).
MAX_RECORD_SAMPLES = 64_000_000


@dataclass
class HeaderFacts:
    """What the header states, checked; `warnings` are kept in ``record.meta["header_warnings"]``."""

    fs: float
    n_sig: int
    sig_len: int | None
    leads: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_fs(path: Path | str, value: object, field_name: str = "fs") -> float:
    """`value` as a sampling rate in Hz, or `InvalidHeaderError` naming the file."""
    try:
        fs = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidHeaderError(path, f"sampling frequency {value!r} is not a number",
                                 field=field_name) from None
    if not math.isfinite(fs) or fs <= 0:
        raise InvalidHeaderError(path, f"sampling frequency {value!r} Hz is not a positive number",
                                 field=field_name)
    low, high = FS_RANGE_HZ
    if not low <= fs <= high:
        raise InvalidHeaderError(path, f"sampling frequency {fs:g} Hz is outside the plausible ECG "
                                       f"range {low:g}-{high:g} Hz", field=field_name)
    return fs


def check_size(path: Path | str, n_leads: int, n_samples: int, fs: float) -> None:
    """Refuse, before reading, a record too large to load whole."""
    if n_leads * n_samples > MAX_RECORD_SAMPLES:
        hours = n_samples / fs / 3600
        raise UnreadableRecordError(path, f"record declares {n_leads} leads x {n_samples:,} samples "
                                          f"({hours:.1f} h), over the {MAX_RECORD_SAMPLES:,}-sample "
                                          "limit of load_record; split it into shorter records")


def check_header(hea: Path, _segment: bool = False) -> HeaderFacts:
    """Parse and check `hea` (see the module docstring); raises `InvalidHeaderError`."""
    from wfdb.io._signal import BIT_RES
    from wfdb.io.header import parse_header_content, rx_signal

    # read as wfdb does (ASCII, other bytes ignored): comments in any encoding stay readable
    lines, _comments = parse_header_content(hea.read_bytes().decode("ascii", errors="ignore"))
    if not lines:
        raise UnreadableRecordError(hea, "header is empty (no record line)")
    record = lines[0].split()
    name, _, n_seg_text = record[0].partition("/")
    if len(record) < 2 or not record[1].isdigit():
        raise InvalidHeaderError(hea, f"record line {lines[0]!r} lacks the number of signals",
                                 field="n_sig")
    n_sig = int(record[1])
    if n_sig == 0:
        raise InvalidHeaderError(hea, "header declares no signals", field="n_sig")
    if len(record) < 3:
        raise InvalidHeaderError(hea, "no sampling frequency in the record line (wfdb would "
                                      "assume 250 Hz)", field="fs")
    fs = check_fs(hea, record[2].split("/")[0].split("(")[0])
    sig_len = int(record[3]) if len(record) > 3 and record[3].isdigit() else None
    facts = HeaderFacts(fs=fs, n_sig=n_sig, sig_len=sig_len)
    if sig_len is None:
        facts.warnings.append("no signal length in the header: a truncated file goes unnoticed")
    else:
        check_size(hea, n_sig, sig_len, fs)
    if n_seg_text and not n_seg_text.isdigit():
        raise InvalidHeaderError(hea, f"record line {lines[0]!r}: segment count {n_seg_text!r} is "
                                      "not a number", field="n_seg")
    if n_seg_text:  # multi-segment: the signal lines live in each segment's own header
        if _segment:
            raise InvalidHeaderError(hea, "a segment of a multi-segment record is itself "
                                          "multi-segment", field="n_seg")
        for line in lines[1:1 + int(n_seg_text)]:
            segment = line.split()[0]
            if segment != "~":
                seg_hea = hea.with_name(f"{segment}.hea")
                if not seg_hea.is_file():
                    raise UnreadableRecordError(seg_hea, f"segment header named in {hea.name} is "
                                                         "missing")
                facts.warnings += [f"segment {segment}: {w}"
                                   for w in check_header(seg_hea, _segment=True).warnings]
        return facts
    signal_lines = lines[1:]
    if len(signal_lines) != n_sig:
        raise InvalidHeaderError(hea, f"record line declares {n_sig} signals, the header has "
                                      f"{len(signal_lines)} signal lines", field="n_sig")
    for number, line in enumerate(signal_lines, start=1):
        match = rx_signal.match(line)
        if match is None:
            raise InvalidHeaderError(hea, f"signal line {number} is not WFDB syntax: {line!r}",
                                     field="signal line")
        raw = match.groupdict()
        lead = raw["sig_name"].strip()
        if not lead:
            raise InvalidHeaderError(hea, f"signal {number} has no lead name", field="sig_name")
        facts.leads.append(lead)
        _check_signal_fields(hea, lead, raw, BIT_RES, facts.warnings)
    return facts


def _check_signal_fields(hea: Path, lead: str, raw: dict, bit_res: dict, warnings: list[str]):
    fmt = raw["fmt"]
    if fmt not in bit_res:
        raise InvalidHeaderError(hea, f"lead {lead} has unsupported WFDB format {fmt!r}",
                                 field="fmt", lead=lead)
    gain_text = raw["adc_gain"]
    if gain_text == "":
        raise InvalidHeaderError(hea, f"lead {lead} has no ADC gain: uncalibrated (wfdb would "
                                      "assume 200 units/mV)", field="adc_gain", lead=lead)
    try:
        gain = float(gain_text)
    except ValueError:
        raise InvalidHeaderError(hea, f"lead {lead} has an unreadable ADC gain {gain_text!r}",
                                 field="adc_gain", lead=lead) from None
    if gain == 0:
        raise InvalidHeaderError(hea, f"lead {lead} has ADC gain 0: uncalibrated (wfdb would "
                                      "silently read it as 200 units/mV)", field="adc_gain",
                                 lead=lead)
    if not math.isfinite(gain) or gain < 0:
        raise InvalidHeaderError(hea, f"lead {lead} has ADC gain {gain_text}; it must be a "
                                      "positive number", field="adc_gain", lead=lead)
    if raw["units"] == "":
        warnings.append(f"lead {lead}: no units in the header, mV assumed (WFDB default)")
    if raw["baseline"] == "" and raw["adc_zero"] == "":
        warnings.append(f"lead {lead}: neither baseline nor ADC zero in the header, 0 assumed")
    if raw["adc_res"] not in ("", "0") and int(raw["adc_res"]) > bit_res[fmt]:
        warnings.append(f"lead {lead}: ADC resolution {raw['adc_res']} bits exceeds format "
                        f"{fmt}'s {bit_res[fmt]} bits (ignored)")
