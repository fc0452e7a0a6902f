import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from ecgimg.train import NonFiniteLossError, TrainConfig, fit, load_checkpoint, make_loader
from ecgimg.train.schedule import warmup_cosine_lr

from toys import ToyRegression, TinyMLP, flat_params, mse_objective, read_metrics


def _config(tmp_path, **kw):
    base = dict(epochs=3, lr=1e-2, weight_decay=0.0, out_dir=str(tmp_path), log_every=1, progress=False)
    return TrainConfig(**{**base, **kw})


def _loaders(batch_size=8, n=64, seed=0):
    return make_loader(ToyRegression(n), batch_size, seed=seed), make_loader(ToyRegression(32, seed=9), 16, shuffle=False)


def test_it_trains_and_writes_logs_and_checkpoints(tmp_path):
    train, val = _loaders()
    model = TinyMLP()
    result = fit(model, train, val, _config(tmp_path, epochs=8, warmup_steps=4), objective=mse_objective)
    losses = [h["val_loss"] for h in result.history]
    assert losses[-1] < 0.3 * losses[0]
    assert len(result.history) == 8 and result.history[-1]["step"] == 64
    assert {"train_loss", "val_loss", "val_mae", "lr"} <= set(result.history[0])
    assert result.best_value == min(losses)
    best = load_checkpoint(result.best_checkpoint)  # weights_only=True
    assert best["epoch"] == 1 + losses.index(min(losses))
    assert torch.equal(torch.cat([v.reshape(-1) for v in load_checkpoint(result.last_checkpoint)["model"].values()]),
                       flat_params(model))
    steps = read_metrics(tmp_path / "metrics.jsonl", "train")
    assert [r["step"] for r in steps] == list(range(1, 65))
    assert all(r["samples_per_s"] > 0 for r in steps)
    assert [r["lr"] for r in steps[:4]] == pytest.approx([warmup_cosine_lr(s, 1e-2, 4, 64) for s in range(1, 5)])
    assert (tmp_path / "config.json").is_file()


def test_default_objective_uses_the_models_own_loss(tmp_path):
    class SelfSupervised(torch.nn.Module):  # returns (loss, pred, mask) like the MAE
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(8, 8)

        def forward(self, x):
            pred = self.lin(x)
            return ((pred - x) ** 2).mean(), pred, None

    train = make_loader(torch.randn(64, 8), 8, seed=0)
    result = fit(SelfSupervised(), train, None, _config(tmp_path, epochs=6, lr=5e-2))
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]
    assert result.best_checkpoint is None and result.last_checkpoint.is_file()


def test_grad_accumulation_matches_a_bigger_batch(tmp_path):
    def train(batch_size, accum, out):
        model = TinyMLP()
        loader = make_loader(ToyRegression(40), batch_size, seed=4)  # 40/8: last group is complete
        fit(model, loader, None, _config(tmp_path / out, grad_accum_steps=accum, epochs=2), objective=mse_objective)
        return flat_params(model)

    big = train(8, 1, "big")
    accumulated = train(4, 2, "acc")
    assert torch.allclose(big, accumulated, atol=1e-6)
    assert not torch.allclose(big, flat_params(TinyMLP()), atol=1e-3)


def test_grad_accumulation_scales_a_short_last_group(tmp_path):
    # 36 samples: batch 12 gives 3 steps; batch 4 x accum 3 gives the same 3 groups.
    def train(batch_size, accum, out):
        model = TinyMLP()
        fit(model, make_loader(ToyRegression(36), batch_size, seed=4), None,
            _config(tmp_path / out, grad_accum_steps=accum, epochs=1, optimizer="adam"), objective=mse_objective)
        return flat_params(model)

    assert torch.allclose(train(12, 1, "a"), train(4, 3, "b"), atol=1e-6)
    # 10 batches of 4 with accum 4: groups of 4, 4, 2 -> last group averages over 2 micro-batches
    model = TinyMLP()
    result = fit(model, make_loader(ToyRegression(40), 4, seed=4), None,
                 _config(tmp_path / "c", grad_accum_steps=4, epochs=1), objective=mse_objective)
    assert result.history[-1]["step"] == 3


