"""Header fields wfdb would silently default are refused (or warned about), naming file and lead."""
from __future__ import annotations

import numpy as np
import pytest

from ecgdata_builders import ecg_like, edit_header, set_token, write_wfdb
from ecgimg.data import InvalidHeaderError, UnreadableRecordError, build_cache, load_record
from ecgimg.data.wfdb_header import MAX_RECORD_SAMPLES, check_header


@pytest.mark.parametrize("fs_token, words", [("0", "not a positive number"),
                                             ("-500", "not a positive number"),
                                             ("nan", "not a positive number"),
                                             ("fast", "not a number"),
                                             ("10000000", "outside the plausible"),
                                             ("0.5", "outside the plausible")])
def test_sampling_rate_lies_are_refused(tmp_path, fs_token, words):
    base = edit_header(write_wfdb(tmp_path, "r", ecg_like()), set_token(0, 2, fs_token))
    with pytest.raises(InvalidHeaderError, match=words) as info:
        load_record(base)
    assert info.value.field == "fs" and info.value.path == str(tmp_path / "r.hea")
    assert "r.hea" in str(info.value)


def test_absent_sampling_rate_would_be_250_hz_in_wfdb(tmp_path):
    base = edit_header(write_wfdb(tmp_path, "r", ecg_like()),
                       lambda lines: [" ".join(lines[0].split()[:2])] + lines[1:])
    import wfdb
    assert wfdb.rdheader(str(base)).fs == 250  # what wfdb would have used
    with pytest.raises(InvalidHeaderError, match="no sampling frequency.*250 Hz"):
        load_record(base)


@pytest.mark.parametrize("gain_field, words", [("0(0)/mV", "ADC gain 0: uncalibrated"),
                                               ("0", "ADC gain 0: uncalibrated"),
                                               ("-1000(0)/mV", "must be a positive number")])
def test_lead_with_gain_0_is_refused_naming_the_lead(tmp_path, gain_field, words):
    sig = ecg_like()
    base = edit_header(write_wfdb(tmp_path, "g", sig), set_token(5, 2, gain_field))  # aVL
    import wfdb
    if gain_field.startswith("0"):  # the lie the check exists for: wfdb reads the lead 5x too big
        raw = wfdb.rdrecord(str(base))
        assert raw.adc_gain[4] == 200.0
        np.testing.assert_allclose(raw.p_signal[:, 4], sig[4] * 5, atol=0.01)
    with pytest.raises(InvalidHeaderError, match=words) as info:
        load_record(base)
    assert info.value.lead == "aVL" and info.value.field == "adc_gain"
    assert "g.hea" in str(info.value) and "aVL" in str(info.value)


def test_signal_count_must_match_the_signal_lines(tmp_path):
    base = edit_header(write_wfdb(tmp_path, "n", ecg_like()),
                       lambda lines: lines[:12] + lines[13:])  # drop V6's signal line
    with pytest.raises(InvalidHeaderError, match="declares 12 signals, the header has 11"):
        load_record(base)


def test_lead_without_a_name_is_refused(tmp_path):
    def drop_name(lines):
        lines[3] = " ".join(lines[3].split()[:-1])
        return lines
    base = edit_header(write_wfdb(tmp_path, "u", ecg_like()), drop_name)
    with pytest.raises(InvalidHeaderError, match="signal 3 has no lead name"):
        load_record(base)


def test_missing_units_and_baseline_and_absurd_resolution_are_warnings(tmp_path):
    def loosen(lines):
        lines[1] = lines[1].replace("1000.0(0)/mV", "1000.0")  # lead I: no units, no baseline
        parts = lines[2].split()
        parts[3], parts[4] = "99", "0"  # lead II: 99-bit ADC in a 16-bit format
        lines[2] = " ".join(parts)
        return lines
    base = edit_header(write_wfdb(tmp_path, "w", ecg_like()), loosen)
    record = load_record(base)  # WFDB defines these defaults: kept, but said out loud
    warnings = " | ".join(record.meta["header_warnings"])
    assert "lead I: no units in the header, mV assumed" in warnings
    assert "lead II: ADC resolution 99 bits exceeds format 16's 16 bits" in warnings


def test_absurd_length_is_refused_before_reading(tmp_path):
    too_many = MAX_RECORD_SAMPLES // 12 + 1
    base = edit_header(write_wfdb(tmp_path, "l", ecg_like()), set_token(0, 3, str(too_many)))
    with pytest.raises(UnreadableRecordError, match="over the .*-sample limit"):
        load_record(base)


def test_multi_segment_segments_are_checked(tmp_path):
    for name in ("s1", "s2"):
        write_wfdb(tmp_path, name, ecg_like(seconds=5.0))
    (tmp_path / "multi.hea").write_text("multi/2 12 500 5000\ns1 2500\ns2 2500\n")
    record = load_record(tmp_path / "multi")
    assert record.signal.shape == (12, 5000)
    edit_header(tmp_path / "s2", set_token(3, 2, "0(0)/mV"))
    with pytest.raises(InvalidHeaderError, match="s2.hea.*lead III has ADC gain 0"):
        load_record(tmp_path / "multi")


def test_a_batch_with_lying_headers_keeps_every_good_record(tmp_path):
    good = [write_wfdb(tmp_path, f"good{i}", ecg_like(seed=i)) for i in range(3)]
    fs0 = edit_header(write_wfdb(tmp_path, "fs0", ecg_like()), set_token(0, 2, "0"))
    gain0 = edit_header(write_wfdb(tmp_path, "gain0", ecg_like()), set_token(9, 2, "0(0)/mV"))  # V3
    cache = build_cache([good[0], fs0, good[1], gain0, good[2]], tmp_path / "c", progress=False)
    assert list(cache.index["record_id"]) == ["good0", "good1", "good2"]
    for row, i in enumerate(range(3)):
        np.testing.assert_allclose(cache.signals[row], ecg_like(seed=i), atol=1e-3)
    skipped = {entry["file"].rsplit("/", 1)[-1]: entry for entry in cache.report()["skipped"]}
    assert skipped["fs0.hea"]["error_type"] == "InvalidHeaderError"
    assert "sampling frequency" in skipped["fs0.hea"]["reason"]
    assert skipped["gain0.hea"]["error_type"] == "InvalidHeaderError"
    assert "lead V3 has ADC gain 0" in skipped["gain0.hea"]["reason"]


def test_real_headers_pass_with_their_warnings(shared_data):
    facts = check_header(shared_data / "misc" / "s0010_re.hea")  # PTB Diagnostic: no units
    assert facts.fs == 1000 and facts.n_sig == 15 and len(facts.leads) == 15
    assert all("mV assumed" in warning for warning in facts.warnings)
    for hea in sorted((shared_data / "ptbxl" / "records500").rglob("*.hea"))[:20]:
        assert check_header(hea).warnings == []


def test_header_comments_in_another_encoding_are_read_as_wfdb_reads_them(tmp_path):
    base = write_wfdb(tmp_path, "enc", ecg_like(), comments=("Age: 60", "Sex: Female"))
    hea = tmp_path / "enc.hea"
    hea.write_bytes(hea.read_bytes() + "# Befund: Sinusrhythmus, Ödem\n".encode("latin-1"))
    assert load_record(base).meta["age"] == 60


def test_a_rate_wfdb_would_misread_is_refused(tmp_path):
    base = edit_header(write_wfdb(tmp_path, "e", ecg_like()), set_token(0, 2, "5e2"))
    with pytest.raises(InvalidHeaderError, match="wfdb reads as 5 Hz, not 500 Hz"):
        load_record(base)
