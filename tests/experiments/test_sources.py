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


def test_page_datasets_bank_evaluation_pages_and_optionally_training_pages(small_cache):
    from ecgimg.data.images import RenderedImages
    from ecgimg.data.page_bank import BankedImages

    base = ["image.image_size=32", "image.render_workers=1"]
    train = sources.split_indices(small_cache, "train")
    test = sources.split_indices(small_cache, "test")
    fresh = sources.page_dataset(cfg_with(*base), small_cache, train[:4], train=True, task="lvsd")
    assert isinstance(fresh, RenderedImages) and fresh.seed == 0
    evaluation = sources.page_dataset(cfg_with(*base), small_cache, test, train=False, task="lvsd")
    assert isinstance(evaluation, BankedImages)
    assert evaluation.pages.seed == sources.EVAL_PAGE_SEED_OFFSET  # never a training page
    again = sources.page_dataset(cfg_with(*base), small_cache, test[:2], train=False, task="sex")
    assert again.bank.path == evaluation.bank.path  # one bank per split, any subset or task
    assert torch.equal(again[1]["image"], evaluation[1]["image"])
    banked = sources.page_dataset(cfg_with(*base, "image.bank_views=2"), small_cache, train[:4],
                                  train=True, task="lvsd")
    assert isinstance(banked, BankedImages) and banked.bank.views == 2
    assert len(banked.bank) == len(train)  # the whole training split, shared by all fractions
    assert torch.equal(banked[(1, 1, 0)]["image"], fresh[(1, 1, 0)]["image"])


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
