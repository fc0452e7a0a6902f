"""Build the model a config asks for: a classifier (signal or image) with optional pretrained init,
or a self-supervised model (MAE, contrastive image encoder), plus the matching engine objective."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch.nn as nn

from ecgimg.experiments.schema import SIGNAL_OBJECTIVES, ExperimentConfig, modality_of


def input_key(cfg: ExperimentConfig) -> str:
    """Batch entry the model reads: "signal" or "image"."""
    return "image" if modality_of(cfg.model) == "image" else "signal"


def _image_kwargs(cfg: ExperimentConfig) -> dict:
    return {"input_size": cfg.image.image_size, "in_chans": 1 if cfg.image.grayscale else 3,
            "proj_dim": cfg.pretrain.projection_dim}


def build_classifier(cfg: ExperimentConfig, num_classes: int) -> nn.Module:
    """Registry model with a `num_classes` logit head, initialised from `model.init` if given."""
    from ecgimg.models import create_model
    kwargs = dict(cfg.model.kwargs)
    if modality_of(cfg.model) == "image":
        kwargs = {**_image_kwargs(cfg), **kwargs}
    model = create_model(cfg.model.name, num_classes=num_classes, **kwargs)
    if cfg.model.init:
        load_pretrained(model, cfg.model.init)
    if cfg.model.linear_probe:
        freeze = getattr(model, "freeze_encoder", None) or getattr(model, "freeze_backbone", None)
        if freeze is None:
            raise ValueError(f"model {cfg.model.name!r} has no encoder to freeze for linear probing")
        freeze()
    return model


def load_pretrained(model: nn.Module, path: str | Path) -> None:
    """Encoder weights from a pretraining run (safetensors or engine checkpoint); head stays new."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained weights not found (model.init)")
    loader = getattr(model, "load_pretrained", None)
    if loader is None:
        raise ValueError(f"{type(model).__name__} cannot load pretrained encoder weights ({path})")
    loader(path)


def build_pretrain_model(cfg: ExperimentConfig) -> tuple[nn.Module, Callable]:
    """(model, objective) for `pretrain.objective`: MAE/JEPA/BELL on signals, BCL/SimCLR on images."""
    from ecgimg.models import create_model
    objective = cfg.pretrain.objective
    if objective in SIGNAL_OBJECTIVES:
        from ecgimg.train.objectives import input_loss
        if modality_of(cfg.model) != "signal" or not cfg.model.name.startswith(f"{objective}_"):
            raise ValueError(f"{objective} pretraining needs a signal {objective}_* model "
                             f"(e.g. {objective}_ecg_vit_tiny_p250), got {cfg.model.name!r}")
        return create_model(cfg.model.name, **cfg.model.kwargs), input_loss("signal")
    if modality_of(cfg.model) != "image":
        raise ValueError(f"{objective} pretraining needs an image backbone (image_* or timm:*), "
                         f"got {cfg.model.name!r}")
    model = create_model(cfg.model.name, **{**_image_kwargs(cfg), **cfg.model.kwargs})
    if cfg.model.init:
        load_pretrained(model, cfg.model.init)
    if objective == "bcl":
        from ecgimg.ssl.bcl import BCLObjective
        return model, BCLObjective(temperature=cfg.pretrain.temperature)
    from ecgimg.ssl.simclr import SimCLRObjective
    return model, SimCLRObjective(temperature=cfg.pretrain.temperature)


def encoder_for_export(model: nn.Module) -> nn.Module:
    """The part of a pretrained model a classifier loads: the MAE's encoder, the whole image encoder."""
    encoder = getattr(model, "encoder", None)
    return encoder if isinstance(encoder, nn.Module) else model
