"""bcl_loss / simclr_loss against a loop-based reference, NT-Xent equivalence, symmetry, DDP on gloo."""
from __future__ import annotations

import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ecgimg.ssl.bcl import BCLObjective, bcl_loss, contrastive_stats
from ecgimg.ssl.simclr import SimCLRObjective, simclr_loss
from ecgimg.distributed import shutdown
from ddp_spawn import leave, spawn_ranks


def reference_supcon_out(emb: torch.Tensor, ids: list[int], temperature: float) -> float:
    """Loop-based SupCon L_out written from the paper's formula, independent of the vectorised code."""
    z = [F.normalize(e.double(), dim=0) for e in emb]
    n = len(z)
    total, anchors = 0.0, 0
    for i in range(n):
        positives = [p for p in range(n) if p != i and ids[p] == ids[i]]
        if not positives:
            continue
        denom = sum(math.exp(float(z[i] @ z[a]) / temperature) for a in range(n) if a != i)
        term = 0.0
        for p in positives:
            term += math.log(math.exp(float(z[i] @ z[p]) / temperature) / denom)
        total += -term / len(positives)
        anchors += 1
    return total / anchors


def reference_nt_xent(emb_a: torch.Tensor, emb_b: torch.Tensor, temperature: float) -> float:
    """Classic SimCLR NT-Xent for 2N views (view a_k pairs with b_k), written as in the SimCLR paper."""
    z = F.normalize(torch.cat([emb_a, emb_b]).double(), dim=1)
    n = emb_a.shape[0]
    sim = z @ z.T / temperature
    losses = []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        others = [k for k in range(2 * n) if k != i]
        losses.append(-(sim[i, j] - torch.logsumexp(sim[i, others], dim=0)))
    return float(torch.stack(losses).mean())


def _cohort_ids(n_patients: int, views: int, rng: np.random.Generator) -> list[int]:
    ids = np.repeat(rng.choice(1000, size=n_patients, replace=False), views)
    return ids[rng.permutation(len(ids))].tolist()


@pytest.mark.parametrize("n_patients", [1, 3, 8])
@pytest.mark.parametrize("views", [2, 3, 4])
@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.5])
def test_matches_loop_reference(n_patients, views, temperature):
    rng = np.random.default_rng(n_patients * 100 + views)
    ids = _cohort_ids(n_patients, views, rng)
    emb = torch.randn(len(ids), 16, generator=torch.Generator().manual_seed(views))
    got = float(bcl_loss(emb, torch.tensor(ids), temperature))
    assert got == pytest.approx(reference_supcon_out(emb, ids, temperature), rel=1e-4, abs=1e-5)


def test_mixed_view_counts_and_singletons_left_out():
    ids = [5, 5, 5, 7, 7, 9, 11, 11, 11, 11]  # 9 has no positive: it is only a negative
    emb = torch.randn(len(ids), 8, generator=torch.Generator().manual_seed(0))
    got = float(bcl_loss(emb, torch.tensor(ids), 0.2))
    assert got == pytest.approx(reference_supcon_out(emb, ids, 0.2), rel=1e-4)
    # a singleton still acts as a negative: removing it changes the loss
    keep = [i for i, p in enumerate(ids) if p != 9]
    assert float(bcl_loss(emb[keep], torch.tensor(ids)[keep], 0.2)) != pytest.approx(got, rel=1e-6)


@pytest.mark.parametrize("n", [1, 4, 16])
def test_equals_nt_xent_for_two_views(n):
    g = torch.Generator().manual_seed(n)
    a, b = torch.randn(n, 12, generator=g), torch.randn(n, 12, generator=g)
    ids = torch.cat([torch.arange(n), torch.arange(n)])
    got = float(simclr_loss(torch.cat([a, b]), ids, 0.1))
    assert got == pytest.approx(reference_nt_xent(a, b, 0.1), rel=1e-4)


def test_symmetric_in_view_order_and_invariant_to_id_codes():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(6, 10, generator=g), torch.randn(6, 10, generator=g)
    ids = torch.cat([torch.arange(6), torch.arange(6)])
    ab = bcl_loss(torch.cat([a, b]), ids)
    ba = bcl_loss(torch.cat([b, a]), ids)
    perm = torch.randperm(12, generator=g)
    shuffled = bcl_loss(torch.cat([a, b])[perm], ids[perm] * 37 + 1000)
    assert float(ab) == pytest.approx(float(ba), rel=1e-6)
    assert float(ab) == pytest.approx(float(shuffled), rel=1e-6)


def test_scale_invariant_and_lower_when_positives_align():
    g = torch.Generator().manual_seed(4)
    ids = torch.arange(8).repeat(2)
    emb = torch.randn(16, 32, generator=g)
    assert float(bcl_loss(emb * 7.0, ids)) == pytest.approx(float(bcl_loss(emb, ids)), rel=1e-5)
    aligned = emb[:8].repeat(2, 1) + 0.01 * torch.randn(16, 32, generator=g)
    assert float(bcl_loss(aligned, ids)) < float(bcl_loss(emb, ids))


def test_no_positive_anywhere_gives_zero_with_graph():
    emb = torch.randn(4, 8, requires_grad=True)
    loss = bcl_loss(emb, torch.arange(4))
    loss.backward()
    assert float(loss.detach()) == 0.0 and emb.grad is not None and torch.all(emb.grad == 0)


