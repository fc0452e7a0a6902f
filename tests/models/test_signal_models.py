"""Every registered signal model runs forward and backward on a small batch."""
from __future__ import annotations

import pytest
import torch

import ecgimg.models.signal  # noqa: F401  (registers the signal models)
from ecgimg.models import create_model, list_models


def _signal_model_names() -> list[str]:
    return [n for n in list_models() if n.startswith(("ecg_", "mae_ecg_"))]


@pytest.mark.parametrize("name", _signal_model_names())
def test_forward_backward(name):
    torch.manual_seed(0)
    kwargs: dict = {"n_samples": 500}
    if any(f"_{size}_" in name for size in ("base", "large", "huge")):
        kwargs["depth"] = 1      # full widths and heads, one block: keeps the CPU budget
    if name.startswith("mae_"):
        kwargs.update(decoder_depth=1)
    elif name.startswith("ecg_vit"):
        kwargs["num_classes"] = 3
    else:
        kwargs["num_classes"] = 3
        kwargs["n_samples"] = 512
    model = create_model(name, **kwargs)
    x = torch.randn(2, 12, kwargs["n_samples"])
    out = model(x)
    if name.startswith("mae_"):
        loss, pred, mask = out
        assert pred.shape[:2] == mask.shape and mask.sum() == 2 * round(mask.shape[1] * 0.75)
    else:
        assert out.shape == (2, 3)
        loss = out.square().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_every_size_is_registered():
    names = _signal_model_names()
    for size in ("tiny", "small", "base", "large", "huge"):
        assert f"ecg_vit_{size}_p250" in names and f"mae_ecg_vit_{size}_p250" in names
    assert "ecg_cnn_baseline" in names
