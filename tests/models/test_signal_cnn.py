"""The paper's CNN baseline: shapes, lead subsets, feature mode, input checks, it can fit a batch."""
from __future__ import annotations

import pytest
import torch

from ecgimg.models import create_model
from ecgimg.train.objectives import supervised_bce


def test_logits_features_and_lead_subsets():
    model = create_model("ecg_cnn_baseline", num_classes=3).eval()
    assert model(torch.randn(2, 12, 5000)).shape == (2, 3)
    features = create_model("ecg_cnn_baseline", num_classes=0).eval()
    assert features(torch.randn(2, 12, 5000)).shape == (2, 128) and features.num_features == 128
    two_leads = create_model("ecg_cnn_baseline", num_classes=1, leads=("I", "II"), n_samples=1000)
    assert two_leads.eval()(torch.randn(2, 2, 1000)).shape == (2, 1)


def test_input_errors_are_clear():
    model = create_model("ecg_cnn_baseline", num_classes=1, n_samples=1000)
    with pytest.raises(ValueError, match=r"12 leads, 1000 samples.*\(2, 12, 5000\)"):
        model(torch.randn(2, 12, 5000))
    with pytest.raises(ValueError, match="too short"):
        create_model("ecg_cnn_baseline", n_samples=200)


def test_fits_a_small_batch():
    """A handful of Adam steps drive the BCE on a fixed batch down: the graph is trainable."""
    torch.manual_seed(0)
    model = create_model("ecg_cnn_baseline", num_classes=2, n_samples=512, drop_rate=0.0)
    batch = {"signal": torch.randn(4, 12, 512), "target": torch.randint(0, 2, (4, 2)).float()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(10):
        loss = supervised_bce()(model, batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
