"""ecg-render CLI on real records: outputs, truth JSON, bad records reported, shards, workers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from render import cli


def test_renders_ptbxl_files_and_reports_bad_record(ptbxl_root, tmp_path):
    good = [ptbxl_root / "records500" / "00000" / f"{i:05d}_hr.hea" for i in (1, 2)]
    bad = tmp_path / "broken.hea"
    bad.write_text("this is not a WFDB header\n")
    out = tmp_path / "out"
    status = cli.main([*map(str, good), str(bad), "-o", str(out), "--dpi", "72", "--no-progress",
                       "--format", "jpg", "--masks"])
    assert status == 1  # one record failed, the rest rendered
    assert sorted(p.name for p in out.glob("*.jpg")) == ["00001_hr.jpg", "00002_hr.jpg"]
    truth = json.loads((out / "00001_hr.json").read_text())
    assert truth["record_id"] == "00001_hr" and len(truth["panels"]) == 13
    masks = np.load(out / "00001_hr.masks.npz")
    assert "lead_II" in masks.files and masks["grid"].shape == tuple(truth["image_size"])


def test_ptbxl_root_shards_partition_the_records(ptbxl_root):
    records = cli.discover([str(ptbxl_root)])
    assert len(records) >= 100 and records[0][0] == "ptbxl_00001"
    assert len({rid for rid, _ in records}) == len(records)
    args = [cli.parse_args([str(ptbxl_root), "-o", "x", "--shard", f"{i}/3"]) for i in range(3)]
    shards = [{rid for j, (rid, _) in enumerate(records) if j % a.shard_count == a.shard_index} for a in args]
    assert set.union(*shards) == {rid for rid, _ in records}
    assert sum(len(s) for s in shards) == len(records)


def test_random_pages_with_workers_are_reproducible(shared_data, tmp_path):
    misc = shared_data / "misc"
    runs = []
    for k, workers in enumerate((1, 2)):
        out = tmp_path / f"run{k}"
        assert cli.main([str(misc), "-o", str(out), "--random", "--layout", "auto", "--seed", "3",
                         "--size", "256", "--workers", str(workers), "--no-progress"]) == 0
        runs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert runs[0] == runs[1] and len(runs[0]) == 6  # 3 records x (png + json)


def test_bad_shard_is_rejected():
    with pytest.raises(SystemExit):
        cli.parse_args(["x", "-o", "y", "--shard", "3/3"])
