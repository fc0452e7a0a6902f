"""Lead quality flags: flat, railed, implausible amplitude, not an ECG; and the record policy."""
from __future__ import annotations

import numpy as np
import pytest

from ecgdata_builders import ecg_like, write_wfdb
from ecgimg.data import (STANDARD_LEADS, InvalidSignalError, Record, SignalDataset, build_cache,
                         canonicalize, load_record)
from ecgimg.data.folder import record_paths
from ecgimg.data.quality import flags_from_text, flags_to_text, lead_flags


def _flags_of(one_lead: np.ndarray, fs: float = 500.0) -> list[str]:
    return lead_flags(one_lead[None, :], fs, ["X"]).get("X", [])


def test_each_flag_on_a_lead_built_to_have_it():
    ecg = ecg_like()[1]
    t = np.arange(5000) / 500.0
    rng = np.random.default_rng(0)
    assert _flags_of(ecg) == []
    assert _flags_of(np.zeros(5000)) == ["flat"]
    assert _flags_of(ecg * 1e-3) == ["flat"]  # volts read as millivolts
    assert _flags_of(ecg * 1000) == ["amplitude"]  # microvolts read as millivolts
    assert _flags_of(ecg + 50.0) == ["amplitude"]  # a 50 mV baseline
    assert _flags_of(np.sin(2 * np.pi * 1.3 * t)) == ["not_ecg"]
    assert _flags_of(np.sin(2 * np.pi * 10.0 * t) + 0.01 * rng.standard_normal(5000)) == ["not_ecg"]
    assert _flags_of(rng.standard_normal(5000) * 0.3) == ["not_ecg"]  # white noise
    saturated = ecg.copy()
    saturated[1000:4000] = saturated.max()  # stuck at the rail for 6 s
    assert _flags_of(saturated) == ["railed"]
    clipped = np.clip(ecg * 8, None, 2.0)  # every R wave cut flat at 2 mV
    assert _flags_of(clipped) == ["railed"]
    twelve_bit = np.clip(ecg * 12, None, 2047 / 400)  # R waves at a 12-bit ADC's limit (400/mV)
    assert _flags_of(np.round(twelve_bit * 400) / 400) == ["railed"]


def test_smooth_peaks_that_round_to_one_level_are_not_railing():
    t = np.arange(5000) / 500.0
    t_wave_lead = np.zeros_like(t)  # the broad T wave is the tallest: at 5 uV steps (200/mV)
    for onset in np.arange(0.3, 10, 0.857):  # its top rounds to one level for ~20 ms per beat
        t_wave_lead += 0.5 * np.exp(-((t - onset - 0.28) / 0.05) ** 2)
        t_wave_lead += 0.2 * np.exp(-((t - onset) / 0.012) ** 2)
    assert _flags_of(np.round(t_wave_lead * 200) / 200) == []
    sine = np.round(np.sin(2 * np.pi * 1.3 * t) * 200) / 200
    assert _flags_of(sine) == ["not_ecg"]  # not an ECG, but not railed either


def test_flags_at_100_hz_and_short_records():
    assert _flags_of(ecg_like(fs=100.0)[1], fs=100.0) == []
    assert _flags_of(ecg_like(seconds=1.5)[1]) == []  # too short for spectral tests: no guess
    assert _flags_of(np.zeros(750)) == ["flat"]


def test_flag_text_round_trip():
    flags = {"V3": ["flat"], "V4": ["railed", "amplitude"]}
    assert flags_to_text(flags) == "V3:flat;V4:railed,amplitude"
    assert flags_from_text(flags_to_text(flags)) == flags and flags_from_text("") == {}


def _write_with(tmp_path, name, edit):
    sig = ecg_like(seed=3)
    edit(sig)
    return write_wfdb(tmp_path, name, sig, gain=200.0)  # 16-bit at 200/mV: room for 100 mV


