"""Property test: mutated WFDB headers and signal files, and arbitrary .npz/.npy content, reach
`load_record` / `canonicalize` / `build_cache`. Only the project's typed errors may escape, and
whatever is accepted is finite, correctly shaped and (unless flagged) of plausible amplitude."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecgdata_builders import ecg_like, write_wfdb
from ecgimg.data import STANDARD_LEADS, RecordError, build_cache, canonicalize, load_record
from ecgimg.data.quality import MAX_SPAN_MV
from ecgimg.data.wfdb_header import FS_RANGE_HZ

# database=None: no .hypothesis/ folder in the checkout; the examples are seeded per test anyway
SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: header tokens a mutation may write in place of another: numbers, signs, units, junk
TOKENS = st.sampled_from(["0", "-1", "nan", "inf", "1e9", "0.0001", "250", "500", "1000",
                          "200(0)/mV", "0(0)/mV", "1000(5)/uV", "1000/V", "1000(0)/mmHg", "16",
                          "212", "80", "8", "99", "-32768", "", "x", "I", "II", "V1", "~",
                          "rec/2", "12", "13", "5000", "99999999999", "1e400", "(", "/", "#"])


def _check_accepted(record) -> None:
    signal = record.signal
    assert signal.dtype == np.float32 and signal.ndim == 2
    assert signal.shape[0] == len(record.leads) >= 1 and signal.shape[1] >= 1
    assert np.isfinite(signal).all()
    assert FS_RANGE_HZ[0] <= record.fs <= FS_RANGE_HZ[1]
    flags = record.meta.get("lead_flags", {})
    for row, lead in enumerate(record.leads):
        if not flags.get(lead):  # unflagged leads are of plausible amplitude
            low, high = np.percentile(signal[row], (0.1, 99.9))
            assert high - low <= MAX_SPAN_MV


def _load_and_canonicalize(base) -> None:
    try:
        record = load_record(base)
    except RecordError:
        return
    _check_accepted(record)
    try:
        canonical = canonicalize(record)
    except RecordError:
        return
    assert canonical.signal.shape == (12, 5000) and canonical.leads == STANDARD_LEADS
    _check_accepted(canonical)


@st.composite
def header_mutations(draw):
    """A list of (line index, token index, action, token) edits."""
    edits = draw(st.lists(st.tuples(st.integers(0, 13), st.integers(0, 9),
                                    st.sampled_from(["replace"] * 4 + ["delete", "insert"] * 2
                                                    + ["drop_line", "dup_line"]), TOKENS),
                          min_size=1, max_size=4))
    return edits


def _mutate_header(text: str, edits) -> str:
    lines = text.splitlines()
    for line_no, token_no, action, token in edits:
        if not lines:
            break
        line_no %= len(lines)
        tokens = lines[line_no].split(" ")
        if action == "drop_line":
            del lines[line_no]
            continue
        if action == "dup_line":
            lines.insert(line_no, lines[line_no])
            continue
        token_no %= len(tokens)
        if action == "replace":
            tokens[token_no] = token
        elif action == "delete":
            del tokens[token_no]
        else:
            tokens.insert(token_no, token)
        lines[line_no] = " ".join(tokens)
    return "\n".join(lines) + "\n"


@SETTINGS
@given(edits=header_mutations(), fmt=st.sampled_from(["16", "212", "80"]),
       fs=st.sampled_from([100.0, 250.0, 500.0, 1000.0]),
       truncate=st.one_of(st.none(), st.integers(0, 30_000)),
       flip=st.one_of(st.none(), st.tuples(st.integers(0, 30_000), st.integers(1, 255))))
def test_mutated_wfdb_records_raise_only_typed_errors(edits, fmt, fs, truncate, flip):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gain = {"16": 1000.0, "212": 200.0, "80": 20.0}[fmt]
        base = write_wfdb(tmp, "rec", ecg_like(fs=fs, seconds=10.0), fs=fs, fmt=fmt, gain=gain)
        hea, dat = tmp / "rec.hea", tmp / "rec.dat"
        hea.write_text(_mutate_header(hea.read_text(), edits))
        raw = bytearray(dat.read_bytes())
        if flip is not None and raw:
            raw[flip[0] % len(raw)] ^= flip[1]
        if truncate is not None:
            raw = raw[:truncate]
        dat.write_bytes(bytes(raw))
        _load_and_canonicalize(base)


@SETTINGS
@given(shape=st.sampled_from([(12, 5000), (5000, 12), (12, 0), (0, 5000), (3, 4, 5), (12,),
                              (15, 3000), (2, 5000)]),
       dtype=st.sampled_from(["float32", "float64", "int16", "bool", "complex64", "<U2",
                              "float16"]),
       fs=st.one_of(st.sampled_from([0, -500, np.nan, np.inf, 1e9, 500, "abc", [500, 250]]),
                    st.floats(allow_nan=True, allow_infinity=True)),
       leads=st.sampled_from([list(STANDARD_LEADS), list(STANDARD_LEADS[:11]), ["I"] * 12,
                              [], "I", [["I"]], [1, 2], list(STANDARD_LEADS) + ["vx", "vy", "vz"],
                              ["MLII", "V5"]]),
       scale=st.sampled_from([0.0, 1e-4, 1.0, 1e3, np.nan]),
       units=st.sampled_from([None, "mV", "uV", "V", "mmHg", ["mV"]]),
       as_npy=st.booleans())
def test_arbitrary_numpy_records_raise_only_typed_errors(shape, dtype, fs, leads, scale, units,
                                                         as_npy):
    rng = np.random.default_rng(0)
    with np.errstate(invalid="ignore", over="ignore"):
        signal = (rng.standard_normal(shape) * scale).astype(dtype) if dtype != "<U2" else \
            np.full(shape, "a", dtype=dtype)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if as_npy:
            np.save(tmp / "r.npy", signal)
            try:
                (tmp / "r.json").write_text(json.dumps({"fs": fs, "leads": leads}))
            except (TypeError, ValueError):
                (tmp / "r.json").write_text("{not json")
            path = tmp / "r.npy"
        else:
            arrays = {"signal": signal, "fs": np.asarray(fs), "leads": np.asarray(leads)}
            if units is not None:
                arrays["units"] = np.asarray(units)
            np.savez(tmp / "r.npz", **arrays)
            path = tmp / "r.npz"
        _load_and_canonicalize(path)


@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(edits=header_mutations())
def test_a_batch_with_one_mutated_record_keeps_every_good_record(edits):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        good = [write_wfdb(tmp, f"good{i}", ecg_like(seed=i)) for i in range(2)]
        bad = write_wfdb(tmp, "mutant", ecg_like(seed=9))
        hea = tmp / "mutant.hea"
        hea.write_text(_mutate_header(hea.read_text(), edits))
        cache = build_cache([good[0], bad, good[1]], tmp / "cache", progress=False)
        report = cache.report()
        assert {"good0", "good1"} <= set(cache.index["record_id"])
        assert report["n_written"] + report["n_skipped"] == 3
        assert all(not entry.get("unexpected") for entry in report["skipped"]), report
        if report["n_skipped"]:
            assert report["skipped"][0]["file"] and "mutant" in report["skipped"][0]["file"]
        assert np.isfinite(np.asarray(cache.signals)).all()


def test_property_helpers_build_a_valid_record(tmp_path):
    """The unmutated starting point is accepted: the properties above are not vacuous."""
    for fmt, gain in (("16", 1000.0), ("212", 200.0), ("80", 20.0)):
        base = write_wfdb(tmp_path, f"ok{fmt}", ecg_like(), fmt=fmt, gain=gain)
        record = load_record(base)
        _check_accepted(record)
        assert not record.meta["lead_flags"], record.meta["lead_flags"]

