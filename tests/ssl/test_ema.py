import math

import pytest
import torch
import torch.nn as nn

from ecgimg.models.ema import cosine_momentum, ema_update, make_target


def test_ema_update_matches_formula_for_params_and_buffers():
    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    target = make_target(online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
        online[1].running_mean.fill_(4.0)
    before = [p.clone() for p in target.parameters()]
    ema_update(target, online, momentum=0.9)
    for t, b, o in zip(target.parameters(), before, online.parameters()):
        torch.testing.assert_close(t, 0.9 * b + 0.1 * o)
    torch.testing.assert_close(target[1].running_mean, torch.full((2,), 0.4))
    assert int(target[1].num_batches_tracked) == int(online[1].num_batches_tracked)


def test_target_has_no_gradients():
    target = make_target(nn.Linear(2, 2))
    assert all(not p.requires_grad for p in target.parameters())


def test_momentum_one_freezes_target_and_zero_copies_online():
    online, target = nn.Linear(2, 2), nn.Linear(2, 2)
    frozen = [p.clone() for p in target.parameters()]
    ema_update(target, online, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(frozen, target.parameters()))
    ema_update(target, online, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(online.parameters(), target.parameters()))
    with pytest.raises(ValueError):
        ema_update(target, online, 1.5)


def test_cosine_momentum_schedule_endpoints_and_monotone():
    values = [cosine_momentum(s, 100, 0.996, 1.0) for s in range(101)]
    assert values[0] == pytest.approx(0.996)
    assert values[-1] == pytest.approx(1.0)
    assert values[50] == pytest.approx(0.998)
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert math.isclose(cosine_momentum(500, 100), 1.0)
