import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgimg.train.schedule import build_scheduler, warmup_cosine_factor, warmup_cosine_lr


def test_warmup_is_linear_then_cosine_reaches_the_floor():
    lrs = [warmup_cosine_lr(s, base_lr=1.0, warmup_steps=4, total_steps=14, min_lr=0.1) for s in range(16)]
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == pytest.approx(1.0)  # first decay step starts at the peak
    assert lrs[9] == pytest.approx(0.55)  # half-way through the decay: mean of peak and floor
    assert lrs[14] == pytest.approx(0.1) and lrs[15] == pytest.approx(0.1)


@settings(max_examples=60, deadline=None)
@given(warmup=st.integers(0, 50), extra=st.integers(1, 200), min_ratio=st.floats(0, 1))
def test_factor_is_bounded_and_decays_monotonically(warmup, extra, min_ratio):
    total = warmup + extra
    factors = [warmup_cosine_factor(s, warmup, total, min_ratio) for s in range(total + 3)]
    decay = factors[warmup:]
    assert all(0 < f <= 1 + 1e-12 for f in factors[:warmup])
    assert all(min_ratio - 1e-12 <= f <= 1 + 1e-12 for f in decay)
    assert all(a >= b - 1e-12 for a, b in zip(decay, decay[1:]))
    assert max(factors) == pytest.approx(1.0)


def test_lambda_scheduler_applies_the_factor_per_step_and_keeps_group_ratios():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.1}], lr=1.0)
    scheduler = build_scheduler(optimizer, base_lr=1.0, warmup_steps=2, total_steps=10, min_lr=0.0)
    seen = []
    for _ in range(10):
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    expected = [warmup_cosine_lr(s, 1.0, 2, 10) for s in range(10)]
    assert [s[0] for s in seen] == pytest.approx(expected)
    assert [s[1] for s in seen] == pytest.approx([0.1 * e for e in expected])
    assert math.isclose(seen[5][0], 0.5 * (1 + math.cos(math.pi * 3 / 8)))
