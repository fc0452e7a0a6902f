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
    assert [subset[i]["index"] for i in range(3)] == [1, 3, 7]
    np.testing.assert_allclose(subset[0]["signal"].numpy(), 2 * cache.signals[1])

    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=4)))
    assert batch["signal"].shape == (4, 12, 5000) and batch["target"].shape == (4, 1)
    assert batch["index"].dtype == torch.int64
