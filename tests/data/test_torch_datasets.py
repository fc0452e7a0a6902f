"""SignalDataset: dict samples of the right shape, split/task filtering, DataLoader batching."""
from __future__ import annotations

import numpy as np
import torch

from ecgimg.data import SignalDataset, synthetic_cohort_cache


def test_samples_filters_and_loader(tmp_path):
    cache = synthetic_cohort_cache(tmp_path / "syn", n_patients=12, ecgs_per_patient=2, seed=1)
    everything = SignalDataset(cache)
    assert len(everything) == 24
    item = everything[5]
    assert item["signal"].shape == (12, 5000) and item["signal"].dtype == torch.float32
    assert item["target"].shape == (0,) and item["index"] == 5
    np.testing.assert_array_equal(item["signal"].numpy(), cache.signals[5])

    train = SignalDataset(str(tmp_path / "syn"), split="train", task="af")
    rows = set(cache.split_indices("train"))
    assert len(train) == len(rows) and all(train[i]["index"] in rows for i in range(len(train)))
    _, af = cache.targets("af")
    assert train[0]["target"].item() == af[train[0]["index"], 0]

    subset = SignalDataset(cache, indices=[3, 1, 7], transform=lambda s: s * 2)
    assert [subset[i]["index"] for i in range(3)] == [3, 1, 7]
    np.testing.assert_allclose(subset[1]["signal"].numpy(), 2 * cache.signals[1])

    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=4)))
    assert batch["signal"].shape == (4, 12, 5000) and batch["target"].shape == (4, 1)
    assert batch["index"].dtype == torch.int64


def test_indices_keep_order_and_repeats_within_split_and_task(tmp_path):
    """A labelled subset tiled to fill an epoch (finetune.min_epoch_batches) must stay tiled: the
    engine validates once per epoch, and deduplicated 3-batch epochs made it validate every 3 steps."""
    from ecgimg.experiments.sources import repeat_to_batches
    cache = synthetic_cohort_cache(tmp_path / "c", n_patients=10, ecgs_per_patient=2, seed=0)
    train_rows = cache.split_indices("train")
    tiled = repeat_to_batches(train_rows[:3], batch_size=4, min_batches=2)
    ds = SignalDataset(cache, task="af", indices=tiled)
    assert len(ds) == 8 and [ds[i]["index"] for i in range(8)] == tiled.tolist()
    outside = np.setdiff1d(np.arange(len(cache)), train_rows)[:2]
    mixed = SignalDataset(cache, split="train", indices=[outside[0], train_rows[1], train_rows[1], outside[1]])
    assert [mixed[i]["index"] for i in range(len(mixed))] == [train_rows[1], train_rows[1]]


def test_a_split_that_does_not_exist_and_indices_out_of_range(tmp_path):
    import pytest
    synthetic_cohort_cache(tmp_path / "c", n_patients=6, ecgs_per_patient=2, seed=0)
    with pytest.raises(ValueError, match=r"no split 'tarin'; splits: .*train"):
        SignalDataset(str(tmp_path / "c"), split="tarin")
    with pytest.raises(IndexError, match="indices outside"):
        SignalDataset(str(tmp_path / "c"), indices=[0, 99])


def test_damaged_cache_files_are_named(tmp_path):
    import pytest

    from ecgimg.data import SignalCache
    synthetic_cohort_cache(tmp_path / "c", n_patients=4, ecgs_per_patient=2, seed=0)
    signals = tmp_path / "c" / "signals.f32"
    signals.write_bytes(signals.read_bytes()[:1000])
    with pytest.raises(ValueError, match="cache is inconsistent"):
        SignalCache.open(tmp_path / "c")
    (tmp_path / "c" / "cache.json").write_text("{not json")
    with pytest.raises(ValueError, match="cache.json: not a readable cache description"):
        SignalCache.open(tmp_path / "c")
