"""Reconstruction figure: writes real PNGs of the right size, validates its inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ecgimg.data.record import STANDARD_LEADS
from ecgimg.evaluate.reconstruction import (masked_spans, plot_reconstruction,
                                            plot_reconstruction_all_leads, reconstruction_figure)
from ecgimg.models import create_model


def _example(n_samples=1000, fs=500.0):
    t = np.arange(n_samples) / fs
    original = np.stack([np.sin(2 * np.pi * (1 + lead / 12) * t) for lead in range(12)]).astype(np.float32)
    mask = np.zeros_like(original, dtype=bool)
    mask[:, 250:500] = True
    return original, mask, original + 0.1 * mask


def test_masked_spans_are_contiguous_runs():
    assert masked_spans(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert masked_spans(np.zeros(4, bool)) == []


def test_two_lead_and_all_lead_figures_are_written(tmp_path):
    original, mask, recon = _example()
    two = plot_reconstruction(original, mask, recon, 500.0, STANDARD_LEADS, tmp_path / "two.png")
    every = plot_reconstruction_all_leads(original, mask, recon, 500.0, STANDARD_LEADS, tmp_path / "all.png")
    h_two, h_all = Image.open(two).size[1], Image.open(every).size[1]
    assert h_all > 3 * h_two                       # one row per lead
    pixels = np.asarray(Image.open(two).convert("RGB")).astype(int)
    reddish = (pixels[..., 0] > 150) & (pixels[..., 1] < 120) & (pixels[..., 2] < 120)
    assert reddish.sum() > 50                     # the reconstruction of the hidden patch is drawn


def test_inputs_are_checked(tmp_path):
    original, mask, recon = _example()
    with pytest.raises(ValueError, match="'V7' is not in"):
        plot_reconstruction(original, mask, recon, 500.0, STANDARD_LEADS, tmp_path / "x.png", ("V7",))
    with pytest.raises(ValueError, match="shapes differ"):
        plot_reconstruction(original, mask[:, :10], recon, 500.0, STANDARD_LEADS, tmp_path / "x.png")
    with pytest.raises(ValueError, match="2 lead names for 12"):
        plot_reconstruction(original, mask, recon, 500.0, ("I", "II"), tmp_path / "x.png")


def test_reconstruction_figure_runs_an_mae(tmp_path):
    torch.manual_seed(0)
    model = create_model("mae_ecg_vit_tiny_p250", depth=1, decoder_depth=1, decoder_embed_dim=32,
                         decoder_num_heads=2, n_samples=1000, leads=("I", "II", "V5"))
    paths = reconstruction_figure(model, np.random.default_rng(0).normal(size=(3, 1000)), tmp_path, seed=1)
    assert set(paths) == {"leads", "all"} and all(p.is_file() and p.stat().st_size > 10_000 for p in paths.values())