def test_gradient_matches_reference_autograd():
    ids = [0, 0, 1, 1, 1, 2]
    emb = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)

    def ref(e):
        z = F.normalize(e, dim=1)
        total = 0.0
        for i in range(6):
            pos = [p for p in range(6) if p != i and ids[p] == ids[i]]
            if not pos:  # patient 2 has one view: negative only
                continue
            others = [k for k in range(6) if k != i]
            lse = torch.logsumexp(z[i] @ z[others].T / 0.1, dim=0)
            total = total + sum(-(z[i] @ z[p] / 0.1 - lse) for p in pos) / len(pos)
        return total / 5

    g_ref, = torch.autograd.grad(ref(emb), emb)
    g_got, = torch.autograd.grad(bcl_loss(emb, torch.tensor(ids)), emb)
    torch.testing.assert_close(g_got.double(), g_ref, rtol=1e-4, atol=1e-6)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="temperature"):
        bcl_loss(torch.randn(4, 3), torch.arange(4), temperature=0.0)
    with pytest.raises(TypeError, match="integer"):
        bcl_loss(torch.randn(4, 3), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="identities"):
        bcl_loss(torch.randn(4, 3), torch.arange(3))


class _Embed(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(6, 4)

    def forward(self, x, head="projection"):
        assert head == "projection"
        return self.lin(x.flatten(1))


def test_objectives_use_patient_vs_ecg_identity():
    model = _Embed()
    x = torch.randn(8, 6)
    batch = {"image": x, "patient": torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]),
             "index": torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])}
    bcl = BCLObjective(temperature=0.2)(model, batch)
    sim = SimCLRObjective(temperature=0.2)(model, batch)
    emb = model(x)
    b, s = float(bcl["loss"].detach()), float(sim["loss"].detach())
    assert b == pytest.approx(float(bcl_loss(emb, batch["patient"], 0.2).detach()), rel=1e-6)
    assert s == pytest.approx(float(bcl_loss(emb, batch["index"], 0.2).detach()), rel=1e-6)
    assert b != pytest.approx(s)
    assert {"pos_cos", "neg_cos", "top1"} <= set(bcl)


def test_embed_views_asks_for_the_projection_only_where_forward_takes_a_head():
    from ecgimg.ssl.bcl import embed_views
    plain = torch.nn.Linear(6, 4)  # forward(input): already an embedding
    x = torch.randn(2, 6)
    torch.testing.assert_close(embed_views(plain, x), plain(x))

    class Broken(_Embed):
        def forward(self, x, head="projection"):
            raise TypeError("a bug inside forward")

    with pytest.raises(TypeError, match="a bug inside forward"):  # not retried without `head`
        embed_views(Broken(), x)


def test_contrastive_stats_top1():
    emb = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]])
    assert contrastive_stats(emb, torch.tensor([0, 0, 1, 1]))["top1"] == 1.0
    assert contrastive_stats(emb, torch.tensor([0, 1, 0, 1]))["top1"] == 0.0


# ---------------------------------------------------------------- DDP (gloo, 2 processes)
WORLD = 2
LOCAL_B = 6


def _global_batch():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(WORLD * LOCAL_B, 6, generator=g)
    # positives deliberately straddle the ranks: patient k's views sit on rank 0 and rank 1
    ids = torch.tensor([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 9])
    return x, ids


def _ddp_worker(rank_: int, port: int, out_dir: str):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank_, world_size=WORLD)
    try:
        torch.manual_seed(0)
        model = DDP(_Embed())
        x, ids = _global_batch()
        sl = slice(rank_ * LOCAL_B, (rank_ + 1) * LOCAL_B)
        loss = bcl_loss(model(x[sl]), ids[sl], 0.1)
        loss.backward()
        torch.save({"loss": loss.detach(), "grad_w": model.module.lin.weight.grad.clone(),
                    "grad_b": model.module.lin.bias.grad.clone()}, os.path.join(out_dir, f"r{rank_}.pt"))
    finally:
        shutdown()
    leave()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_ranks_equal_single_process_on_global_batch(tmp_path):
    spawn_ranks(_ddp_worker, (_free_port(), str(tmp_path)), WORLD,
                [tmp_path / f"r{r}.pt" for r in range(WORLD)])
    results = [torch.load(tmp_path / f"r{r}.pt", weights_only=True) for r in range(WORLD)]

    torch.manual_seed(0)
    single = _Embed()
    x, ids = _global_batch()
    loss = bcl_loss(single(x), ids, 0.1)
    loss.backward()

    # the mean of per-rank losses (what DDP optimises) is the single-process loss on 2B
    mean_loss = sum(float(r["loss"]) for r in results) / WORLD
    assert mean_loss == pytest.approx(float(loss.detach()), rel=1e-5)
    # negatives came from the other rank: a rank-local loss would differ
    local_only = bcl_loss(single(x[:LOCAL_B]), ids[:LOCAL_B], 0.1).detach()
    assert float(local_only) != pytest.approx(float(results[0]["loss"]), rel=1e-3)
    for r in results:  # DDP-averaged gradients equal the single-process gradients
        torch.testing.assert_close(r["grad_w"], single.lin.weight.grad, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(r["grad_b"], single.lin.bias.grad, rtol=1e-5, atol=1e-6)


def test_loss_is_computed_in_fp32_under_bf16_autocast():
    """Similarities of nearly collapsed embeddings differ in the third digit; bf16 would erase
    that, so the loss leaves autocast (the encoder may still run in bf16)."""
    torch.manual_seed(0)
    emb = torch.randn(1, 64) + 0.05 * torch.randn(16, 64)  # cosines around 0.99
    ids = torch.arange(8).repeat_interleave(2)
    reference = bcl_loss(emb, ids, 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = bcl_loss(emb, ids, 0.1)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, reference, rtol=1e-6, atol=1e-6)
