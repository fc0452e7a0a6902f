import numpy as np
import torch
from torch.utils.data import Dataset

from ecgimg.train.loaders import ResumableDistributedSampler, iterate_from, make_loader, set_loader_epoch

from toys import ToyRegression


def _indices(loader, epoch):
    set_loader_epoch(loader, epoch)
    return [batch["index"].tolist() for batch in loader]


def test_order_is_a_function_of_seed_and_epoch():
    ds = ToyRegression(20)
    a, b = make_loader(ds, 4, seed=7), make_loader(ds, 4, seed=7)
    assert _indices(a, 0) == _indices(b, 0)
    assert _indices(a, 1) == _indices(b, 1)
    assert _indices(a, 0) != _indices(a, 1)
    assert _indices(a, 0) != _indices(make_loader(ds, 4, seed=8), 0)
    assert sorted(sum(_indices(a, 3), [])) == list(range(20))


def test_two_rank_shards_union_to_the_single_process_global_batches():
    ds = ToyRegression(32)
    single = make_loader(ds, 8, seed=3)
    set_loader_epoch(single, 2)
    global_batches = [sorted(b["index"].tolist()) for b in single]
    shards = []
    for rank in range(2):
        sampler = ResumableDistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=3)
        sampler.set_epoch(2)
        order = list(sampler)
        shards.append([order[k:k + 4] for k in range(0, len(order), 4)])
    union = [sorted(a + b) for a, b in zip(*shards)]
    assert union == global_batches


def test_skipping_batches_resumes_the_same_order():
    loader = make_loader(ToyRegression(22), 4, seed=1)
    full = _indices(loader, 5)
    set_loader_epoch(loader, 5)
    assert [b["index"].tolist() for b in iterate_from(loader, 2)] == full[2:]
    assert _indices(loader, 5) == full  # the skip applies to one iteration only
    plain = torch.utils.data.DataLoader(ToyRegression(22), batch_size=4)
    assert [b["index"].tolist() for b in iterate_from(plain, 4)] == [[16, 17, 18, 19], [20, 21]]


class RandomAugment(Dataset):
    """Returns a numpy random draw: only reproducible if workers are seeded."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.tensor([i, np.random.rand(), float(torch.rand(()))])


def test_worker_seeds_derive_from_seed_rank_epoch():
    def draws(seed, epoch):
        loader = make_loader(RandomAugment(), 2, shuffle=False, seed=seed, num_workers=2)
        set_loader_epoch(loader, epoch)
        return torch.cat(list(loader))

    first = draws(0, 0)
    assert torch.equal(first, draws(0, 0))
    assert not torch.equal(first[:, 1], draws(0, 1)[:, 1])
    assert not torch.equal(first[:, 1], draws(1, 0)[:, 1])
    assert len(set(first[:, 1].tolist())) == 8  # workers do not repeat each other's draws
