import torch

from ecgimg.models.signal.augment import (BaselineWander, GaussianNoise, LeadMasking, RandomResizedCrop,
                                       RandomScale, default_bell_augment)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_every_transform_keeps_shape_and_is_seeded():
    x = torch.randn(3, 12, 500)
    for transform in (RandomResizedCrop(0.5), RandomScale(), GaussianNoise(), BaselineWander(),
                      LeadMasking(0.5), default_bell_augment()):
        a, b = transform(x, _gen(1)), transform(x, _gen(1))
        assert a.shape == x.shape and torch.isfinite(a).all()
        assert torch.equal(a, b)
        assert not torch.equal(transform(x, _gen(2)), a)


def test_lead_masking_zeroes_whole_leads_and_keeps_one():
    x = torch.ones(64, 3, 10)
    out = LeadMasking(p=0.9)(x, _gen(0))
    per_lead = out.sum(dim=2)
    assert set(per_lead.unique().tolist()) <= {0.0, 10.0}
    assert (per_lead.sum(dim=1) > 0).all()


def test_scale_is_per_lead_gain_within_bounds():
    x = torch.ones(8, 12, 20)
    out = RandomScale(0.8, 1.2)(x, _gen(0))
    assert torch.all(out.std(dim=2) == 0)
    assert out.min() >= 0.8 and out.max() <= 1.2


def test_crop_of_full_fraction_is_identity():
    x = torch.randn(2, 3, 100)
    torch.testing.assert_close(RandomResizedCrop(1.0)(x, _gen(0)), x, atol=1e-5, rtol=0)
