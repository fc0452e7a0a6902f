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


def test_channels_last_layout_and_pool_before_relu_change_no_result(tmp_path):
    """The speed layout (channels-last weights, max-pool before ReLU) computes the paper's
    conv-BN-ReLU-pool network exactly, and its weights round-trip through a plain contiguous copy."""
    from ecgimg.train import export_safetensors
    from ecgimg.weights import load_weights

    torch.manual_seed(0)
    model = create_model("ecg_cnn_baseline", num_classes=2, n_samples=1000).eval()
    for bn in (block[1] for block in model.temporal):  # BN statistics that shift signs
        bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0), bn.bias.data.uniform_(-0.5, 0.5)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.ndim == 4)
    x = torch.randn(3, 12, 1000)

    def paper_order(h):  # conv, BN, ReLU, pool on plain contiguous tensors
        h = model.input_norm(x).unsqueeze(1)
        for conv, bn, pool, _ in model.temporal:
            h = pool(torch.relu(torch.nn.functional.conv2d(h, conv.weight.contiguous(), padding=conv.padding)
                                .sub(bn.running_mean[:, None, None]).div((bn.running_var + bn.eps).sqrt()[:, None, None])
                                .mul(bn.weight[:, None, None]).add(bn.bias[:, None, None])))
        return model.forward_head(model.feature(model.spatial(h)))

    with torch.no_grad():
        torch.testing.assert_close(model(x), paper_order(x), rtol=1e-4, atol=1e-5)
        export_safetensors(model, tmp_path / "w.safetensors")
        again = create_model("ecg_cnn_baseline", num_classes=2, n_samples=1000).eval()
        load_weights(again, tmp_path / "w.safetensors")
        torch.testing.assert_close(again(x), model(x))
