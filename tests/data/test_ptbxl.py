"""PTB-XL dataset: benchmark label sets, standard folds, patient-disjoint splits, unlabelled ids."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgimg.data import PTBXL, PTBXL_TASKS, STANDARD_LEADS, build_cache


@pytest.fixture(scope="module")
def ptbxl500(ptbxl_root):
    return PTBXL(ptbxl_root, sampling_rate=500)


def test_sizes_and_unlabelled_records(ptbxl_root, ptbxl500):
    assert len(ptbxl500) == 500
    labelled_100 = PTBXL(ptbxl_root, sampling_rate=100)
    assert len(labelled_100) == 897  # rows with metadata whose file exists
    everything = PTBXL(ptbxl_root, sampling_rate=100, include_unlabelled=True)
    assert len(everything) == 1999
    extra = everything.metadata[~everything.metadata["labelled"].astype(bool)]
    assert len(extra) == 1102
    record = everything[int(extra.index[0])]
    assert record.labels == {} and record.patient_id is None and record.meta["split"] is None
    assert record.signal.shape == (12, 1000) and record.fs == 100


def test_first_record_labels_follow_benchmark(ptbxl500):
    record = ptbxl500[0]
    assert record.record_id == "ptbxl00001" and record.patient_id == "15709"
    assert record.leads == STANDARD_LEADS and record.signal.shape == (12, 5000)
    assert str(record.recorded_at) == "1984-11-09 09:17:34"
    labels = record.labels
    # {'NORM': 100.0, 'LVOLT': 0.0, 'SR': 0.0}: likelihood-0 codes count, as in the benchmark
    assert labels["diagnostic"] == ["NORM"] and labels["superdiagnostic"] == ["NORM"]
    assert labels["form"] == ["LVOLT"] and labels["rhythm"] == ["SR"]
    assert labels["all"] == ["LVOLT", "NORM", "SR"]
    assert labels["sex"] == 1 and labels["age"] == 56.0


def test_aggregation_matches_statement_table(ptbxl500):
    statements = ptbxl500.statements
    for codes in ptbxl500.metadata["scp_codes"].head(200):
        diag = [c for c in codes if c in statements.index and statements.at[c, "diagnostic"] == 1]
        assert ptbxl500.aggregate(codes, "diagnostic") == sorted(set(diag))
        assert ptbxl500.aggregate(codes, "superdiagnostic") == sorted(
            {statements.at[c, "diagnostic_class"] for c in diag})
        assert ptbxl500.aggregate(codes, "subdiagnostic") == sorted(
            {statements.at[c, "diagnostic_subclass"] for c in diag})
        assert set(ptbxl500.aggregate(codes, "rhythm")) <= set(codes)
    assert set(ptbxl500.label_sets["superdiagnostic"]) <= {"NORM", "MI", "STTC", "CD", "HYP"}
    with pytest.raises(KeyError):
        ptbxl500.aggregate({"NORM": 100.0}, "nonsense")


def test_standard_folds_and_no_patient_in_two_splits(ptbxl_root, ptbxl500):
    for dataset in (ptbxl500, PTBXL(ptbxl_root, sampling_rate=100)):
        meta = dataset.metadata
        expected = np.where(meta["strat_fold"] <= 8, "train",
                            np.where(meta["strat_fold"] == 9, "val", "test"))
        assert (meta["split"].to_numpy() == expected).all()
        per_patient = meta.groupby("patient_id")["split"].nunique()
        assert per_patient.max() == 1
        assert (meta.groupby("patient_id").size() >= 2).sum() >= 25  # the test has teeth


def test_cache_of_ptbxl_has_benchmark_columns(tmp_path, ptbxl500):
    records = [ptbxl500[i] for i in range(40)]
    cache = build_cache(records, tmp_path / "ptbxl", progress=False)
    assert cache.signals.shape == (40, 12, 5000)
    names, matrix = cache.targets("superdiagnostic")
    assert "NORM" in names and matrix.shape == (40, len(names))
    assert matrix[0, names.index("NORM")] == 1.0
    assert set(cache.tasks) >= set(PTBXL_TASKS) | {"sex", "age"}
    assert cache.tasks["sex"]["kind"] == "binary" and cache.tasks["age"]["kind"] == "scalar"
    assert cache.index.loc[0, "patient_id"] == "15709"
    assert pd.Timestamp(cache.index.loc[0, "recorded_at"]).year == 1984
    assert set(cache.index["split"]) <= {"train", "val", "test"}


def test_missing_or_broken_ptbxl_trees_are_named(tmp_path, ptbxl_root):
    import shutil

    from ecgimg.data import UnreadableRecordError
    with pytest.raises(UnreadableRecordError, match="nope: no such folder"):
        PTBXL(tmp_path / "nope")
    with pytest.raises(UnreadableRecordError, match="ptbxl_database.csv: PTB-XL metadata file"):
        PTBXL(tmp_path)
    root = tmp_path / "ptbxl"
    root.mkdir()
    shutil.copy(ptbxl_root / "scp_statements.csv", root)
    table = pd.read_csv(ptbxl_root / "ptbxl_database.csv")
    table.head(5).to_csv(root / "ptbxl_database.csv", index=False)
    with pytest.raises(UnreadableRecordError, match="none of the records .* filename_hr"):
        PTBXL(root)  # metadata without the records folder
    table.head(5).drop(columns=["strat_fold"]).to_csv(root / "ptbxl_database.csv", index=False)
    with pytest.raises(UnreadableRecordError, match="missing PTB-XL column.s. strat_fold"):
        PTBXL(root)
    broken = table.head(5).copy()
    broken.loc[2, "scp_codes"] = "{'NORM': 100.0"
    broken.to_csv(root / "ptbxl_database.csv", index=False)
    with pytest.raises(UnreadableRecordError, match=f"ecg_id {broken.loc[2, 'ecg_id']}: scp_codes"):
        PTBXL(root)
