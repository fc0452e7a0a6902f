"""WFDBFolder: recursive scan, CinC headers as labels, labels CSV, seeded patient split."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgdata_builders import smooth_signal, write_wfdb
from ecgimg.data import PatientLeakError, WFDBFolder


def _folder(tmp_path, n=6):
    for i in range(n):
        sub = tmp_path / "data" / f"part{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        write_wfdb(sub, f"rec{i}", smooth_signal(seed=i))
    return tmp_path / "data"


def test_labels_csv_patients_and_split(tmp_path):
    root = _folder(tmp_path)
    table = pd.DataFrame({"rid": [f"rec{i}" for i in range(6)],
                          "subject": [10, 10, 11, 12, 12, 13],
                          "lvef_low": [1, 1, 0, 0, 0, 1],
                          "codes": ["A,B", "A", "", "B;C", "C", "A"]})
    table.to_csv(tmp_path / "labels.csv", index=False)
    dataset = WFDBFolder(root, labels_csv=tmp_path / "labels.csv", record_col="rid",
                         patient_col="subject", label_cols=["lvef_low", "codes"], split_seed=4)
    assert len(dataset) == 6 and list(dataset.metadata["record_id"]) == [f"rec{i}" for i in
                                                                          (0, 2, 4, 1, 3, 5)]
    per_patient = dataset.metadata.groupby("patient_id")["split"].nunique()
    assert per_patient.max() == 1
    record = dataset[list(dataset.metadata["record_id"]).index("rec3")]
    assert record.patient_id == "12" and record.labels["lvef_low"] == 0
    assert record.labels["codes"] == ["B", "C"] and record.labels["dx"] == ["426783006"]
    assert record.labels["sex"] == 1 and record.labels["age"] == 60.0
    assert record.meta["split"] in ("train", "val", "test")


def test_split_column_is_checked_for_leaks(tmp_path):
    root = _folder(tmp_path, n=2)
    pd.DataFrame({"record_id": ["rec0", "rec1"], "pid": ["p", "p"],
                  "fold": ["train", "test"]}).to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(PatientLeakError, match="p in test/train"):
        WFDBFolder(root, labels_csv=tmp_path / "l.csv", patient_col="pid", split_col="fold")


def test_cinc2021_folder(shared_data):
    dataset = WFDBFolder(shared_data / "cinc2021")
    assert len(dataset) == 50 and dataset.metadata["patient_id"].isna().all()
    assert set(dataset.metadata["split"]) == {"train", "val", "test"}
    record = dataset[0]
    assert record.record_id == "E07500" and record.source == "cinc2021"
    assert record.labels == {"dx": ["67741000119109", "426177001"], "sex": 0, "age": 78.0}
    again = WFDBFolder(shared_data / "cinc2021")
    np.testing.assert_array_equal(again.metadata["split"], dataset.metadata["split"])


def test_cpsc2018_folder_of_bare_mat_structs(shared_data):
    dataset = WFDBFolder(shared_data / "cpsc2018")
    assert len(dataset) == 10
    record = dataset[0]
    assert record.labels["dx"] == [] and record.labels["sex"] == 0 and record.labels["age"] == 52


def test_missing_and_empty_folders_and_bad_label_tables(tmp_path):
    from ecgimg.data import UnreadableRecordError
    with pytest.raises(UnreadableRecordError, match="nope: no such folder"):
        WFDBFolder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnreadableRecordError, match="empty: no records found"):
        WFDBFolder(tmp_path / "empty")
    root = _folder(tmp_path)
    with pytest.raises(UnreadableRecordError, match="missing.csv: labels table not found"):
        WFDBFolder(root, labels_csv=tmp_path / "missing.csv")
    pd.DataFrame({"record_id": ["rec0", "rec0"], "y": [1, 0]}).to_csv(tmp_path / "dup.csv",
                                                                     index=False)
    with pytest.raises(UnreadableRecordError, match=r"dup.csv: record\(s\) \['rec0'\] appear in"):
        WFDBFolder(root, labels_csv=tmp_path / "dup.csv")
    pd.DataFrame({"record_id": ["rec0"], "y": [1]}).to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(UnreadableRecordError, match=r"l.csv: no column\(s\) \['subject'\]"):
        WFDBFolder(root, labels_csv=tmp_path / "l.csv", patient_col="subject")
    (root / "part0" / "deeper").mkdir()
    write_wfdb(root / "part0" / "deeper", "rec1", smooth_signal(seed=1))  # rec1 twice now
    with pytest.raises(UnreadableRecordError, match=r"\['rec1'\] occur in several sub-folders"):
        WFDBFolder(root, labels_csv=tmp_path / "l.csv")