def test_gradients_are_clipped_before_the_step(tmp_path):
    norms = []

    def record(optimizer, args, kwargs):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())

    handle = register_optimizer_step_pre_hook(record)
    try:
        train, _ = _loaders()
        fit(TinyMLP(), train, None, _config(tmp_path, clip_grad_norm=0.05, epochs=1), objective=mse_objective)
    finally:
        handle.remove()
    logged = [r["grad_norm"] for r in read_metrics(tmp_path / "metrics.jsonl", "train")]
    assert len(norms) == 8 and max(norms) <= 0.05 + 1e-6
    assert min(logged) > 0.05  # the pre-clip norms were larger: clipping did act


def test_non_finite_loss_stops_with_a_clear_error(tmp_path):
    calls = {"n": 0}

    def explodes_on_third_batch(model, batch):
        calls["n"] += 1
        out = mse_objective(model, batch)
        return {"loss": out["loss"] * float("nan")} if calls["n"] == 11 else out

    model = TinyMLP()
    with pytest.raises(NonFiniteLossError, match="epoch 1, optimizer step 10, batch 2") as info:
        fit(model, _loaders()[0], None, _config(tmp_path), objective=explodes_on_third_batch)
    assert info.value.step == 10 and info.value.epoch == 1
    assert torch.isfinite(flat_params(model)).all()


def test_best_checkpoint_and_early_stopping_follow_a_chosen_metric(tmp_path):
    scores = iter([0.5, 0.8, 0.7, 0.75, 0.6, 0.9, 0.99])

    def metrics_fn(model, loader):
        return {"auroc": next(scores)}

    train, val = _loaders()
    config = _config(tmp_path, epochs=7, monitor="auroc", monitor_mode="max", early_stopping_patience=3)
    result = fit(TinyMLP(), train, val, config, objective=mse_objective, metrics_fn=metrics_fn)
    assert [h["auroc"] for h in result.history] == [0.5, 0.8, 0.7, 0.75, 0.6]  # stopped after 3 bad epochs
    assert result.best_value == 0.8 and [h["best"] for h in result.history] == [True, True, False, False, False]
    assert load_checkpoint(result.best_checkpoint)["epoch"] == 2
    assert load_checkpoint(result.last_checkpoint)["epoch"] == 5


def test_missing_monitor_key_is_reported(tmp_path):
    train, val = _loaders()
    with pytest.raises(KeyError, match="'auroc'"):
        fit(TinyMLP(), train, val, _config(tmp_path, monitor="auroc"), objective=mse_objective)


def test_max_steps_caps_training_mid_epoch(tmp_path):
    train, _ = _loaders()
    result = fit(TinyMLP(), train, None, _config(tmp_path, epochs=10, max_steps=5), objective=mse_objective)
    assert result.history[-1]["step"] == 5 and len(result.history) == 1


def test_progress_report_lines_name_the_run_and_count_down(tmp_path, capsys):
    train, val = _loaders()
    fit(TinyMLP(), train, val, _config(tmp_path / "demo" / "arm", epochs=2, report_every_s=0.0),
        objective=mse_objective)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(lines) == 16  # every step when every_s is 0
    assert lines[0].startswith(f"[{tmp_path.name}/demo/arm] step 1/16 (epoch 1/2) loss ")
    assert lines[-1].startswith(f"[{tmp_path.name}/demo/arm] step 16/16 (epoch 2/2)")
    assert lines[-1].endswith("ETA 0:00")


def test_progress_report_is_off_by_default(tmp_path, capsys):
    train, val = _loaders()
    fit(TinyMLP(), train, val, _config(tmp_path, epochs=1), objective=mse_objective)
    assert "ETA" not in capsys.readouterr().out
