"""load_record: real formats from ../shared/data and every bad-file path in tmp_path."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ecgdata_builders import smooth_signal, write_wfdb
from ecgimg.data import (STANDARD_LEADS, InvalidSignalError, RecordError, UnreadableRecordError,
                         load_record, parse_header_comments)


def test_wfdb_round_trip_with_and_without_extension(tmp_path):
    sig = smooth_signal()
    base = write_wfdb(tmp_path, "rec1", sig)
    for given in (base, f"{base}.hea", f"{base}.dat"):
        rec = load_record(given)
        assert rec.signal.dtype == np.float32 and rec.signal.shape == (12, 5000)
        assert rec.leads == STANDARD_LEADS and rec.fs == 500.0 and rec.record_id == "rec1"
        np.testing.assert_allclose(rec.signal, sig, atol=1e-3)  # 16-bit at 1000/mV
    assert rec.meta["age"] == 60 and rec.meta["sex"] == "F" and rec.meta["dx"] == ["426783006"]


def test_microvolt_units_are_converted(tmp_path):
    sig = smooth_signal(n_leads=2)
    import wfdb
    wfdb.wrsamp("uv", fs=500, units=["uV", "uV"], sig_name=["I", "II"], p_signal=sig.T * 1000.0,
                fmt=["16", "16"], adc_gain=[1.0, 1.0], baseline=[0, 0], write_dir=str(tmp_path))
    rec = load_record(tmp_path / "uv")
    np.testing.assert_allclose(rec.signal, sig, atol=1e-3)


def test_header_comment_conventions():
    cinc = parse_header_comments(["Age: 85", "Sex: Male", "Dx: 164889003,59118001", "Rx: Unknown"])
    assert cinc["age"] == 85 and cinc["sex"] == "M" and cinc["dx"] == ["164889003", "59118001"]
    ptb = parse_header_comments(["age: 81", "sex: female", "ECG date: 01/10/1990"])
    assert ptb["age"] == 81 and ptb["sex"] == "F" and ptb["header"]["ecg date"] == "01/10/1990"
    mit = parse_header_comments(["69 M 1085 1629 x1", "Aldomet, Inderal"])
    assert mit["age"] == 69 and mit["sex"] == "M" and mit["dx"] == []


def test_npz_and_npy_conventions(tmp_path):
    sig = smooth_signal()
    np.savez(tmp_path / "a.npz", signal=sig, fs=500.0, leads=np.array(STANDARD_LEADS),
             patient_id="p7")
    rec = load_record(tmp_path / "a")
    assert rec.patient_id == "p7" and rec.leads == STANDARD_LEADS
    np.testing.assert_array_equal(rec.signal, sig)
    np.save(tmp_path / "b.npy", sig.T)  # (n_samples, n_leads) is accepted and transposed
    with pytest.raises(UnreadableRecordError, match="needs fs and leads"):
        load_record(tmp_path / "b.npy")
    upper_case = [name.upper() for name in STANDARD_LEADS]
    (tmp_path / "b.json").write_text(json.dumps({"fs": 250, "leads": upper_case}))
    rec = load_record(tmp_path / "b.npy")
    assert rec.fs == 250 and rec.leads == STANDARD_LEADS and rec.signal.shape == (12, 5000)
    np.save(tmp_path / "c.npy", sig)
    assert load_record(tmp_path / "c.npy", fs=500, leads=STANDARD_LEADS).signal.shape == (12, 5000)
    np.savez(tmp_path / "d.npz", signal=sig)
    with pytest.raises(UnreadableRecordError, match="lacks key"):
        load_record(tmp_path / "d.npz")


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(UnreadableRecordError, match="no such record"):
        load_record(tmp_path / "nothing")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(UnreadableRecordError, match="unknown record format"):
        load_record(tmp_path / "x.txt")


def test_truncated_dat_is_refused(tmp_path):
    base = write_wfdb(tmp_path, "trunc", smooth_signal())
    dat = tmp_path / "trunc.dat"
    for keep in (50_001, 24 * 1000):  # mid-frame and frame-aligned truncation
        data = (tmp_path / "full.bin")
        if not data.exists():
            data.write_bytes(dat.read_bytes())
        dat.write_bytes(data.read_bytes()[:keep])
        with pytest.raises(UnreadableRecordError) as info:
            load_record(base)
        assert "trunc" in str(info.value)


def test_missing_signal_file_is_named(tmp_path):
    base = write_wfdb(tmp_path, "nodat", smooth_signal())
    (tmp_path / "nodat.dat").unlink()
    with pytest.raises(UnreadableRecordError, match="nodat.dat"):
        load_record(base)


def test_header_data_checksum_mismatch(tmp_path):
    base = write_wfdb(tmp_path, "tamper", smooth_signal())
    raw = bytearray((tmp_path / "tamper.dat").read_bytes())
    raw[1000] ^= 0x5A  # same length, different content: only the checksum can tell
    (tmp_path / "tamper.dat").write_bytes(bytes(raw))
    with pytest.raises(UnreadableRecordError, match="checksum mismatch"):
        load_record(base)


def test_header_declaring_more_leads_than_data(tmp_path):
    base = write_wfdb(tmp_path, "hdr", smooth_signal())
    hea = tmp_path / "hdr.hea"
    lines = hea.read_text().splitlines()
    first = lines[0].split()
    first[1] = "13"
    lines[0] = " ".join(first)
    lines.insert(13, lines[12].replace(" V6", " V7"))
    hea.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError):
        load_record(base)


def test_garbage_bytes(tmp_path):
    (tmp_path / "junk.hea").write_bytes(b"\x00\xff\xfe garbage \x01\x02")
    with pytest.raises(UnreadableRecordError, match="junk"):
        load_record(tmp_path / "junk")
    (tmp_path / "junk2.mat").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(UnreadableRecordError, match="junk2"):
        load_record(tmp_path / "junk2.mat")


def test_unknown_unit_is_refused(tmp_path):
    base = write_wfdb(tmp_path, "unit", smooth_signal(n_leads=2), leads=("I", "II"))
    hea = tmp_path / "unit.hea"
    hea.write_text(hea.read_text().replace("/mV", "/mmHg"))
    with pytest.raises(InvalidSignalError, match="mmHg"):
        load_record(base)


# ------------------------------------------------------------------------------ real data


def test_cinc2021_headers_carry_age_sex_dx(shared_data):
    records = [load_record(p) for p in sorted((shared_data / "cinc2021").glob("*.hea"))]
    assert len(records) == 50
    for rec in records:
        assert rec.signal.shape[0] == 12 and rec.fs == 500 and rec.leads == STANDARD_LEADS
        assert rec.meta["dx"] and all(code.isdigit() for code in rec.meta["dx"])
        assert rec.meta["sex"] in ("M", "F")
    first = load_record(shared_data / "cinc2021" / "E07500")
    assert (first.meta["age"], first.meta["sex"]) == (78, "M")
    assert first.meta["dx"] == ["67741000119109", "426177001"]


def test_cpsc2018_struct(shared_data):
    records = [load_record(p) for p in sorted((shared_data / "cpsc2018").glob("*.mat"))]
    assert len(records) == 10
    for rec in records:
        assert rec.fs == 500 and rec.leads == STANDARD_LEADS and rec.signal.shape[1] >= 5000
        assert rec.meta["sex"] in ("M", "F") and isinstance(rec.meta["age"], int)
        # the struct's lead order is the standard one: Einthoven holds on the raw data (mV)
        assert np.abs(rec.signal[1] - rec.signal[0] - rec.signal[2]).max() < 0.01
    assert (records[0].meta["age"], records[0].meta["sex"]) == (52, "M")


def test_misc_records(shared_data):
    ptb = load_record(shared_data / "misc" / "s0010_re")
    assert ptb.signal.shape == (15, 38400) and ptb.fs == 1000
    assert ptb.leads[:6] == STANDARD_LEADS[:6] and ptb.leads[-3:] == ("vx", "vy", "vz")
    assert (ptb.meta["age"], ptb.meta["sex"]) == (81, "F")
    qt = load_record(shared_data / "misc" / "sel100")
    assert qt.leads == ("MLII", "V5") and qt.fs == 250
    js = load_record(shared_data / "misc" / "JS00001.mat")
    assert js.meta["dx"] == ["164889003", "59118001", "164934002"]


def test_nan_in_file_is_refused_unless_allowed(tmp_path):
    sig = smooth_signal()
    sig[4, 50] = np.nan
    np.savez(tmp_path / "n.npz", signal=sig, fs=500.0, leads=np.array(STANDARD_LEADS))
    with pytest.raises(InvalidSignalError, match=r"n\.npz.*aVL"):
        load_record(tmp_path / "n.npz")
    assert np.isnan(load_record(tmp_path / "n.npz", allow_nonfinite=True).signal).sum() == 1


def test_wfdb_invalid_sample_marker_becomes_an_error(tmp_path):
    base = write_wfdb(tmp_path, "gap", smooth_signal())
    raw = np.fromfile(tmp_path / "gap.dat", dtype="<i2").reshape(-1, 12)
    raw[100, 2] = -32768  # WFDB's "no sample" value for format 16
    raw.tofile(tmp_path / "gap.dat")
    hea = tmp_path / "gap.hea"  # keep the checksum honest so only the NaN check can fire
    lines = hea.read_text().splitlines()
    fields = lines[3].split()
    fields[6] = str(int(raw[:, 2].astype(np.int64).sum()) % 65536)
    lines[3] = " ".join(fields)
    hea.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidSignalError, match="NaN or infinite samples in lead.s. III"):
        load_record(base)


# ------------------------------------------------------------------ bad input of every format


def test_non_voltage_channels_are_dropped_and_standard_leads_in_them_refused(tmp_path):
    import wfdb

    from ecgdata_builders import ecg_like
    t = np.arange(5000) / 500.0
    abp = 80 + 20 * np.sin(2 * np.pi * 1.2 * t)
    sig = np.vstack([ecg_like(), abp[None]])
    wfdb.wrsamp("abp", fs=500, units=["mV"] * 12 + ["mmHg"], sig_name=list(STANDARD_LEADS) + ["ABP"],
                p_signal=sig.T, fmt=["16"] * 13, adc_gain=[200.0] * 13, baseline=[0] * 13,
                write_dir=str(tmp_path))
    record = load_record(tmp_path / "abp")
    assert record.leads == STANDARD_LEADS and record.meta["dropped_channels"] == ["ABP (mmHg)"]
    hea = tmp_path / "abp.hea"
    hea.write_text(hea.read_text().replace("200.0(0)/mV 16 0", "200.0(0)/mmHg 16 0", 1))
    with pytest.raises(InvalidSignalError, match="abp.hea: lead I has unit 'mmHg'") as info:
        load_record(tmp_path / "abp")
    assert info.value.lead == "I"


def test_duplicate_lead_names_are_refused_naming_the_lead(tmp_path):
    from ecgdata_builders import ecg_like, edit_header
    base = edit_header(write_wfdb(tmp_path, "dup", ecg_like()),
                       lambda lines: lines[:2] + [lines[2].rsplit(" ", 1)[0] + " i"] + lines[3:])
    with pytest.raises(InvalidSignalError, match=r"dup\.hea: lead I appears twice \(signals 1 and 2"):
        load_record(base)


_NPZ_CASES = {
    "fs 0": ({"fs": 0.0}, "InvalidHeaderError", "sampling frequency"),
    "fs NaN": ({"fs": np.nan}, "InvalidHeaderError", "sampling frequency"),
    "fs text": ({"fs": "abc"}, "InvalidHeaderError", "not a number"),
    "fs array": ({"fs": np.array([500.0, 250.0])}, "InvalidHeaderError", "shape"),
    "fs absurd": ({"fs": 1e7}, "InvalidHeaderError", "outside the plausible"),
    "3-D signal": ({"signal": np.zeros((1, 12, 5000))}, "InvalidSignalError", "2-D"),
    "complex signal": ({"signal": np.ones((12, 5000), np.complex64)}, "InvalidSignalError",
                       "real numbers"),
    "bool signal": ({"signal": np.ones((12, 5000), bool)}, "InvalidSignalError", "real numbers"),
    "text signal": ({"signal": np.full((12, 5000), "a")}, "InvalidSignalError", "real numbers"),
    "no samples": ({"signal": np.zeros((12, 0))}, "InvalidSignalError", "no samples"),
    "leads 2-D": ({"leads": np.array(STANDARD_LEADS).reshape(3, 4)}, "UnreadableRecordError",
                  "1-D list of names"),
    "leads numbers": ({"leads": np.arange(12)}, "UnreadableRecordError", "1-D list of names"),
    "units unknown": ({"units": "furlongs"}, "InvalidSignalError", "furlongs"),
    "units array": ({"units": np.array(["mV", "mV"])}, "InvalidSignalError", "unit"),
    "record_id array": ({"record_id": np.array(["a", "b"])}, "UnreadableRecordError",
                        "single value"),
}


@pytest.mark.parametrize("case", sorted(_NPZ_CASES))
def test_bad_npz_content_gets_a_typed_error_naming_the_file(tmp_path, case):
    from ecgdata_builders import ecg_like
    changes, error_type, words = _NPZ_CASES[case]
    arrays = {"signal": ecg_like(), "fs": 500.0, "leads": np.array(STANDARD_LEADS), **changes}
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(RecordError, match=words) as info:
        load_record(tmp_path / "bad.npz")
    assert type(info.value).__name__ == error_type and "bad.npz" in str(info.value)


@pytest.mark.parametrize("sidecar, words", [('[1, 2]', "must be an object"),
                                            ('{"fs": "fast", "leads": ["I"]}', "not a number"),
                                            ('{"fs": 500, "leads": "II"}', "list of names"),
                                            ('{"fs": 0, "leads": ["I"]}', "positive"),
                                            ('{not json', "unreadable sidecar")])
def test_bad_npy_sidecars(tmp_path, sidecar, words):
    from ecgdata_builders import ecg_like
    np.save(tmp_path / "x.npy", ecg_like(n_leads=1))
    (tmp_path / "x.json").write_text(sidecar)
    with pytest.raises(RecordError, match=words) as info:
        load_record(tmp_path / "x.npy")
    assert "x.npy" in str(info.value) or "x.json" in str(info.value)


def test_cpsc_struct_with_complex_or_text_data_is_refused(tmp_path):
    import scipy.io
    for name, data in (("cplx", np.ones((12, 5000), np.complex128)), ("txt", "hello")):
        scipy.io.savemat(tmp_path / f"{name}.mat", {"ECG": {"sex": "Male", "age": 50.0,
                                                            "data": data}})
        with pytest.raises(RecordError, match=f"{name}.mat"):
            load_record(tmp_path / f"{name}.mat")


def test_holter_and_long_records(tmp_path, shared_data):
    from ecgdata_builders import ecg_like
    from ecgimg.data import MissingLeadsError, canonicalize
    holter = load_record(shared_data / "misc" / "sel100")  # 2 leads, 15 min: read, not invented
    assert holter.signal.shape == (2, 225_000) and holter.meta["lead_flags"] == {}
    with pytest.raises(MissingLeadsError, match="sel100.hea: missing lead"):
        canonicalize(holter)
    long = write_wfdb(tmp_path, "long", np.tile(ecg_like(seconds=10.0), (1, 12)))  # 2 min
    assert canonicalize(load_record(long), crop="center").meta["canonical"]["start_s"] == 55.0
