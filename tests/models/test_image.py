"""Image backbones: registry names, heads, linear probing, local-weights loading (never downloads)."""
from __future__ import annotations

import pytest
import torch

from ecgimg.models import create_model, list_models
from ecgimg.models.image import ImageEncoder, timm_model


def _tiny(**kw) -> ImageEncoder:
    return timm_model("timm:resnet10t", proj_dim=16, proj_hidden=32, **kw)


def test_registered_names():
    create_model("image_resnet18")  # triggers the lazy import
    for name in ("image_efficientnet_b3", "image_resnet50", "image_convnext_tiny", "image_resnet18"):
        assert name in list_models("image_*")


def test_heads_shapes_and_backward():
    model = _tiny(num_classes=3)
    x = torch.randn(2, 3, 64, 64)
    assert model(x, head="features").shape == (2, model.num_features)
    assert model(x, head="projection").shape == (2, 16)
    logits = model(x)
    assert logits.shape == (2, 3)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.backbone.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="head"):
        model(x, head="nope")
    with pytest.raises(RuntimeError, match="classifier"):
        _tiny()(x, head="logits")


def test_greyscale_input_channel():
    model = _tiny(in_chans=1)
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 16)


def test_default_b3_builds_at_300px_without_download():
    model = create_model("image_efficientnet_b3", num_classes=2)
    assert model.input_size == 300 and model.timm_name == "efficientnet_b3"
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 300, 300)).shape == (1, 2)


def test_freeze_backbone_keeps_bn_stats_and_trains_only_classifier():
    model = _tiny(num_classes=2)
    model.freeze_backbone()
    model.train()
    bn = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    model(torch.randn(4, 3, 64, 64) * 5 + 3).sum().backward()
    assert torch.equal(bn.running_mean, before) and not bn.training
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("classifier.") for n in trainable)


def test_load_backbone_weights_from_local_file(tmp_path):
    src = _tiny()
    # a timm-style ImageNet file: bare backbone keys plus a 1000-class classifier that must be skipped
    state = dict(src.backbone.state_dict())
    state["fc.weight"] = torch.randn(1000, src.num_features)
    torch.save({"state_dict": state}, tmp_path / "imagenet.pth")
    dst = _tiny()
    report = dst.load_pretrained(tmp_path / "imagenet.pth")
    for k, v in src.backbone.state_dict().items():
        assert torch.equal(dst.backbone.state_dict()[k], v)
    assert "fc.weight" in report["unexpected"]


def test_load_full_encoder_checkpoint_safetensors(tmp_path):
    from safetensors.torch import save_file
    src = _tiny()
    save_file({f"module.{k}": v.contiguous() for k, v in src.state_dict().items()}, tmp_path / "bcl.safetensors")
    dst = _tiny(num_classes=4, pretrained_path=tmp_path / "bcl.safetensors")
    x = torch.randn(2, 3, 64, 64)
    src.eval(), dst.eval()
    torch.testing.assert_close(dst(x, head="projection"), src(x, head="projection"))


def test_missing_or_foreign_weights_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        _tiny(pretrained_path=tmp_path / "absent.pth")
    torch.save({"foo.weight": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="no tensor"):
        _tiny(pretrained_path=tmp_path / "foreign.pt")


def test_rgb_weights_adapt_to_greyscale_stem(tmp_path):
    src = _tiny()
    torch.save(src.backbone.state_dict(), tmp_path / "rgb.pth")
    dst = _tiny(in_chans=1, pretrained_path=tmp_path / "rgb.pth")
    stem = next(k for k, v in src.backbone.state_dict().items() if v.dim() == 4)
    w_rgb, w_grey = src.backbone.state_dict()[stem], dst.backbone.state_dict()[stem]
    assert w_grey.shape[1] == 1
    torch.testing.assert_close(w_grey[:, 0], w_rgb.sum(dim=1))


def test_hostile_or_garbage_weights_are_checkpoint_errors_naming_the_file(tmp_path):
    from ecgimg.weights import CheckpointError

    class Payload:  # unpickling it would run code: weights_only=True must refuse it
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"state_dict": Payload()}, tmp_path / "hostile.pth")
    with pytest.raises(CheckpointError, match=r"hostile\.pth: cannot load with weights_only=True"):
        _tiny(pretrained_path=tmp_path / "hostile.pth")
    (tmp_path / "garbage.pt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(CheckpointError, match=r"garbage\.pt: not a weights-only torch checkpoint"):
        _tiny().load_pretrained(tmp_path / "garbage.pt")
    (tmp_path / "garbage.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    with pytest.raises(CheckpointError, match=r"garbage\.safetensors: cannot read safetensors"):
        _tiny().load_pretrained(tmp_path / "garbage.safetensors")
