"""ecg-render CLI: outputs, truth JSON, bad records reported, shards by patient, workers, output checks."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from ecgimg.pages import cli, jobs
from ecgimg.pages.plan import job_records
from ecgimg.pages.records import discover
from page_builders import small_cache


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


def test_ptbxl_root_shards_partition_the_records_by_patient(ptbxl_root):
    records = discover([str(ptbxl_root)])
    assert len(records) >= 100 and records[0].record_id == "ptbxl00001"  # the id a PTB-XL cache uses
    assert len({r.record_id for r in records}) == len(records)
    args = [cli.parse_args([str(ptbxl_root), "-o", "x", "--shard", f"{i}/3"]) for i in range(3)]
    shards = [job_records(records, a.shard_index, a.shard_count) for a in args]
    assert sorted(r.record_id for s in shards for r in s) == sorted(r.record_id for r in records)
    patients = [{r.identity for r in s} for s in shards]
    assert not (patients[0] & patients[1]) and not (patients[1] & patients[2]) and not (patients[0] & patients[2])
    assert any(len([r for r in records if r.patient_id == p]) > 1 for p in patients[0])  # repeat patients exist


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


def test_size_keeps_the_aspect_ratio(tmp_path):
    cache = small_cache(tmp_path, 1, 1)
    for style, long_side in (("classic", 400), ("portrait", 300)):
        out = tmp_path / style
        assert cli.main([str(cache), "-o", str(out), "--style", style, "--size", str(long_side), "--no-progress"]) == 0
        truth = json.loads(next(out.glob("*.json")).read_text())
        h, w = truth["image_size"]
        assert max(h, w) == long_side and (w > h) == (style == "classic")
        px_x, px_y = truth["px_per_mm_xy"]
        assert abs(px_x - px_y) / px_x < 0.005  # isotropic up to rounding to whole pixels
        image = cv2.imread(str(next(out.glob("*.png"))))
        assert image.shape[:2] == (h, w)


def test_unwritable_output_fails_before_rendering(tmp_path, monkeypatch, capsys):
    cache = small_cache(tmp_path, 1, 1)
    calls = []
    monkeypatch.setattr(jobs, "render_page", lambda *a, **k: calls.append(a))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for out in (blocker / "pages", blocker):
        assert cli.main([str(cache), "-o", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "cannot write to output folder" in err[0] and str(out) in err[0]
    assert calls == []


def test_nan_record_is_refused_by_the_project_reader(tmp_path, capsys):
    signal = np.zeros((12, 5000), np.float32)
    signal[3, 100] = np.nan
    np.savez(tmp_path / "nan_rec.npz", signal=signal, fs=500.0,
             leads=np.array(["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]))
    assert cli.main([str(tmp_path / "nan_rec.npz"), "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "InvalidSignalError" in err and "aVR" in err and "nan_rec" in err
    assert not list((tmp_path / "out").glob("*.png"))


def test_exports_coco_yolo_and_trace_masks(tmp_path):
    cache = small_cache(tmp_path, 2, 1)
    out = tmp_path / "out"
    assert cli.main([str(cache), "-o", str(out), "--size", "300", "--export", "coco,yolo,mask", "--views", "2",
                     "--no-progress"]) == 0
    coco = json.loads((out / "coco.json").read_text())
    assert len(coco["images"]) == 4 and {i["file_name"] for i in coco["images"]} == {p.name for p in out.glob("*.png")
                                                                                       if ".mask" not in p.name}
    ids = [a["id"] for a in coco["annotations"]]
    assert len(ids) == len(set(ids)) and {a["image_id"] for a in coco["annotations"]} == {1, 2, 3, 4}
    classes = (out / "classes.txt").read_text().split()
    for image in coco["images"]:
        stem = image["file_name"][:-4]
        lines = (out / f"{stem}.txt").read_text().splitlines()
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        assert len(lines) == len(anns) == 26  # 13 trace + 13 label boxes on a 3x4+1R page
        assert {classes[int(line.split()[0])] for line in lines} >= {"lead:II", "label:V6"}
        mask = cv2.imread(str(out / f"{stem}.mask.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (image["height"], image["width"]) and set(np.unique(mask)) == set(range(13))


def test_jpg_and_webp_outputs_decode(tmp_path):
    cache = small_cache(tmp_path, 1, 1)
    for fmt in ("jpg", "webp"):
        out = tmp_path / fmt
        assert cli.main([str(cache), "-o", str(out), "--format", fmt, "--quality", "80", "--size", "200",
                         "--no-progress"]) == 0
        image = cv2.imread(str(next(out.glob(f"*.{fmt}"))))
        assert image is not None and max(image.shape[:2]) == 200


def test_pages_of_a_cache_are_found_by_rendered_images_offline(tmp_path):
    from ecgimg.data import SignalCache
    from ecgimg.data.images import RenderedImages
    cache = small_cache(tmp_path, 2, 1)
    out = tmp_path / "pages"
    assert cli.main([str(cache), "-o", str(out), "--size", "200", "--no-progress"]) == 0
    pages = RenderedImages(SignalCache.open(cache), image_size=64, pages_dir=out)
    assert [pages[i]["image"].shape for i in range(len(pages))] == [(3, 64, 64)] * 2
