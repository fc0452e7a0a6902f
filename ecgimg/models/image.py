"""Image models: a timm backbone + projection head (contrastive pretraining) + classifier head.

Random initialisation by default (`pretrained=False` is always passed to timm, so nothing is
downloaded); ImageNet or BCL/SimCLR weights come only from a local file given by path.
"""
from __future__ import annotations

from pathlib import Path

import timm
from timm.models import adapt_input_conv
import torch
import torch.nn as nn

from ecgimg.models.registry import register_model
from ecgimg.weights import CheckpointError, load_state, read_state_dict

HEADS = ("features", "projection", "logits")


class ProjectionHead(nn.Module):
    """SimCLR-style MLP (Linear-BN-ReLU-Linear) mapping pooled features to the contrastive space."""

    def __init__(self, in_features: int, hidden_features: int = 512, out_features: int = 128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden_features), nn.BatchNorm1d(hidden_features),
            nn.ReLU(inplace=True), nn.Linear(hidden_features, out_features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class ImageEncoder(nn.Module):
    """timm backbone with pooled features, a projection head and an optional multi-label classifier.

    forward(x, head=None): head "features" -> pooled (B, F); "projection" -> (B, proj_dim);
    "logits" -> (B, num_classes). The default is logits when a classifier exists, else projection.
    """

    def __init__(self, timm_name: str = "efficientnet_b3", pretrained_path: str | Path | None = None,
                 in_chans: int = 3, num_classes: int = 0, proj_dim: int = 128,
                 proj_hidden: int = 512, drop_rate: float = 0.0, input_size: int = 300):
        super().__init__()
        self.timm_name = timm_name
        self.input_size = input_size  # px, square; what the data pipeline should render/resize to
        self.in_chans = in_chans
        # pretrained=False ALWAYS: weights only ever come from a local file (load_pretrained)
        self.backbone = timm.create_model(timm_name, pretrained=False, num_classes=0,
                                          in_chans=in_chans, drop_rate=drop_rate)
        # pooled width: timm's head_hidden_size where a head conv follows (MobileNetV3: 1024, not 576)
        self.num_features = int(getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features)
        self.projector = ProjectionHead(self.num_features, proj_hidden, proj_dim)
        self.classifier: nn.Module | None = None
        self._frozen = False
        if num_classes:
            self.reset_classifier(num_classes)
        if pretrained_path is not None:
            self.load_pretrained(pretrained_path)

    # ---------------------------------------------------------------- heads
    def reset_classifier(self, num_classes: int, drop_rate: float = 0.0) -> None:
        """Attach a fresh multi-label classifier (logits, train with BCE) on pooled features."""
        self.classifier = nn.Sequential(nn.Dropout(drop_rate), nn.Linear(self.num_features, num_classes)) \
            if num_classes else None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor, head: str | None = None) -> torch.Tensor:
        head = head or ("logits" if self.classifier is not None else "projection")
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; choose one of {HEADS}")
        features = self.forward_features(x)
        if head == "features":
            return features
        if head == "projection":
            return self.projector(features)
        if self.classifier is None:
            raise RuntimeError("no classifier head: call reset_classifier(num_classes) first")
        return self.classifier(features)

    # ---------------------------------------------------------------- linear probing
    def freeze_backbone(self, frozen: bool = True) -> None:
        """Linear probing: backbone (and projector) weights fixed and BatchNorm statistics frozen."""
        self._frozen = frozen
        for module in (self.backbone, self.projector):
            for p in module.parameters():
                p.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> "ImageEncoder":
        super().train(mode)
        if self._frozen:  # keep BN running stats fixed while the classifier trains
            self.backbone.eval()
            self.projector.eval()
        return self

    # ---------------------------------------------------------------- weights
    def load_pretrained(self, path: str | Path, strict_backbone: bool = False) -> dict:
        """Load local weights: a timm/ImageNet backbone state dict or a full ImageEncoder checkpoint.

        Accepts .safetensors or torch files (read by `ecgimg.weights`: weights_only=True,
        optionally wrapped in {"model": ...} / {"state_dict": ...}, DDP/compile prefixes
        stripped; any problem with the file is a `CheckpointError` naming it); drops entries whose
        shape does not match (e.g. an ImageNet 1000-class classifier). Returns {"missing",
        "unexpected", "skipped"} key lists so callers can check what was loaded.
        """
        state = read_state_dict(path)
        is_encoder_ckpt = any(k.startswith(("backbone.", "projector.")) for k in state)
        target = self if is_encoder_ckpt else self.backbone
        own = target.state_dict()
        for k, v in state.items():  # RGB ImageNet stem -> greyscale (or other) input: timm's adaptation
            if k in own and v.dim() == 4 and own[k].shape[1] != v.shape[1] and v.shape[1] == 3 \
                    and own[k].shape[0] == v.shape[0] and own[k].shape[2:] == v.shape[2:]:
                state[k] = adapt_input_conv(own[k].shape[1], v)
        skipped = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
        loadable = {k: v for k, v in state.items() if k in own and k not in skipped}
        if not loadable:
            raise CheckpointError(path, f"no tensor in this file matches {self.timm_name} "
                                        f"(first keys: {list(state)[:5]})")
        missing, _ = load_state(target, loadable, path, strict=False)
        if strict_backbone:
            bad = [k for k in missing if is_encoder_ckpt is False or k.startswith("backbone.")]
            if bad:
                raise CheckpointError(path, f"backbone weights missing for {bad[:5]}...")
        return {"missing": missing, "unexpected": [k for k in state if k not in own], "skipped": skipped}


def timm_model(timm_name: str, **kwargs) -> ImageEncoder:
    """Any timm architecture as an ImageEncoder (`create_model("timm:<name>")` routes here)."""
    return ImageEncoder(timm_name.removeprefix("timm:"), **kwargs)


#: registered name -> (timm architecture, default input side in px, why it is here)
IMAGE_BACKBONES = {
    "image_efficientnet_b3": ("efficientnet_b3", 300,
                              "Default image model (the BCL lab's public image models, 300x300)."),
    "image_resnet50": ("resnet50", 224, "ResNet-50 baseline."),
    "image_convnext_tiny": ("convnext_tiny", 224, "ConvNeXt-Tiny baseline."),
    "image_resnet18": ("resnet18", 128, "CPU-friendly option for tests, demos and benchmarks."),
    "image_efficientnet_b0": ("efficientnet_b0", 224, "CPU-friendly EfficientNet for demos."),
}


def _register_backbone(name: str, timm_name: str, input_size: int, doc: str) -> None:
    def factory(**kwargs) -> ImageEncoder:
        kwargs.setdefault("input_size", input_size)
        return ImageEncoder(timm_name, **kwargs)
    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc
    register_model(factory)


for _name, (_timm_name, _size, _doc) in IMAGE_BACKBONES.items():
    _register_backbone(_name, _timm_name, _size, _doc)
