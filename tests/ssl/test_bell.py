import pytest
import torch

from ecgimg.models.signal.bell import BELL, MultiBranchEncoder, bell_loss, inter_lead_loss, intra_lead_loss


def _hand_example():
    # batch 1, 2 leads, 2-d latents; norms differ so normalisation matters
    pred = torch.tensor([[[2.0, 0.0], [6.0, 8.0]]])      # unit: (1,0), (0.6,0.8)
    target = torch.tensor([[[1.0, 0.0], [0.0, 3.0]]])    # unit: (1,0), (0,1)
    return pred, target


def test_intra_lead_loss_hand_computed():
    pred, target = _hand_example()
    # lead0: |(1,0)-(1,0)|^2 = 0 ; lead1: |(0.6,0.8)-(0,1)|^2 = 0.36+0.04 = 0.40
    assert intra_lead_loss(pred, target).item() == pytest.approx((0.0 + 0.40) / 2)


def test_inter_lead_loss_hand_computed():
    pred, target = _hand_example()
    # pred0 vs target1: |(1,0)-(0,1)|^2 = 2 ; pred1 vs target0: |(0.6,0.8)-(1,0)|^2 = 0.16+0.64 = 0.8
    assert inter_lead_loss(pred, target).item() == pytest.approx((2.0 + 0.8) / 2)


def test_fused_loss_weights_terms():
    pred, target = _hand_example()
    out = bell_loss(pred, target, intra_weight=0.25)
    assert out["loss"].item() == pytest.approx(0.25 * 0.2 + 0.75 * 1.4)


def test_multibranch_encoder_gives_per_lead_features():
    enc = MultiBranchEncoder(n_leads=3, feature_dim=16, width=4)
    out = enc(torch.randn(2, 3, 1000))
    assert out.shape == (2, 3, 16)
    with pytest.raises(ValueError, match="expects 3 leads"):
        enc(torch.randn(2, 4, 1000))


def test_bell_trains_target_by_ema_only_and_is_reproducible():
    torch.manual_seed(0)
    model = BELL(MultiBranchEncoder(n_leads=2, feature_dim=16, width=4), feature_dim=16,
                 projector_dim=8, hidden_dim=16, momentum_total_steps=10, seed=3)
    x = torch.randn(4, 2, 1000)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    target_before = [p.clone() for p in model.target_encoder.parameters()]
    losses = []
    for _ in range(3):
        loss, parts = model(x)
        assert torch.isfinite(loss) and set(parts) == {"intra", "inter"}
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is None for p in model.target_encoder.parameters())
        opt.step()
        losses.append(loss.item())
    assert any(not torch.equal(a, b) for a, b in zip(target_before, model.target_encoder.parameters()))
    assert int(model.step) == 3

    torch.manual_seed(0)
    again = BELL(MultiBranchEncoder(n_leads=2, feature_dim=16, width=4), feature_dim=16,
                 projector_dim=8, hidden_dim=16, momentum_total_steps=10, seed=3)
    opt2 = torch.optim.SGD([p for p in again.parameters() if p.requires_grad], lr=0.1)
    for expected in losses:
        loss, _ = again(x)
        opt2.zero_grad()
        loss.backward()
        opt2.step()
        assert loss.item() == pytest.approx(expected, rel=1e-6)
