"""Page banks: pages rendered once equal the renderer's, are found again, and serve any subset."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgimg.data import synthetic_cohort
from ecgimg.data import page_bank as bank_module
from ecgimg.data.images import RenderedImages
from ecgimg.data.page_bank import build_page_bank


@pytest.fixture(scope="module")
def records():
    return synthetic_cohort(3, 2, seed=0)


def _pages(records, **kw):
    return RenderedImages(records, **{"seed": 5, "image_size": 48, "task": "lvsd", **kw})


def test_banked_samples_equal_rendered_ones_and_views_rotate_with_the_epoch(records, tmp_path):
    pages = _pages(records)
    banked = build_page_bank(pages, tmp_path, views=2).dataset(pages)
    assert len(banked) == len(pages) == 6
    for position in (0, 3):
        for view in (0, 1):
            want = pages[(position, view, 0)]
            got = banked[(position, view, 0)]
            assert torch.equal(got["image"], want["image"])
            assert {k: got[k] for k in ("index", "patient", "view")} == \
                   {k: want[k] for k in ("index", "patient", "view")}
            assert torch.equal(got["target"], want["target"])
        # epoch 1 of view 0 reads the slot of view 1: the page changes between epochs
        assert torch.equal(banked[(position, 0, 1)]["image"], pages[(position, 1, 0)]["image"])
    banked.set_epoch(1)
    assert torch.equal(banked[2]["image"], pages[(2, 1, 0)]["image"])


def test_a_bank_is_reused_and_parallel_workers_draw_the_same_pixels(records, tmp_path):
    pages = _pages(records)
    first = build_page_bank(pages, tmp_path / "a", views=1, workers=1)
    stamp = (first.path / bank_module.PAGES_FILE).stat().st_mtime_ns
    again = build_page_bank(pages, tmp_path / "a", views=1, workers=1)
    assert again.path == first.path
    assert (again.path / bank_module.PAGES_FILE).stat().st_mtime_ns == stamp
    parallel = build_page_bank(pages, tmp_path / "b", views=1, workers=2)
    np.testing.assert_array_equal(np.asarray(parallel.pages), np.asarray(first.pages))
    assert not list((tmp_path / "a").glob("*.tmp-*"))


def test_a_bank_serves_subsets_and_other_tasks_but_refuses_other_pixels(records, tmp_path):
    bank = build_page_bank(_pages(records), tmp_path, views=1)
    subset = _pages(records, indices=[1, 4], task="af")
    banked = bank.dataset(subset)
    assert len(banked) == 2 and banked[1]["index"] == 4
    assert torch.equal(banked[1]["image"], subset[1]["image"])
    assert banked.patient_of_position.tolist() == subset.patient_of_position.tolist()
    with pytest.raises(ValueError, match="other page settings"):
        bank.dataset(_pages(records, seed=6))
    small = build_page_bank(_pages(records, indices=[0, 1]), tmp_path, views=1)
    with pytest.raises(ValueError, match="not in the page bank"):
        small.dataset(_pages(records, indices=[0, 5]))


def test_a_changed_renderer_gets_a_new_bank(records, tmp_path, monkeypatch):
    pages = _pages(records, indices=[0])
    old = build_page_bank(pages, tmp_path, views=1)
    monkeypatch.setattr(bank_module, "renderer_fingerprint", lambda: "another-renderer")
    new = build_page_bank(pages, tmp_path, views=1)
    assert new.path != old.path
    with pytest.raises(ValueError, match="other page settings"):
        old.dataset(pages)


def test_a_bank_survives_pickling_for_dataloader_workers(records, tmp_path):
    import pickle

    pages = _pages(records)
    banked = build_page_bank(pages, tmp_path, views=1).dataset(pages)
    banked[0]  # opens the map in this process
    clone = pickle.loads(pickle.dumps(banked))
    assert clone.bank._pages is None
    assert torch.equal(clone[0]["image"], banked[0]["image"])


def test_other_signals_under_the_same_ids_get_another_bank(records, tmp_path):
    pages = _pages(records, indices=[0])
    changed = [r.with_signal(r.signal * 0.5) for r in records]
    assert build_page_bank(pages, tmp_path, 1).path != \
        build_page_bank(_pages(changed, indices=[0]), tmp_path, 1).path
