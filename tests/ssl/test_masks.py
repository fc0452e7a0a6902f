import pytest
import torch
from mask_runs import true_runs

from ecgimg.models.signal.masks import expand_time_mask, time_block_mask



@pytest.mark.parametrize("n_time,min_block", [(20, 1), (200, 10), (200, 25), (40, 3)])
def test_ratio_and_min_block_length(n_time, min_block):
    gen = torch.Generator().manual_seed(n_time + min_block)
    for _ in range(20):
        mask = time_block_mask(8, n_time, (0.75, 0.85), min_block, gen)
        counts = mask.sum(dim=1)
        assert (counts == counts[0]).all()
        ratio = counts[0].item() / n_time
        assert 0.75 - 1 / n_time <= ratio <= 0.85 + 1 / n_time
        assert (counts < n_time).all()
        for row in mask:
            assert min(true_runs(row)) >= min_block


def test_seeded_and_varied():
    a = time_block_mask(4, 200, min_block=10, gen=torch.Generator().manual_seed(1))
    b = time_block_mask(4, 200, min_block=10, gen=torch.Generator().manual_seed(1))
    c = time_block_mask(4, 200, min_block=10, gen=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_arguments_rejected():
    with pytest.raises(ValueError):
        time_block_mask(1, 10, (0.5, 1.0))
    with pytest.raises(ValueError):
        time_block_mask(1, 10, min_block=11)


def test_expand_time_mask_is_lead_major():
    mask = torch.tensor([[True, False, True]])
    assert expand_time_mask(mask, 2).tolist() == [[True, False, True, True, False, True]]
