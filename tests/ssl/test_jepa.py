import pytest
import torch
from mask_runs import true_runs

from ecgimg.models import create_model
from ecgimg.models.signal import load_encoder_checkpoint
from ecgimg.models.ema import cosine_momentum

SMALL = dict(depth=2, embed_dim=48, num_heads=2, predictor_dim=32, predictor_depth=1,
             predictor_heads=2)



@pytest.mark.parametrize("name,n_rows,n_time", [("jepa_ecg_vit_tiny_p250", 12, 20),
                                                ("jepa_ecg_vit_tiny_p25x12", 1, 200)])
def test_forward_backward_both_tokenisations(name, n_rows, n_time):
    torch.manual_seed(0)
    model = create_model(name, **SMALL)
    assert len(model.encoder.token_leads) == n_rows and model.encoder.n_time_patches == n_time
    loss, info = model(torch.randn(2, 12, 5000))
    loss.backward()
    assert torch.isfinite(loss) and 0.74 <= info["mask_ratio"].item() <= 0.86
    assert model.encoder.patch_embed.proj.weight.grad is not None
    assert all(p.grad is None and not p.requires_grad for p in model.target_encoder.parameters())


def test_mask_blocks_are_at_least_half_a_second_and_hide_every_lead():
    model = create_model("jepa_ecg_vit_tiny_p25x12", **SMALL)
    assert model.min_block == 10  # 0.5 s / 50 ms
    mask = model.sample_mask(4)
    assert mask.shape == (4, 200)
    for row in mask:
        assert min(true_runs(row)) >= 10
    per_lead = create_model("jepa_ecg_vit_tiny_p250", **SMALL).sample_mask(3).reshape(3, 12, 20)
    assert (per_lead == per_lead[:, :1]).all()  # a masked time hides all 12 leads


def test_target_follows_online_by_ema_only():
    torch.manual_seed(0)
    model = create_model("jepa_ecg_vit_tiny_p250", momentum_total_steps=10, base_momentum=0.9,
                         **SMALL)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    x = torch.randn(2, 12, 5000)
    loss, _ = model(x)          # step 0: no target update yet
    opt.zero_grad()
    loss.backward()
    opt.step()
    old_target = [p.clone() for p in model.target_encoder.parameters()]
    online = [p.clone() for p in model.encoder.parameters()]
    model(x)                    # step 1 begins by updating the target
    m = cosine_momentum(1, 10, 0.9)
    for t, o_t, o in zip(model.target_encoder.parameters(), old_target, online):
        torch.testing.assert_close(t, m * o_t + (1 - m) * o)


def test_classifier_loads_jepa_encoder(tmp_path):
    torch.manual_seed(0)
    jepa = create_model("jepa_ecg_vit_tiny_p250", **SMALL)
    path = tmp_path / "jepa.pt"
    torch.save({"model": jepa.state_dict()}, path)
    clf = create_model("ecg_vit_tiny_p250", num_classes=3, depth=2, embed_dim=48, num_heads=2)
    report = load_encoder_checkpoint(clf.encoder, path)
    assert report.loaded
    for key, value in jepa.encoder.state_dict().items():
        torch.testing.assert_close(clf.encoder.state_dict()[key], value)


def test_bell_on_shared_vit_runs_and_loads_into_classifier(tmp_path):
    torch.manual_seed(0)
    bell = create_model("bell_ecg_vit_tiny_p250", depth=2, embed_dim=48, num_heads=2,
                        projector_dim=16, hidden_dim=32)
    loss, parts = bell(torch.randn(3, 12, 5000))
    loss.backward()
    assert torch.isfinite(loss) and parts["inter"] > 0
    path = tmp_path / "bell.pt"
    torch.save({"model": bell.state_dict()}, path)
    clf = create_model("ecg_vit_tiny_p250", num_classes=2, depth=2, embed_dim=48, num_heads=2)
    load_encoder_checkpoint(clf.encoder, path)
    torch.testing.assert_close(clf.encoder.patch_embed.proj.weight,
                               bell.encoder.patch_embed.proj.weight)
