"""ViT classifier: loads MAE checkpoints (.pt and .safetensors), linear probing, clear load errors."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ecgimg.models import create_model
from ecgimg.models.signal import ECGViTClassifier
from ecgimg.train.objectives import supervised_bce

TINY = dict(depth=2, n_samples=1000)


@pytest.fixture(scope="module")
def mae():
    torch.manual_seed(0)
    return create_model("mae_ecg_vit_tiny_p250", decoder_depth=1, decoder_embed_dim=32,
                        decoder_num_heads=2, **TINY)


def _assert_encoder_equal(classifier, mae):
    own = classifier.encoder.state_dict()
    for key, value in mae.encoder_state_dict().items():
        assert torch.equal(own[key], value), key


def test_loads_engine_style_pt_checkpoint(mae, tmp_path):
    path = tmp_path / "mae.pt"
    torch.save({"model": mae.state_dict(), "step": 7}, path)
    classifier = create_model("ecg_vit_tiny_p250", num_classes=4, **TINY)
    before = classifier.head.weight.clone()
    report = classifier.load_pretrained(path)
    _assert_encoder_equal(classifier, mae)
    assert report.missing == [] and report.unexpected == []
    assert len(report.loaded) == len(mae.encoder_state_dict())
    assert torch.equal(classifier.head.weight, before)      # head untouched


def test_loads_safetensors_and_bare_encoder_weights(mae, tmp_path):
    full, bare = tmp_path / "mae.safetensors", tmp_path / "encoder.safetensors"
    save_file({k: v.contiguous() for k, v in mae.state_dict().items()}, str(full))
    save_file({k: v.contiguous() for k, v in mae.encoder_state_dict().items()}, str(bare))
    for path in (full, bare):
        classifier = create_model("ecg_vit_tiny_p250", num_classes=2, checkpoint_path=path, **TINY)
        _assert_encoder_equal(classifier, mae)


def test_lead_subset_classifier_loads_twelve_lead_mae(mae, tmp_path):
    path = tmp_path / "mae.pt"
    torch.save({"model": mae.state_dict()}, path)
    classifier = create_model("ecg_vit_tiny_p250", num_classes=1, leads=("II", "V5"), **TINY)
    classifier.load_pretrained(path)
    torch.testing.assert_close(classifier.encoder.pos.lead_embed, mae.encoder.pos.lead_embed)
    assert classifier(torch.randn(2, 2, 1000)).shape == (2, 1)


def test_bad_checkpoints_name_the_file_and_problem(mae, tmp_path):
    classifier = create_model("ecg_vit_tiny_p250", num_classes=2, **TINY)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        classifier.load_pretrained(tmp_path / "missing.pt")
    wide = create_model("mae_ecg_vit_small_p250", depth=1, decoder_depth=1, n_samples=1000)
    torch.save({"model": wide.state_dict()}, tmp_path / "small.pt")
    with pytest.raises(ValueError, match=r"small\.pt: encoder shapes differ"):
        classifier.load_pretrained(tmp_path / "small.pt")
    torch.save({"model": {"foo.weight": torch.zeros(3)}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other\.pt: no encoder weights matched"):
        classifier.load_pretrained(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt: not a weights-only"):
        classifier.load_pretrained(tmp_path / "junk.pt")


def test_linear_probe_trains_the_head_only():
    classifier = create_model("ecg_vit_tiny_p250", num_classes=3, freeze_encoder=True,
                              drop_path_rate=0.1, **TINY)
    classifier.train()
    assert not classifier.encoder.training and classifier.head.training
    batch = {"signal": torch.randn(2, 12, 1000), "target": torch.tensor([[1., 0, 1], [0, 1, 0]])}
    supervised_bce()(classifier, batch)["loss"].backward()
    assert all(p.grad is None for p in classifier.encoder.parameters())
    assert classifier.head.weight.grad is not None and classifier.head.weight.grad.abs().sum() > 0


def test_bce_objective_matches_the_formula_and_accepts_flat_binary_targets():
    classifier = create_model("ecg_vit_tiny_p250", num_classes=1, **TINY)
    batch = {"signal": torch.randn(3, 12, 1000), "target": torch.tensor([1, 0, 1])}
    loss = supervised_bce()(classifier, batch)["loss"]
    logits = classifier(batch["signal"])
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits[:, 0], batch["target"].float()))


def test_num_classes_zero_is_a_feature_extractor_and_token_pooling_needs_cls():
    encoder = create_model("ecg_vit_tiny_p250", **TINY)
    assert not isinstance(encoder, ECGViTClassifier) and encoder(torch.randn(1, 12, 1000)).shape == (1, 192)
    classifier = create_model("ecg_vit_tiny_p250", num_classes=2, class_token=True, global_pool="token", **TINY)
    feats = classifier.forward_features(torch.randn(1, 12, 1000))
    assert classifier.forward_head(feats, pre_logits=True).shape == (1, 192)
    with pytest.raises(ValueError, match="class_token"):
        ECGViTClassifier(encoder, num_classes=2, global_pool="token")
