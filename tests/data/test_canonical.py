"""canonicalize: lead order by name, derivation, resampling, crop/pad policy, NaN refusal."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from ecgdata_builders import smooth_signal
from ecgimg.data import (STANDARD_LEADS, InvalidSignalError, MissingLeadsError, Record,
                         canonicalize, load_record)


def _record(signal, fs=500.0, leads=STANDARD_LEADS, rid="r"):
    return Record(signal=np.asarray(signal, dtype=np.float32), fs=fs, leads=tuple(leads),
                  record_id=rid)


def test_reorders_by_name_any_case_and_drops_extras():
    sig = smooth_signal()
    order = np.random.default_rng(1).permutation(12)
    names = [STANDARD_LEADS[i].upper() for i in order] + ["vx"]
    shuffled = np.vstack([sig[order], np.ones((1, 5000), np.float32)])
    out = canonicalize(_record(shuffled, leads=names))
    assert out.leads == STANDARD_LEADS and out.signal.dtype == np.float32
    np.testing.assert_array_equal(out.signal, sig)


@pytest.mark.parametrize("fs_in", [100.0, 250.0, 257.0, 360.0, 1000.0])
def test_resampled_length_and_band_limited_content(fs_in):
    seconds = 12.0
    t = np.arange(int(seconds * fs_in)) / fs_in
    tone = np.sin(2 * np.pi * 5.0 * t).astype(np.float32)
    out = canonicalize(_record(np.tile(tone, (12, 1)), fs=fs_in), check_quality=False)
    assert out.signal.shape == (12, 5000) and out.fs == 500.0
    t_out = np.arange(5000) / 500.0
    # the end is clean (extra input is resampled past it); the first samples have no past
    np.testing.assert_allclose(out.signal[0, 10:], np.sin(2 * np.pi * 5.0 * t_out)[10:], atol=0.02)


def test_anti_aliasing_suppresses_tone_above_new_nyquist():
    fs_in = 1000.0
    t = np.arange(10_000) / fs_in
    tone = np.sin(2 * np.pi * 400.0 * t)  # above 250 Hz, would alias to 100 Hz without a filter
    out = canonicalize(_record(np.tile(tone, (12, 1)), fs=fs_in), check_quality=False)
    assert np.abs(out.signal[0, 200:-200]).max() < 0.05


def test_crop_policies_and_padding():
    ramp = np.tile(np.arange(7000, dtype=np.float32) / 1000.0, (12, 1))
    # a ramp is no ECG (flagged not_ecg in every lead): only the crop mechanics are under test
    start = canonicalize(_record(ramp), crop="start", check_quality=False)
    center = canonicalize(_record(ramp), crop="center", check_quality=False)
    assert start.signal[0, 0] == 0.0 and center.signal[0, 0] == pytest.approx(1.0)
    assert center.meta["canonical"]["start_s"] == pytest.approx(2.0)
    short = ramp[:, :3000]
    with pytest.raises(InvalidSignalError, match="shorter than the minimum"):
        canonicalize(_record(short), check_quality=False)
    padded = canonicalize(_record(short), min_seconds=5.0, check_quality=False)
    assert padded.meta["canonical"]["padded_fraction"] == pytest.approx(0.4)
    assert np.all(padded.signal[:, 3000:] == 0) and padded.signal.shape == (12, 5000)
    with pytest.raises(ValueError, match="crop"):
        canonicalize(_record(ramp), crop="end")


def test_nan_and_inf_are_refused_naming_the_lead():
    sig = smooth_signal()
    sig[7, 100] = np.nan
    with pytest.raises(InvalidSignalError, match="V2"):
        canonicalize(_record(sig, rid="nanrec"))
    sig[7, 100] = 0.0
    sig[0, 5] = np.inf
    with pytest.raises(InvalidSignalError, match="infinite"):
        canonicalize(_record(sig))


@pytest.mark.parametrize("keep", [("I", "II"), ("I", "III"), ("II", "III")])
def test_derive_limb_leads_from_any_two(keep):
    sig = smooth_signal()
    kept = [i for i, name in enumerate(STANDARD_LEADS) if name in keep or name.startswith("V")]
    partial = _record(sig[kept], leads=[STANDARD_LEADS[i] for i in kept])
    with pytest.raises(MissingLeadsError, match="derive_limb_leads"):
        canonicalize(partial)
    out = canonicalize(partial, derive_limb_leads=True)
    np.testing.assert_allclose(out.signal, sig, atol=1e-5)
    assert set(out.meta["canonical"]["derived_leads"]) == (
        {"I", "II", "III", "aVR", "aVL", "aVF"} - set(keep))


def test_precordial_leads_are_never_derived():
    sig = smooth_signal()
    with pytest.raises(MissingLeadsError, match="V6"):
        canonicalize(_record(sig[:11], leads=STANDARD_LEADS[:11]), derive_limb_leads=True)


# ------------------------------------------------------------------------------ real data


def test_all_ptbxl_records_canonicalise_and_obey_einthoven(ptbxl_root):
    worst = {}
    for rate, pattern, expected in (("500", "records500/*/*.hea", 500),
                                    ("100", "records100/*/*.hea", 1999)):
        files = sorted(ptbxl_root.glob(pattern))
        assert len(files) == expected
        errors = []
        for hea in files:
            out = canonicalize(load_record(hea))
            assert out.signal.shape == (12, 5000) and out.leads == STANDARD_LEADS
            errors.append(np.abs(out.signal[1] - out.signal[0] - out.signal[2]).max())
        worst[rate] = max(errors)
    # PTB-XL stores each lead at 1 uV resolution, so the law holds to rounding (<= 0.01 mV)
    assert worst["500"] <= 0.01 and worst["100"] <= 0.01, worst


def test_s0010_re_15_leads_1000hz(shared_data):
    raw = load_record(shared_data / "misc" / "s0010_re")
    out = canonicalize(raw, crop="center")
    assert out.signal.shape == (12, 5000) and out.leads == STANDARD_LEADS
    start = int(round(out.meta["canonical"]["start_s"] * 1000))
    for i, name in enumerate(STANDARD_LEADS):
        j = [n.lower() for n in raw.leads].index(name.lower())
        expected = resample_poly(raw.signal[j, start:start + 10_000].astype(np.float64), 1, 2)
        # edges differ only by the padding policy; the interior must match sample for sample
        np.testing.assert_allclose(out.signal[i, 100:-100], expected[100:-100], atol=1e-4,
                                   err_msg=name)
    # and the rows really are different leads (a wrong order would not match the line above)
    assert not np.allclose(out.signal[6], out.signal[7], atol=0.01)


def test_sel100_two_leads_gets_a_clear_error(shared_data):
    with pytest.raises(MissingLeadsError) as info:
        canonicalize(load_record(shared_data / "misc" / "sel100"), derive_limb_leads=True)
    message = str(info.value)
    assert "sel100" in message and "MLII" in message and "V1" in message


@pytest.mark.parametrize("fs", [0, -500.0, float("nan"), float("inf"), "fast", None])
def test_in_memory_record_with_a_bad_rate_is_refused_naming_it(fs):
    record = _record(smooth_signal(), fs=500.0, rid="mem")
    record.fs = fs
    record.meta["path"] = "/data/mem.hea"
    with pytest.raises(InvalidSignalError, match=r"/data/mem.hea: sampling rate .* Hz is not"):
        canonicalize(record)


def test_non_numeric_signals_and_bad_arguments():
    with pytest.raises(InvalidSignalError, match="real numbers"):
        canonicalize(_record(smooth_signal()).with_signal(np.ones((12, 5000), np.complex64)))
    with pytest.raises(ValueError, match="positive"):
        canonicalize(_record(smooth_signal()), fs=0)