def test_flagged_leads_are_kept_and_named_a_record_with_none_usable_is_refused(tmp_path):
    flat = _write_with(tmp_path, "flat_v3", lambda s: s.__setitem__(8, 0.0))
    record = load_record(flat)
    assert record.meta["lead_flags"] == {"V3": ["flat"]} and record.signal.shape == (12, 5000)
    assert canonicalize(record).meta["lead_flags"] == {"V3": ["flat"]}
    dead = _write_with(tmp_path, "dead", lambda s: s.__setitem__(slice(None), 0.0))
    with pytest.raises(InvalidSignalError, match=r"dead\.hea: no usable lead: I flat, II flat"):
        load_record(dead)
    t = np.arange(5000) / 500.0
    sine = _write_with(tmp_path, "sine", lambda s: s.__setitem__(slice(None),
                                                                   np.sin(2 * np.pi * 1.3 * t)))
    with pytest.raises(InvalidSignalError, match="sine.hea: no usable lead: I not_ecg"):
        load_record(sine)


def test_canonical_window_and_derived_leads_carry_the_flags():
    sig = ecg_like(seconds=30.0)
    sig[:, 10_000:] = 0.0  # every lead goes dead after 20 s
    record = Record(signal=sig, fs=500.0, leads=STANDARD_LEADS, record_id="late")
    assert canonicalize(record).meta["lead_flags"] == {}  # the first 10 s are fine
    tail = Record(signal=sig[:, 10_000:], fs=500.0, leads=STANDARD_LEADS, record_id="tail")
    with pytest.raises(InvalidSignalError, match="tail: no usable lead in the canonical window"):
        canonicalize(tail)
    limb = ecg_like()
    limb[0] = 0.0  # lead I flat; III and the augmented leads are derived from I and II
    keep = [1] + list(range(6, 12))
    partial = Record(signal=limb[[0] + keep], fs=500.0,
                     leads=("I", "II") + STANDARD_LEADS[6:], record_id="p")
    out = canonicalize(partial, derive_limb_leads=True)
    assert out.meta["canonical"]["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    assert set(out.meta["lead_flags"]) == {"I", "III", "aVR", "aVL", "aVF"}
    assert out.meta["lead_flags"]["aVF"] == ["flat"]


def test_cache_index_keeps_flags_and_datasets_filter_on_them(tmp_path):
    good = [write_wfdb(tmp_path, f"good{i}", ecg_like(seed=i)) for i in range(3)]
    flat = _write_with(tmp_path, "flat_v3", lambda s: s.__setitem__(8, 0.0))
    big = _write_with(tmp_path, "big_v5", lambda s: s.__setitem__(10, s[10] * 40))
    records = [good[0], flat, good[1], big, good[2]]
    cache = build_cache(records, tmp_path / "c", splits=["train"] * 5, progress=False)
    assert list(cache.index["lead_flags"]) == ["", "V3:flat", "", "V5:amplitude", ""]
    assert cache.lead_flags(1) == {"V3": ["flat"]} and list(cache.flagged_indices()) == [1, 3]
    report = cache.report()
    assert report["n_skipped"] == 0 and report["n_with_warnings"] == 2
    assert report["warnings"][0]["warnings"] == ["lead V3 flat"]
    assert report["warnings"][0]["file"].endswith("flat_v3.hea")
    assert len(SignalDataset(cache)) == 5
    assert list(SignalDataset(cache, exclude_flagged=True).rows) == [0, 2, 4]
    assert list(cache.split_indices("train", exclude_flagged=True)) == [0, 2, 4]


def test_real_data_flags_only_the_dead_ningbo_leads(shared_data):
    """The thresholds on real records: of CinC-2021, CPSC-2018, misc and 300 PTB-XL records only
    the 2 Ningbo records with three all-zero precordial leads are flagged (every real record:
    benchmarks/lead_quality.py)."""
    flagged = {}
    for folder in ("ptbxl/records500", "ptbxl/records100", "cinc2021", "cpsc2018", "misc"):
        for base in record_paths(shared_data / folder)[:150]:
            flags = load_record(base).meta["lead_flags"]
            if flags:
                flagged[base.name] = flags
    assert flagged == {name: {"V2": ["flat"], "V4": ["flat"], "V6": ["flat"]}
                       for name in ("JS20004", "JS20008")}
