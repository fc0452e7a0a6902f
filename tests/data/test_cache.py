"""build_cache / SignalCache: round trip, label columns, bad records skipped and reported."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ecgdata_builders import smooth_signal, write_wfdb
from ecgimg.data import (STANDARD_LEADS, PatientLeakError, Record, SignalCache, WFDBFolder,
                         build_cache)


def _record(i, patient, labels, n=5000):
    return Record(signal=smooth_signal(seed=i, n_samples=n), fs=500.0, leads=STANDARD_LEADS,
                  record_id=f"r{i}", patient_id=patient, labels=labels)


def test_round_trip_and_label_columns(tmp_path):
    records = [_record(0, "a", {"dx": ["X", "Y"], "sex": 1, "age": 50.0}),
               _record(1, "b", {"dx": [], "sex": 0, "age": None}),
               _record(2, None, {"dx": ["Y"], "sex": 1, "age": 70.0}, n=2500)]  # 250 Hz below
    records[2].fs = 250.0
    cache = build_cache(records, tmp_path / "c", splits=["train", "test", "val"], progress=False)
    again = SignalCache.open(tmp_path / "c")
    assert again.signals.shape == (3, 12, 5000) and again.signals.dtype == np.float32
    assert again.fs == 500.0 and again.leads == STANDARD_LEADS and len(again) == 3
    np.testing.assert_allclose(again.signals[0], records[0].signal, atol=1e-6)
    assert list(again.index.columns[:5]) == ["record_id", "patient_id", "recorded_at", "split",
                                             "source"]
    assert "dx/X" in again.index.columns and "dx/Y" in again.index.columns
    names, dx = again.targets("dx")
    assert names == ["X", "Y"]
    np.testing.assert_array_equal(dx, [[1, 1], [0, 0], [0, 1]])
    _, age = again.targets("age")
    assert np.isnan(age[1, 0]) and age[2, 0] == 70.0
    assert list(again.labelled_indices("dx")) == [0, 2]  # no statement -> not labelled
    assert list(again.labelled_indices("age")) == [0, 2]
    assert again.index.loc[2, "patient_id"] is None
    assert list(again.split_indices("test")) == [1]
    with pytest.raises(KeyError, match="available"):
        again.targets("missing_task")
    assert cache.report() == {"n_written": 3, "n_skipped": 0, "skipped": [],
                              "n_with_warnings": 0, "warnings": []}


def test_bad_records_are_skipped_and_reported(tmp_path):
    data = tmp_path / "folder"
    data.mkdir()
    good = [write_wfdb(data, f"good{i}", smooth_signal(seed=i)) for i in range(3)]
    write_wfdb(data, "trunc", smooth_signal(seed=5))
    (data / "trunc.dat").write_bytes((data / "trunc.dat").read_bytes()[:30_001])
    nan_signal = smooth_signal(seed=6)
    nan_signal[3, 10:20] = np.nan
    np.savez(data / "nan.npz", signal=nan_signal, fs=500.0, leads=np.array(STANDARD_LEADS))
    write_wfdb(data, "twoleads", smooth_signal(n_leads=2), leads=("I", "V5"))
    write_wfdb(data, "mismatch", smooth_signal(seed=7))
    hea = data / "mismatch.hea"
    hea.write_text(hea.read_text().replace("mismatch 12 500 5000", "mismatch 12 500 6000"))
    (data / "garbage.mat").write_bytes(b"MATLAB? no." * 50)

    cache = build_cache(WFDBFolder(data), tmp_path / "cache", progress=False)
    report = json.loads((tmp_path / "cache" / "report.json").read_text())
    assert report["n_written"] == 3 and report["n_skipped"] == 5
    by_file = {entry["file"].split("/")[-1]: entry for entry in report["skipped"]}
    assert by_file["trunc.hea"]["error_type"] == "UnreadableRecordError"
    assert by_file["mismatch.hea"]["error_type"] == "UnreadableRecordError"
    assert by_file["nan.npz"]["error_type"] == "InvalidSignalError"
    assert "aVR" in by_file["twoleads.hea"]["reason"]
    assert by_file["twoleads.hea"]["error_type"] == "MissingLeadsError"
    assert by_file["garbage.mat"]["error_type"] == "UnreadableRecordError"
    assert sorted(cache.index["record_id"]) == sorted(p.name for p in good)
    for row, record_id in enumerate(cache.index["record_id"]):  # nothing else lost or shuffled
        i = int(record_id[-1])
        np.testing.assert_allclose(cache.signals[row], smooth_signal(seed=i), atol=1e-3)
    assert cache.index["dx/426783006"].tolist() == [1.0, 1.0, 1.0]  # CinC-style header labels


def test_leaking_split_refused_at_build(tmp_path):
    records = [_record(0, "same", {}), _record(1, "same", {})]
    with pytest.raises(PatientLeakError, match="same"):
        build_cache(records, tmp_path / "leak", splits=["train", "test"], progress=False)


def test_open_refuses_inconsistent_cache(tmp_path):
    build_cache([_record(0, "a", {"y": 1})], tmp_path / "c", progress=False)
    with open(tmp_path / "c" / "signals.f32", "ab") as f:
        f.write(b"\0" * 8)
    with pytest.raises(ValueError, match="inconsistent"):
        SignalCache.open(tmp_path / "c")
    with pytest.raises(FileNotFoundError):
        SignalCache.open(tmp_path / "nowhere")


def test_pickles_as_a_reopened_memmap(tmp_path):
    import pickle

    records = [_record(i, f"p{i}", {"y": i % 2}) for i in range(20)]
    cache = build_cache(records, tmp_path / "c", progress=False)
    blob = pickle.dumps(cache)
    assert len(blob) < 10_000  # 20 x 12 x 5000 float32 would be 4.8 MB
    clone = pickle.loads(blob)
    assert isinstance(clone.signals, np.memmap)
    np.testing.assert_array_equal(clone.signals[7], cache.signals[7])


def test_index_remembers_what_canonicalisation_did(tmp_path):
    from ecgdata_builders import ecg_like
    short = Record(signal=ecg_like(seconds=6.0, fs=250.0), fs=250.0, leads=STANDARD_LEADS,
                   record_id="short")
    partial = Record(signal=ecg_like()[[0, 1] + list(range(6, 12))], fs=500.0,
                     leads=("I", "II") + STANDARD_LEADS[6:], record_id="partial")
    long = Record(signal=ecg_like(seconds=30.0), fs=500.0, leads=STANDARD_LEADS, record_id="long")
    cache = build_cache([short, partial, long], tmp_path / "c", min_seconds=5.0, crop="center",
                        derive_limb_leads=True, progress=False)
    index = SignalCache.open(tmp_path / "c").index
    assert list(index["source_fs"]) == [250.0, 500.0, 500.0]
    assert list(index["crop_start_s"]) == [0.0, 0.0, 10.0]
    assert index["padded_fraction"].tolist() == pytest.approx([0.4, 0.0, 0.0])
    assert list(index["derived_leads"]) == ["", "III;aVR;aVL;aVF", ""]
    assert list(cache.index["lead_flags"]) == ["", "", ""]


class _FlakyDataset:
    """A dataset whose item 1 fails with an unexpected (non-RecordError) exception."""

    def __init__(self, records):
        self.records = records

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        if i == 1:
            raise RuntimeError("disk hiccup while reading item 1")
        return self.records[i]


def test_an_unexpected_error_in_one_record_loses_nothing_else(tmp_path):
    records = [_record(i, f"p{i}", {}) for i in range(4)]
    cache = build_cache(_FlakyDataset(records), tmp_path / "c", progress=False)
    assert list(cache.index["record_id"]) == ["r0", "r2", "r3"]
    (problem,) = cache.report()["skipped"]
    assert problem == {"position": 1, "file": None, "reason": "disk hiccup while reading item 1",
                       "error_type": "RuntimeError", "unexpected": True}


def test_a_generator_that_dies_keeps_what_came_before_and_says_so(tmp_path):
    def records():
        yield _record(0, "a", {})
        yield _record(1, "b", {})
        raise OSError("network share went away")
    cache = build_cache(records(), tmp_path / "c", progress=False)
    assert list(cache.index["record_id"]) == ["r0", "r1"]
    (problem,) = cache.report()["skipped"]
    assert problem["aborted"] and problem["error_type"] == "OSError" and problem["position"] == 2


@pytest.mark.parametrize("failure", ["interrupt", "leak"])
def test_an_interrupted_build_leaves_no_half_written_cache(tmp_path, failure):
    out = tmp_path / "c"
    build_cache([_record(0, "a", {})], out, progress=False)  # an older cache at the same place

    def records():
        yield _record(1, "x", {})
        if failure == "interrupt":
            raise KeyboardInterrupt
        yield _record(2, "x", {})
    splits = ["train", "test"] if failure == "leak" else None
    with pytest.raises(KeyboardInterrupt if failure == "interrupt" else PatientLeakError):
        build_cache(records(), out, splits=splits, progress=False)
    with pytest.raises(FileNotFoundError, match="not a signal cache"):
        SignalCache.open(out)  # neither the old cache nor a mix of old and new
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
