"""Predictions files round-trip; alignment for paired tests refuses files that do not match."""
from __future__ import annotations

import numpy as np
import pytest

from ecgimg.evaluate.predictions import (PredictionFileError, Predictions, align_predictions,
                                         config_hash, load_predictions, save_predictions)

CLASSES = ["NORM", "MI", "STTC"]


def _preds(n=12, seed=0, meta=None):
    rng = np.random.default_rng(seed)
    return Predictions([f"ecg{i:03d}" for i in range(n)], [f"p{i // 3}" for i in range(n)],
                       CLASSES, (rng.random((n, 3)) < 0.4).astype(int), rng.random((n, 3)),
                       meta or {"model": "vit", "modality": "signal", "pretraining": "mae",
                                "label_fraction": 0.1, "split": "test",
                                "config_hash": config_hash({"lr": 1e-4})})


def test_round_trip_keeps_everything(tmp_path):
    p = _preds()
    path = save_predictions(tmp_path / "run" / "test.csv", p)
    assert (tmp_path / "run" / "test.json").is_file()
    q = load_predictions(path)
    np.testing.assert_array_equal(q.record_ids, p.record_ids)
    np.testing.assert_array_equal(q.patient_ids, p.patient_ids)
    np.testing.assert_array_equal(q.y_true, p.y_true)
    np.testing.assert_array_equal(q.y_score, p.y_score)  # exact: ties and ranks survive
    assert q.class_names == CLASSES and q.meta == p.meta


def test_numeric_looking_ids_stay_strings(tmp_path):
    p = Predictions(["007", "010"], ["0001", "0002"], ["a"], [[0], [1]], [[0.2], [0.7]])
    q = load_predictions(save_predictions(tmp_path / "x.csv", p))
    assert list(q.record_ids) == ["007", "010"] and list(q.patient_ids) == ["0001", "0002"]


def test_config_hash_is_stable_and_order_free():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_missing_sidecar_or_columns_name_the_file(tmp_path):
    path = save_predictions(tmp_path / "m.csv", _preds())
    path.with_suffix(".json").unlink()
    with pytest.raises(PredictionFileError, match="m.csv.*sidecar"):
        load_predictions(path)
    path = save_predictions(tmp_path / "n.csv", _preds())
    text = path.read_text().replace("score_MI", "score_XX")
    path.write_text(text)
    with pytest.raises(PredictionFileError, match="n.csv.*score_MI"):
        load_predictions(path)
    with pytest.raises(PredictionFileError, match="not found"):
        load_predictions(tmp_path / "absent.csv")


def test_duplicate_record_ids_are_rejected():
    with pytest.raises(PredictionFileError, match="unique"):
        Predictions(["a", "a"], ["p", "p"], ["x"], [[0], [1]], [[0.1], [0.2]])


def test_align_reorders_the_second_file():
    a = _preds()
    perm = np.random.default_rng(1).permutation(len(a))
    b = a.subset(perm)
    b.y_score = b.y_score * 0.5
    a2, b2 = align_predictions(a, b)
    np.testing.assert_array_equal(b2.record_ids, a.record_ids)
    np.testing.assert_allclose(b2.y_score, a.y_score * 0.5)
    np.testing.assert_array_equal(a2.y_true, b2.y_true)


def test_align_refuses_different_records_classes_or_labels():
    a = _preds()
    with pytest.raises(PredictionFileError, match="different records"):
        align_predictions(a, a.subset(np.arange(len(a) - 1)))
    other = Predictions(a.record_ids, a.patient_ids, ["NORM", "MI", "HYP"], a.y_true, a.y_score)
    with pytest.raises(PredictionFileError, match="class"):
        align_predictions(a, other)
    flipped = a.subset(np.arange(len(a)))
    flipped.y_true[0, 0] = 1 - flipped.y_true[0, 0]
    with pytest.raises(PredictionFileError, match="true labels disagree"):
        align_predictions(a, flipped)
    a_mi, o_mi = align_predictions(a, other, class_names=["MI"])  # shared class only
    assert a_mi.class_names == ["MI"] and o_mi.y_score.shape == (len(a), 1)
