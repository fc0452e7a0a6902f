"""BCL through the real engine: rendered view batches -> fit -> checkpoint -> encoder reload."""
from __future__ import annotations

import math

import torch

from ecgimg.data import synthetic_cohort
from ecgimg.data.images import RenderedImages
from ecgimg.data.pairs import PatientViewSampler, ViewLoader
from ecgimg.models.image import timm_model
from ecgimg.ssl.bcl import BCLObjective


def test_fit_bcl_two_steps_and_reload(tmp_path):
    from ecgimg.train import fit
    from ecgimg.train.checkpoint import export_safetensors
    from ecgimg.train.config import TrainConfig
    records = synthetic_cohort(4, 2, seed=1)
    ds = RenderedImages(records, image_size=48, seed=0,
                        policy={"layout": "3x4", "style": "classic", "degrade": None})
    loader = ViewLoader(ds, PatientViewSampler(ds.patient_of_position, patients_per_batch=2, seed=0))
    torch.manual_seed(0)
    model = timm_model("resnet10t", proj_dim=8, proj_hidden=16)
    config = TrainConfig(epochs=1, max_steps=2, lr=1e-3, out_dir=str(tmp_path / "run"), progress=False,
                         monitor="train_loss", device="cpu")
    result = fit(model, loader, None, config, objective=BCLObjective(temperature=0.1))
    losses = [h["train_loss"] for h in result.history if "train_loss" in h]
    assert losses and all(math.isfinite(v) for v in losses)
    export_safetensors(model, tmp_path / "bcl.safetensors")
    clone = timm_model("resnet10t", proj_dim=8, proj_hidden=16, num_classes=3,
                       pretrained_path=tmp_path / "bcl.safetensors")
    x = ds[0]["image"][None]
    model.eval(), clone.eval()
    torch.testing.assert_close(clone(x, head="features"), model(x, head="features"))
