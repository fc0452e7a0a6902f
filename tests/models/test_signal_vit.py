"""ECG ViT encoder: token order, positions, lead subsets, input checks, normalisation, sizes."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgimg.data.record import STANDARD_LEADS
from ecgimg.models.signal.mae import patchify, unpatchify
from ecgimg.models.signal.normalization import SignalNormalization
from ecgimg.models.signal.vit import VIT_SIZES, ECGViT, sincos_1d

SMALL = dict(embed_dim=32, depth=2, num_heads=2)


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 3), n_leads=st.integers(1, 12), n_time=st.integers(1, 6),
       patch_samples=st.integers(1, 40), all_leads=st.booleans())
def test_patchify_unpatchify_round_trip(batch, n_leads, n_time, patch_samples, all_leads):
    signal = torch.randn(batch, n_leads, n_time * patch_samples)
    patch_leads = n_leads if all_leads else 1
    patches = patchify(signal, patch_samples, patch_leads)
    assert patches.shape == (batch, (n_leads // patch_leads) * n_time, patch_leads * patch_samples)
    assert torch.equal(unpatchify(patches, n_leads, patch_leads), signal)


def test_patch_order_is_lead_major():
    signal = torch.arange(3 * 8, dtype=torch.float32).reshape(1, 3, 8)
    patches = patchify(signal, patch_samples=2)
    for k in range(patches.shape[1]):
        lead, t = divmod(k, 4)
        assert torch.equal(patches[0, k], signal[0, lead, 2 * t:2 * t + 2])


def test_patchify_rejects_lengths_that_do_not_tile():
    with pytest.raises(ValueError, match="does not split"):
        patchify(torch.zeros(1, 12, 1001), 250)


@pytest.mark.parametrize("lead_patch,patch_samples", [("single", 250), ("all", 25)])
def test_patch_embedding_matches_patchify_order(lead_patch, patch_samples):
    """timm PatchEmbed's token k is exactly the linear map of patchify's patch k."""
    encoder = ECGViT(n_samples=1000, lead_patch=lead_patch, patch_samples=patch_samples, **SMALL)
    x = torch.randn(2, 12, 1000)
    tokens = encoder.patch_embed(x.unsqueeze(1))
    weight = encoder.patch_embed.proj.weight.reshape(encoder.embed_dim, -1)
    reference = patchify(x, patch_samples, encoder.patch_leads) @ weight.T + encoder.patch_embed.proj.bias
    assert tokens.shape == (2, encoder.n_tokens, 32)
    torch.testing.assert_close(tokens, reference, atol=1e-5, rtol=1e-5)


def test_default_geometry_is_240_tokens_of_half_a_second():
    encoder = ECGViT(**SMALL)
    assert encoder.n_tokens == 240 and encoder.patch_seconds == 0.5
    feats = encoder.forward_features(torch.randn(1, 12, 5000))
    assert feats.shape == (1, 240, 32)
    assert encoder(torch.randn(2, 12, 5000)).shape == (2, 32)


def test_positions_are_separable_lead_plus_time():
    encoder = ECGViT(n_samples=1000, **SMALL)
    table = encoder.pos().reshape(12, 4, 32)
    lead_part = table - table[:, :1]            # differences along time are the same for every lead
    assert torch.allclose(lead_part, lead_part[:1].expand_as(lead_part), atol=1e-6)
    assert not torch.allclose(table[0], table[1])


def test_sincos_table_is_bounded_and_distinct():
    table = sincos_1d(20, 64)
    assert table.shape == (20, 64) and table.abs().max() <= 1.0
    assert torch.cdist(table, table).add(torch.eye(20)).min() > 0.1


@pytest.mark.parametrize("leads", [("II",), ("II", "V5"), ("V1", "vx")])
def test_lead_subsets_work_and_keep_named_embeddings(leads):
    full = ECGViT(n_samples=500, **SMALL)
    subset = ECGViT(leads=leads, n_samples=500, **SMALL)
    assert subset(torch.randn(2, len(leads), 500)).shape == (2, 32)
    if all(name in STANDARD_LEADS for name in leads):
        subset.load_state_dict(full.state_dict())  # same shapes: 12-lead weights load into a subset
        expected = full.pos.lead_embed[[STANDARD_LEADS.index(n) for n in leads]]
        assert torch.equal(subset.pos.lead_embed[subset.pos.lead_index], expected)


def test_subset_without_names_and_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="lead names"):
        ECGViT(n_leads=2, **SMALL)
    encoder = ECGViT(leads=("II", "V5"), n_samples=500, **SMALL)
    with pytest.raises(ValueError, match=r"2 leads, 500 samples.*\(2, 12, 500\)"):
        encoder(torch.randn(2, 12, 500))
    with pytest.raises(ValueError, match="multiple of patch_samples"):
        ECGViT(n_samples=1100, **SMALL)
    with pytest.raises(ValueError, match="class_token"):
        ECGViT(global_pool="token", **SMALL)


def test_cls_token_pooling_and_learned_time_embedding():
    encoder = ECGViT(n_samples=500, class_token=True, global_pool="token", time_embed="learned", **SMALL)
    feats = encoder.forward_features(torch.randn(2, 12, 500))
    assert feats.shape == (2, 25, 32)
    torch.testing.assert_close(encoder.forward_head(feats), feats[:, 0])
    assert "pos.time_embed" in dict(encoder.named_parameters())


def test_zscore_normalisation_round_trips_and_survives_flat_leads():
    norm = SignalNormalization("zscore")
    x = torch.randn(3, 12, 700) * 2 + 0.5
    x[0, 3] = 0.25  # a flat (disconnected) lead
    z = norm(x)
    assert torch.isfinite(z).all()
    torch.testing.assert_close(z[1].mean(-1), torch.zeros(12), atol=1e-5, rtol=0)
    torch.testing.assert_close(z[1].std(-1, unbiased=False), torch.ones(12), atol=1e-4, rtol=0)
    shift, scale = norm.stats(x)
    torch.testing.assert_close(norm.denormalize(z, shift, scale), x, atol=1e-5, rtol=1e-5)


def test_fixed_scale_and_none_normalisation():
    x = torch.randn(2, 12, 100)
    torch.testing.assert_close(SignalNormalization("scale", scale_mv=2.0)(x), x / 2)
    assert SignalNormalization("none")(x) is x
    with pytest.raises(ValueError, match="unknown input normalisation"):
        SignalNormalization("minmax")


@pytest.mark.parametrize("size", list(VIT_SIZES))
def test_parameter_count_matches_the_standard_vit_formula(size):
    """Counted on the meta device (no memory), compared with 12 D^2 + 13 D per block + embeddings."""
    dim, depth, _heads = VIT_SIZES[size]
    with torch.device("meta"):
        from ecgimg.models import create_model
        encoder = create_model(f"ecg_vit_{size}_p250")
    per_block = 12 * dim * dim + 13 * dim
    expected = depth * per_block + (250 * dim + dim) + 12 * dim + 2 * dim
    assert sum(p.numel() for p in encoder.parameters()) == expected
