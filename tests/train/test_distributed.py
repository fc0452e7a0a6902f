"""DDP on CPU: 2 gloo processes must match each other and a single process with the same global batch."""
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist

from ecgimg.train import NonFiniteLossError, TrainConfig, fit, load_checkpoint, make_loader, predict
from ecgimg import distributed
from ecgimg.distributed import all_gather_no_grad, all_gather_with_grad, init_from_env

from ddp_spawn import leave, spawn_ranks
from toys import ToyRegression, TinyMLP, flat_params, mse_objective

WORLD = 2
PER_RANK_BATCH = 4


def _config(out_dir, **kw):
    return TrainConfig(epochs=2, lr=1e-2, grad_accum_steps=2, clip_grad_norm=0.5, warmup_steps=1,
                       out_dir=str(out_dir), progress=False, log_every=1, **kw)


class SimulatedCrash(RuntimeError):
    pass


def _train(batch_size, out_dir, crash_at_call=None, resume=None, **kw):
    calls = {"n": 0}

    def objective(model, batch):
        calls["n"] += 1
        if calls["n"] == crash_at_call:
            raise SimulatedCrash("killed")
        return mse_objective(model, batch)

    model = TinyMLP()
    train = make_loader(ToyRegression(40), batch_size, seed=4)
    val = make_loader(ToyRegression(18, seed=2), 4, shuffle=False)
    result = fit(model, train, val, _config(out_dir, **kw), objective=objective, resume=resume)
    return model, result


def _gather_grad_error(rank):
    """Each rank's loss uses every rank's rows; x_r.grad must sum the contributions of all ranks."""
    x = (torch.arange(6, dtype=torch.float64).reshape(3, 2) + 10 * rank).requires_grad_()
    weights = torch.arange(1, 3 * WORLD + 1, dtype=torch.float64).reshape(-1, 1)
    gathered = all_gather_with_grad(x)
    ((rank + 1) * weights * gathered ** 2).sum().backward()
    coefficient = sum(k + 1 for k in range(WORLD))  # every rank's loss touches x_r
    expected = 2 * coefficient * weights[3 * rank:3 * rank + 3] * x.detach()
    ids = all_gather_no_grad(torch.tensor([rank, rank]))
    return float((x.grad - expected).abs().max()), gathered.detach(), ids


def _worker(rank, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    assert init_from_env()
    report = {}
    model, result = _train(PER_RANK_BATCH, out_dir / "ddp")
    report["params"] = flat_params(model)
    report["val_loss"] = [h["val_loss"] for h in result.history]
    try:  # every rank dies at its 4th micro-batch (step 2); last.pt holds step 1, mid-epoch
        _train(PER_RANK_BATCH, out_dir / "crash", crash_at_call=4, save_every_steps=1)
    except SimulatedCrash:
        resumed, _ = _train(PER_RANK_BATCH, out_dir / "crash", resume=out_dir / "crash" / "last.pt")
        report["resumed_params"] = flat_params(resumed)
    report["grad_error"], report["gathered"], report["ids"] = _gather_grad_error(rank)
    loader = make_loader(ToyRegression(9), 2, shuffle=False)  # 9 items: the sampler pads one duplicate
    report["predict"] = predict(model, loader, input_key="x")

    def nan_on_rank_1(model, batch):
        out = mse_objective(model, batch)
        return {"loss": out["loss"] * float("nan")} if rank == 1 else out

    try:
        fit(TinyMLP(), make_loader(ToyRegression(16), 4, seed=0), None, _config(out_dir / "nan"),
            objective=nan_on_rank_1)
        report["nan_error"] = None
    except NonFiniteLossError as exc:
        report["nan_error"] = exc.step
    torch.save(report, out_dir / f"rank{rank}.pt")
    distributed.shutdown()
    leave()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(180)
def test_ddp_gloo_two_processes_match_a_single_process(tmp_path):
    spawn_ranks(_worker, (_free_port(), tmp_path), WORLD, [tmp_path / f"rank{r}.pt" for r in range(WORLD)])
    reports = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]

    single_model, single = _train(PER_RANK_BATCH * WORLD, tmp_path / "single")
    assert torch.equal(reports[0]["params"], reports[1]["params"])  # ranks never diverge
    assert torch.allclose(reports[0]["params"], flat_params(single_model), atol=1e-5)
    assert not torch.allclose(flat_params(single_model), flat_params(TinyMLP()), atol=1e-3)  # it did train
    single_val = [h["val_loss"] for h in single.history]
    for report in reports:
        np.testing.assert_allclose(report["val_loss"], single_val, rtol=1e-5)  # sharded val == full val

    for report in reports:  # DDP resume from a mid-epoch checkpoint is exact too
        assert torch.equal(report["resumed_params"], report["params"])

    state = load_checkpoint(tmp_path / "ddp" / "last.pt")  # written by rank 0, RNG of both ranks
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])

    # all_gather_with_grad: gradients sum over every rank's use of the local rows
    assert all(r["grad_error"] < 1e-12 for r in reports)
    assert torch.equal(reports[0]["gathered"][3:], torch.arange(6, dtype=torch.float64).reshape(3, 2) + 10)
    assert reports[0]["ids"].tolist() == [0, 0, 1, 1]

    # predict: every rank gets all 9 items in dataset order, padding duplicate dropped
    for report in reports:
        np.testing.assert_array_equal(report["predict"]["index"], np.arange(9))
    ddp_model = TinyMLP()
    torch.nn.utils.vector_to_parameters(reports[0]["params"], ddp_model.parameters())
    want = predict(ddp_model, make_loader(ToyRegression(9), 9, shuffle=False), input_key="x")
    np.testing.assert_allclose(reports[1]["predict"]["output"], want["output"], rtol=1e-6, atol=1e-6)
    assert want["output"].shape == (9, 1)

    # a NaN on one rank stops both ranks at the same step (no hang in the next all-reduce)
    assert reports[0]["nan_error"] == reports[1]["nan_error"] == 0
