"""PageStream: every page once per epoch across ranks x workers, seeded order, patient-grouped
contrastive batches, exact mid-epoch resume, and shards == on-the-fly renders for training."""
from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from ecgimg.data.page_stream import PageStream, ShardLoader, ShardSource
from ecgimg.pages.render_source import RenderSource
from ecgimg.pages import cli
from page_builders import SHARD_FLAGS, render_shards, small_cache


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    cache = small_cache(root)
    return cache, render_shards(cache, root / "wds", jobs=2)


@pytest.fixture(scope="module")
def source(folders):
    return ShardSource(folders[1])


def pages_seen(batches):
    return Counter((int(i), int(v)) for b in batches for i, v in zip(b["index"], b["view"]))


@pytest.mark.parametrize("world, workers", [(1, 0), (2, 2), (3, 1)])
def test_every_page_once_per_epoch_across_ranks_and_workers(source, world, workers):
    seen, lengths = Counter(), []
    for rank in range(world):
        stream = PageStream(source, batch_size=5, image_size=32, seed=3, rank=rank, world_size=world)
        batches = list(ShardLoader(stream, num_workers=workers))
        lengths.append(len(batches))
        assert len(batches) == len(stream)
        seen += pages_seen(batches)
    assert len(set(lengths)) == 1  # every rank takes the same number of steps
    assert len(seen) == 24 and set(seen.values()) == {1}  # 24 pages divide by 1, 2 and 3


def test_uneven_world_wraps_round_like_distributed_sampler(source):
    seen = Counter()
    for rank in range(5):
        seen += pages_seen(PageStream(source, batch_size=4, image_size=32, rank=rank, world_size=5))
    assert len(seen) == 24 and sum(seen.values()) == 25  # ceil(24 / 5) x 5: one page twice
    dropped = [PageStream(source, batch_size=4, image_size=32, rank=r, world_size=5, drop_last=True) for r in range(5)]
    assert {len(d) for d in dropped} == {1}  # 4 pages per rank, one full batch each


def test_order_follows_seed_and_epoch(source):
    def order(seed, epoch):
        stream = PageStream(source, batch_size=24, image_size=32, seed=seed)
        stream.set_epoch(epoch)
        return stream.epoch_units().tolist()
    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1) and order(0, 0) != order(1, 0)
    assert sorted(order(0, 1)) == list(range(24))


def test_contrastive_batches_hold_each_patient_twice_from_different_ecgs(source):
    stream = PageStream(source, batch_size=3, image_size=32, identity="patient", views=2, crop="grid")
    batches = list(stream)
    assert len(batches) == 2  # 6 patients, 3 per batch
    patients = torch.cat([b["patient"] for b in batches])
    assert sorted(Counter(patients.tolist()).values()) == [2] * 6
    for b in batches:
        pairs = b["index"].view(-1, 2)
        assert (pairs[:, 0] != pairs[:, 1]).all()  # two ECGs of the patient, not two renders of one
        assert b["image"].shape == (6, 3, 32, 32)
    simclr = list(PageStream(source, batch_size=6, image_size=32, identity="record", views=2))
    for b in simclr:
        pairs, views = b["index"].view(-1, 2), b["view"].view(-1, 2)
        assert (pairs[:, 0] == pairs[:, 1]).all() and (views[:, 0] != views[:, 1]).all()


def test_supervised_targets_split_and_index_follow_the_cache(folders, source):
    from ecgimg.data import SignalCache
    cache = SignalCache.open(folders[0])
    stream = PageStream(source, batch_size=4, image_size=32, task="lvsd", split="train")
    names, matrix = cache.targets("lvsd")
    assert stream.classes == ["lvsd"]
    for batch in stream:
        rows = batch["index"].numpy()
        assert (cache.index["split"].to_numpy()[rows] == "train").all()
        torch.testing.assert_close(batch["target"], torch.from_numpy(matrix[rows]))


@pytest.mark.parametrize("workers", [0, 2])
def test_skip_batches_resumes_mid_epoch_exactly(source, workers):
    full = list(ShardLoader(PageStream(source, batch_size=4, image_size=32, seed=1)))
    loader = ShardLoader(PageStream(source, batch_size=4, image_size=32, seed=1), num_workers=workers)
    assert loader.skip_batches(2)
    rest = list(loader)
    assert len(rest) == len(full) - 2
    for a, b in zip(full[2:], rest):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["index"], b["index"])
    assert len(list(loader)) == len(full)  # the skip applies to one iteration only


def train_steps(loader, steps: int, out_dir):
    """A few engine steps of a small image model; returns (per-step losses, final weights)."""
    import json
    from ecgimg.models.image import timm_model
    from ecgimg.train import fit
    from ecgimg.train.config import TrainConfig
    from ecgimg.train.objectives import supervised_bce

    torch.manual_seed(0)
    model = timm_model("resnet10t", num_classes=1)
    config = TrainConfig(max_steps=steps, lr=1e-3, out_dir=str(out_dir), progress=False, device="cpu",
                         monitor="train_loss", log_every=1, seed=0)
    result = fit(model, loader, None, config, objective=supervised_bce("image"))
    assert result.history  # the engine ran
    events = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in events if e["event"] == "train"]
    return losses, {k: v.clone() for k, v in model.state_dict().items()}


def test_shards_and_on_the_fly_renders_give_the_same_batches_and_training(folders, source, tmp_path):
    cache, _ = folders
    settings = cli.settings_from(cli.parse_args([str(cache), "-o", "x", *SHARD_FLAGS]))
    rendered = RenderSource([str(cache)], settings, jobs=2, records_per_tar=4)
    assert [(e["record_id"], e["view"], e["shard"]) for e in rendered.entries] == \
        [(e["record_id"], e["view"], e["shard"]) for e in source.entries]

    def loader(src):
        return ShardLoader(PageStream(src, batch_size=6, image_size=48, seed=7, task="lvsd", classes=["lvsd"]))
    n = 0
    for a, b in zip(loader(source), loader(rendered)):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        n += 1
    assert n == 4
    losses_a, weights_a = train_steps(loader(source), 3, tmp_path / "shards")
    losses_b, weights_b = train_steps(loader(rendered), 3, tmp_path / "renders")
    assert len(losses_a) == 3 and losses_a == losses_b and all(math.isfinite(v) for v in losses_a)
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
