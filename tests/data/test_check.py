"""`ecgimg data check`: prints bad records, exit status tells whether any is bad."""
from __future__ import annotations

import json

import numpy as np

from ecgdata_builders import smooth_signal, write_wfdb
from ecgimg.data.check import main
from ecgimg.data.folder import record_paths


def test_check_ok_bad_and_json(tmp_path, capsys):
    write_wfdb(tmp_path, "ok", smooth_signal())
    assert main([str(tmp_path)]) == 0
    assert "1 records: 1 ok, 0 bad" in capsys.readouterr().out
    sig = smooth_signal(seed=1)
    sig[0, 0] = np.inf
    sub = tmp_path / "nested" / "deeper"
    sub.mkdir(parents=True)
    np.savez(sub / "inf.npz", signal=sig, fs=500.0, leads=np.array([f"L{i}" for i in range(12)]))
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "BAD" in out and "inf.npz" in out and "InvalidSignalError" in out
    assert main([str(tmp_path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["n_records"] == 2 and report["n_bad"] == 1


def test_check_empty_folder_fails(tmp_path, capsys):
    assert main([str(tmp_path)]) == 1


def test_record_paths_pairs_hea_with_mat(shared_data):
    paths = record_paths(shared_data / "misc")
    assert [p.name for p in paths] == ["JS00001", "s0010_re", "sel100"]


def test_check_on_shared_folders(shared_data, capsys):
    assert main([str(shared_data / "cinc2021")]) == 0
    assert main([str(shared_data / "misc")]) == 1
    out = capsys.readouterr().out
    assert "sel100" in out and "MissingLeadsError" in out and "3 records: 2 ok, 1 bad" in out


def test_a_record_named_without_its_extension(tmp_path, capsys):
    from ecgdata_builders import ecg_like
    base = write_wfdb(tmp_path, "rec", ecg_like())
    for given in (base, f"{base}.hea", f"{base}.dat"):
        assert main([str(given)]) == 0
        assert "1 records: 1 ok, 0 bad" in capsys.readouterr().out


def test_missing_path_and_lying_header_are_one_line_each(tmp_path, capsys):
    from ecgdata_builders import ecg_like, edit_header, set_token
    assert main([str(tmp_path / "nothing")]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == f"ecgimg data check: {tmp_path / 'nothing'}: no such file or folder"
    write_wfdb(tmp_path, "good", ecg_like())
    edit_header(write_wfdb(tmp_path, "fs0", ecg_like()), set_token(0, 2, "0"))
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"BAD  {tmp_path / 'fs0.hea'}: InvalidHeaderError: sampling frequency '0' Hz "
                   "is not a positive number",
                   "2 records: 1 ok, 1 bad (1 InvalidHeaderError)"]


def test_flagged_leads_are_warnings_and_strict_fails_on_them(tmp_path, capsys):
    from ecgdata_builders import ecg_like
    sig = ecg_like()
    sig[8] = 0.0
    write_wfdb(tmp_path, "flat", sig)
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"WARN {tmp_path / 'flat.hea'}: lead V3 flat",
                   "1 records: 1 ok, 0 bad; 1 with warnings"]
    assert main([str(tmp_path), "--strict"]) == 1


def test_bad_options_are_usage_errors(tmp_path, capsys):
    import pytest
    with pytest.raises(SystemExit) as info:
        main([str(tmp_path), "--fs", "0"])
    assert info.value.code == 2 and "must be a positive number" in capsys.readouterr().err
