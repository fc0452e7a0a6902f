import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from ecgimg.ssl.probing import AttentiveProbe, attentive_probe, collapse_stats, linear_probe


def _separable(n=200, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = np.stack([(x[:, 0] > 0), (x[:, 1] + x[:, 2] > 0)], axis=1).astype(float)
    return x, y


def test_linear_probe_learns_separable_labels_and_handles_constant_label():
    x, y = _separable()
    scores = linear_probe(x[:150], y[:150], x[150:])
    assert scores.shape == (50, 2)
    for k in range(2):
        assert roc_auc_score(y[150:, k], scores[:, k]) > 0.95
    constant = np.zeros((150, 1))
    assert np.all(linear_probe(x[:150], constant, x[150:]) == 0.0)


def test_attentive_probe_finds_the_informative_token():
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(600, 6, 8)).astype(np.float32)
    tokens[:, 2, 7] += 4.0  # a position marker, as ViT tokens carry their position embedding
    y = (tokens[:, 2, 0] > 0).astype(np.float32)[:, None]  # only token 2 carries the label
    scores = attentive_probe(tokens[:400], y[:400], tokens[400:], epochs=25, lr=3e-3, seed=1)
    assert roc_auc_score(y[400:, 0], scores[:, 0]) > 0.9
    again = attentive_probe(tokens[:400], y[:400], tokens[400:], epochs=25, lr=3e-3, seed=1)
    np.testing.assert_allclose(scores, again)


def test_attentive_probe_module_shape():
    assert AttentiveProbe(8, 3, num_heads=2)(torch.randn(4, 5, 8)).shape == (4, 3)


def test_collapse_stats_distinguishes_collapsed_embeddings():
    rng = np.random.default_rng(0)
    healthy = collapse_stats(rng.normal(size=(500, 16)))
    collapsed = collapse_stats(np.ones((500, 16)) + 1e-6 * rng.normal(size=(500, 16)))
    assert healthy["mean_std"] == pytest.approx(healthy["reference_std"], rel=0.2)
    assert healthy["effective_rank"] > 12
    assert collapsed["mean_std"] < 1e-4 and collapsed["fraction_dims_collapsed"] == 1.0
    shifted = collapse_stats(rng.normal(size=(500, 16)) + 50.0)  # common direction, no collapse
    assert shifted["mean_std"] < 0.2 * healthy["mean_std"]
    assert shifted["centred_mean_std"] == pytest.approx(healthy["centred_mean_std"], rel=0.2)
