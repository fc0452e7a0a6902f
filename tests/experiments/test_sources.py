"""From a config's data section to caches, splits, label subsets and datasets."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgimg.config import load_config
from ecgimg.experiments import sources
from ecgimg.experiments.schema import ALIASES, ExperimentConfig


def cfg_with(*overrides):
    return load_config(ExperimentConfig, None, list(overrides), aliases=ALIASES)


def test_parse_source():
    assert sources.parse_source("synthetic") == ("synthetic", None)
    assert sources.parse_source("ptbxl:/data/ptb-xl") == ("ptbxl", "/data/ptb-xl")
    with pytest.raises(ValueError, match="needs a path"):
        sources.parse_source("ptbxl")
    with pytest.raises(ValueError, match="kind must be one of"):
        sources.parse_source("mimic:/x")


def test_cache_dir_depends_on_what_is_cached(tmp_path):
    a = sources.cache_dir_for(cfg_with(f"out={tmp_path}"))
    b = sources.cache_dir_for(cfg_with(f"out={tmp_path}", "data.n_patients=7"))
    c = sources.cache_dir_for(cfg_with(f"out={tmp_path}", "data=ptbxl:/x/ptbxl"))
    assert len({a, b, c}) == 3 and all(p.parent == tmp_path / "cache" for p in (a, b, c))
    assert sources.cache_dir_for(cfg_with("data=cache:/some/cache")) == sources.Path("/some/cache")


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return sources.open_cache(cfg_with(f"out={out}", "data.n_patients=30", "data.ecgs_per_patient=2"))


def test_open_cache_builds_once_and_reopens(small_cache, tmp_path):
    again = sources.open_cache(cfg_with(f"out={small_cache.path.parents[1]}", "data.n_patients=30",
                                        "data.ecgs_per_patient=2"))
    assert again.path == small_cache.path and len(again.index) == 60
    assert not list(small_cache.path.parent.glob("*.tmp-*"))  # built atomically


def test_label_subsets_are_nested_patient_level_and_train_only(small_cache):
    subsets = sources.label_subsets(small_cache, "lvsd", [0.2, 0.5, 1.0], seed=0)
    train = set(sources.split_indices(small_cache, "train"))
    patients = small_cache.index["patient_id"].to_numpy()
    assert set(subsets[0.2]) <= set(subsets[0.5]) <= set(subsets[1.0]) == train
    for subset in subsets.values():
        chosen = set(patients[subset])
        assert set(np.flatnonzero(np.isin(patients, list(chosen)))) <= train
        assert set(np.flatnonzero(np.isin(patients, list(chosen)))) == set(subset)  # whole patients
    _, y = sources.class_targets(small_cache, "lvsd")
    assert 0 < y[subsets[0.2]].sum() < len(subsets[0.2])  # both classes even in the small subset


def test_repeat_to_batches():
    idx = np.array([3, 5, 7])
    assert sources.repeat_to_batches(idx, 4, 0) is idx
    tiled = sources.repeat_to_batches(idx, 4, 2)
    assert len(tiled) == 8 and set(tiled) == {3, 5, 7}
    big = np.arange(20)
    assert sources.repeat_to_batches(big, 4, 2) is big


def test_memoized_dataset_loads_each_item_once():
    calls = []

    class Counting(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            calls.append(i)
            return {"x": torch.tensor([i])}

    memo = sources.MemoizedDataset(Counting())
    for _ in range(3):
        assert [int(memo[i]["x"]) for i in range(3)] == [0, 1, 2]
    assert calls == [0, 1, 2]


def test_forward_epoch_reaches_the_dataset():
    class Paged(torch.utils.data.Dataset):
        epoch = 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __len__(self):
            return 2

        def __getitem__(self, i):
            return i

    from ecgimg.train import make_loader
    loader = make_loader(Paged(), 1, seed=0)  # the engine loader forwards set_epoch itself
    loader.set_epoch(3)
    assert loader.dataset.epoch == 3 and loader.epoch == 3


def test_ptbxl_source_uses_the_benchmark_folds(ptbxl_root, tmp_path):
    cfg = cfg_with(f"out={tmp_path}", f"data=ptbxl:{ptbxl_root}", "task=superdiagnostic")
    cache = sources.open_cache(cfg)
    names, y = sources.class_targets(cache, "superdiagnostic")
    assert names == ["CD", "HYP", "MI", "NORM", "STTC"]
    test = sources.split_indices(cache, "test", "superdiagnostic")
    assert 0 < len(test) < len(cache.index) and (np.nansum(y[test], axis=1) > 0).all()
