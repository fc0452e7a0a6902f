import json

import pytest

from ecgimg.train import TrainConfig, lr_sweep, make_loader

from toys import ToyRegression, TinyMLP, mse_objective


def test_lr_sweep_trains_one_run_per_lr_and_keeps_the_best(tmp_path):
    train = make_loader(ToyRegression(48), 8, seed=0)
    val = make_loader(ToyRegression(24, seed=5), 24, shuffle=False)
    config = TrainConfig(epochs=3, weight_decay=0.0, out_dir=str(tmp_path), progress=False, log_every=100)
    result = lr_sweep(lambda: TinyMLP(seed=0), train, val, config, lrs=(1e-5, 3e-2, 1e-3), objective=mse_objective)
    values = {lr: run.best_value for lr, run in result.runs.items()}
    assert set(values) == {1e-5, 3e-2, 1e-3}
    assert result.best_lr == min(values, key=values.get) == 3e-2  # the big LR learns fastest in 3 epochs
    assert result.best.best_checkpoint.parent.name == "lr_0.03"
    summary = json.loads((tmp_path / "sweep.json").read_text())
    assert summary["best_lr"] == 3e-2 and summary["runs"]["1e-05"]["best_value"] == pytest.approx(values[1e-5])


def test_lr_sweep_max_mode_and_needs_validation(tmp_path):
    train = make_loader(ToyRegression(16), 8, seed=0)
    config = TrainConfig(epochs=1, out_dir=str(tmp_path), progress=False, monitor="score", monitor_mode="max")
    scores = {1e-3: 0.6, 1e-4: 0.9}

    def metrics_fn(model, loader):
        lr = model.lr_used
        return {"score": scores[lr]}

    def build():
        model = TinyMLP()
        model.lr_used = build.lrs.pop(0)
        return model

    build.lrs = [1e-3, 1e-4]
    result = lr_sweep(build, train, train, config, lrs=(1e-3, 1e-4), objective=mse_objective, metrics_fn=metrics_fn)
    assert result.best_lr == 1e-4
    with pytest.raises(ValueError, match="monitor"):
        lr_sweep(TinyMLP, train, None, config.replace(out_dir=str(tmp_path / "b")), lrs=(1e-3,),
                 objective=mse_objective)
