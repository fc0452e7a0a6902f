"""WebDataset shards: identical bytes on every run, restarts keep finished tars and redo damaged ones."""
from __future__ import annotations

import json
import tarfile

import pytest

from ecgimg.data import shards
from ecgimg.pages import write
from page_builders import render_shards, small_cache


def folder_bytes(root):
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return small_cache(tmp_path_factory.mktemp("shards"))


def test_two_runs_write_byte_identical_shards(cache, tmp_path):
    a = folder_bytes(render_shards(cache, tmp_path / "a", jobs=2))
    b = folder_bytes(render_shards(cache, tmp_path / "b", jobs=2, workers=2))
    assert a == b
    assert sorted(n for n in a if n.endswith(".tar")) == [  # per job: 3 patients x 2 ECGs, 4 records a tar
        "pages-00000of00002-0000.tar", "pages-00000of00002-0001.tar",
        "pages-00001of00002-0000.tar", "pages-00001of00002-0001.tar"]


def test_members_follow_webdataset_layout_and_index_offsets(cache, tmp_path):
    out = render_shards(cache, tmp_path / "s", extra=("--export", "coco,yolo,mask"))
    summary, samples = shards.open_shards(out)
    assert summary["n_samples"] == 24 == len(samples)  # 12 ECGs x 2 views
    for tar_path in sorted(out.glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
            assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members)
            by_name = {m.name: tar.extractfile(m).read() for m in members}
        keys = [m.name.split(".", 1)[0] for m in members]
        assert keys == sorted(keys, key=keys.index)  # a sample's members are consecutive
        for sample in (s for s in samples if s.tar == tar_path):
            assert set(sample.entry["members"]) == {"png", "json", "meta.json", "coco.json", "txt", "mask.png"}
            for ext in sample.entry["members"]:
                assert sample.read(ext) == by_name[f"{sample.entry['key']}.{ext}"]
    patients = {}
    for s in samples:  # a patient never spans two tars
        patients.setdefault(s.entry["patient_id"], set()).add(s.tar)
    assert all(len(t) == 1 for t in patients.values())
    manifest = json.loads((out / "manifest-00000of00001.json").read_text())
    assert manifest["n_samples"] == 24 and manifest["n_records"] == 12 and manifest["n_failed"] == 0
    assert [s["sha256"] for s in manifest["shards"]] == [shards.file_sha256(out / s["file"]) for s in manifest["shards"]]


def test_restart_keeps_complete_tars_and_redoes_damaged_ones(cache, tmp_path, monkeypatch):
    out = render_shards(cache, tmp_path / "r")
    before = folder_bytes(out)
    tars = sorted(out.glob("*.tar"))
    assert len(tars) == 3
    written = []
    real = write._write_tar
    monkeypatch.setattr(write, "_write_tar", lambda tar, *a, **k: written.append(tar.name) or real(tar, *a, **k))
    render_shards(cache, out)
    assert written == []  # everything was complete: nothing rendered again
    with open(tars[1], "r+b") as fh:  # a truncated tar (disk full, killed copy)
        fh.truncate(tars[1].stat().st_size // 2)
    shards.index_path(tars[2]).unlink()  # killed after the tar, before its index
    (out / "manifest-00000of00001.json").unlink()
    orphan = out / f".{tars[0].name}.tmp-99999"  # a tar half-written by a killed run
    orphan.write_bytes(b"partial")
    render_shards(cache, out)
    assert written == [tars[1].name, tars[2].name]
    assert folder_bytes(out) == before and not orphan.exists()


def test_changed_settings_rewrite_every_tar(cache, tmp_path, monkeypatch):
    out = render_shards(cache, tmp_path / "c")
    written = []
    real = write._write_tar
    monkeypatch.setattr(write, "_write_tar", lambda tar, *a, **k: written.append(tar.name) or real(tar, *a, **k))
    render_shards(cache, out, extra=("--seed", "5"))
    assert len(written) == 3


def test_incomplete_or_mixed_folders_are_refused(cache, tmp_path):
    with pytest.raises(shards.ShardError, match="no shard manifests"):
        shards.open_shards(tmp_path)
    out = tmp_path / "half"
    from ecgimg.pages import cli
    assert cli.main([str(cache), "-o", str(out), "--format", "wds", "--shard", "0/2", "--size", "120",
                     "--no-progress"]) == 0
    with pytest.raises(shards.ShardError, match=r"jobs \[1\] of 2 have not finished"):
        shards.open_shards(out)
    assert cli.main([str(cache), "-o", str(out), "--format", "wds", "--shard", "1/2", "--size", "120", "--seed", "9",
                     "--no-progress"]) == 0
    with pytest.raises(shards.ShardError, match="different settings"):
        shards.open_shards(out)


def test_bad_record_is_reported_in_the_manifest_and_the_rest_kept(tmp_path, capsys):
    import numpy as np

    from ecgimg.data import synthetic_cohort
    from ecgimg.pages import cli
    leads = np.array(["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"])
    signal = synthetic_cohort(1, 1)[0].signal.copy()  # an ECG (a pure sine is refused as not_ecg)
    np.savez(tmp_path / "good.npz", signal=signal, fs=500.0, leads=leads)
    signal[2, 7] = np.inf
    np.savez(tmp_path / "bad.npz", signal=signal, fs=500.0, leads=leads)
    out = tmp_path / "wds"
    args = [str(tmp_path / "good.npz"), str(tmp_path / "bad.npz"), "-o", str(out), "--format", "wds",
            "--size", "100", "--no-progress"]
    assert cli.main(args) == 1
    assert "FAILED" in capsys.readouterr().err
    manifest = json.loads((out / "manifest-00000of00001.json").read_text())
    assert manifest["n_samples"] == 1 and manifest["n_failed"] == 1
    assert manifest["failed"][0]["record_id"] == "bad" and "InvalidSignalError" in manifest["failed"][0]["error"]
    assert [s.entry["record_id"] for s in shards.open_shards(out)[1]] == ["good"]


def test_a_job_without_patients_still_completes_the_folder(tmp_path):
    from ecgimg.pages import cli
    cache = small_cache(tmp_path, 1, 2)  # one patient, three jobs: jobs 1 and 2 get nothing
    out = tmp_path / "wds"
    for job in range(3):
        assert cli.main([str(cache), "-o", str(out), "--format", "wds", "--shard", f"{job}/3", "--size", "100",
                         "--no-progress"]) == 0
    summary, samples = shards.open_shards(out)
    assert summary["jobs"] == 3 and len(samples) == 2
