"""An interrupted-and-resumed run must reproduce the uninterrupted run exactly."""
import pytest
import torch

from ecgimg.train import TrainConfig, fit, load_checkpoint, make_loader

from toys import ToyRegression, TinyMLP, flat_params, mse_objective, read_metrics


class SimulatedCrash(RuntimeError):
    pass


def _run(out_dir, crash_at_call=None, resume=None, precision="fp32"):
    calls = {"n": 0}

    def objective(model, batch):
        calls["n"] += 1
        if crash_at_call is not None and calls["n"] == crash_at_call:
            raise SimulatedCrash(f"killed at micro-batch {calls['n']}")
        return mse_objective(model, batch)

    model = TinyMLP(dropout=0.2)  # dropout and the augmentation both draw from the global RNG
    train = make_loader(ToyRegression(40, noisy_augment=True), 4, seed=5)
    val = make_loader(ToyRegression(16, seed=3), 8, shuffle=False)
    config = TrainConfig(epochs=3, lr=1e-2, grad_accum_steps=2, warmup_steps=3, clip_grad_norm=1.0,
                         save_every_steps=3, log_every=1, progress=False, out_dir=str(out_dir), seed=11,
                         precision=precision)
    result = fit(model, train, val, config, objective=objective, resume=resume)
    return model, result


def _losses_by_step(out_dir):
    return {r["step"]: r["loss"] for r in read_metrics(out_dir / "metrics.jsonl", "train")}  # last write wins


# Per epoch: 10 training micro-batches (5 steps) + 2 validation calls. Call 15 dies in epoch 2 after
# last.pt of step 6 (mid-epoch); call 25 dies at the start of epoch 3, after the epoch-2 boundary
# checkpoint (step 10).
@pytest.mark.parametrize("crash_at_call, resumed_step, resumed_batch", [(15, 6, 2), (25, 10, 0)])
def test_resume_reproduces_the_uninterrupted_run(tmp_path, crash_at_call, resumed_step, resumed_batch):
    reference_model, reference = _run(tmp_path / "reference")
    with pytest.raises(SimulatedCrash):
        _run(tmp_path / "crashed", crash_at_call=crash_at_call)
    state = load_checkpoint(tmp_path / "crashed" / "last.pt")
    assert (state["step"], state["batch_in_epoch"]) == (resumed_step, resumed_batch)

    resumed_model, resumed = _run(tmp_path / "crashed", resume=tmp_path / "crashed" / "last.pt")
    assert _losses_by_step(tmp_path / "crashed") == _losses_by_step(tmp_path / "reference")
    assert len(_losses_by_step(tmp_path / "reference")) == 15
    assert torch.equal(flat_params(resumed_model), flat_params(reference_model))
    assert resumed.history == reference.history
    assert resumed.best_value == reference.best_value


def test_resuming_a_finished_run_changes_nothing(tmp_path):
    model, result = _run(tmp_path / "done")
    again, result_again = _run(tmp_path / "done", resume=result.last_checkpoint)
    assert torch.equal(flat_params(again), flat_params(model))
    assert result_again.history == result.history


def test_auto_resume_and_config_change_warning(tmp_path):
    model, result = _run(tmp_path / "auto")
    model_again, again = _run(tmp_path / "auto", resume="auto")  # finds last.pt: nothing left to do
    assert torch.equal(flat_params(model_again), flat_params(model)) and again.history == result.history
    fresh_model, _ = _run(tmp_path / "fresh", resume="auto")  # no last.pt yet: a fresh run
    assert torch.equal(flat_params(fresh_model), flat_params(model))
    with pytest.warns(UserWarning, match="different config \\(\\['epochs'\\]\\)"):
        fit(TinyMLP(), make_loader(ToyRegression(8), 4), None,
            TrainConfig.from_dict({**load_checkpoint(result.last_checkpoint)["config"], "epochs": 4}),
            objective=mse_objective, resume=result.last_checkpoint)


def test_fp16_resume_restores_the_grad_scaler(tmp_path):
    reference_model, _ = _run(tmp_path / "reference", precision="fp16")
    with pytest.raises(SimulatedCrash):
        _run(tmp_path / "crashed", crash_at_call=15, precision="fp16")
    state = load_checkpoint(tmp_path / "crashed" / "last.pt")
    assert state["scaler"]["scale"] < 65536.0  # the scaler has backed off: its state matters
    resumed_model, _ = _run(tmp_path / "crashed", resume=tmp_path / "crashed" / "last.pt", precision="fp16")
    assert _losses_by_step(tmp_path / "crashed") == _losses_by_step(tmp_path / "reference")
    assert torch.equal(flat_params(resumed_model), flat_params(reference_model))


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_resume_auto_falls_back_to_the_previous_checkpoint(tmp_path, damage):
    reference_model, reference = _run(tmp_path / "reference")
    with pytest.raises(SimulatedCrash):
        _run(tmp_path / "crashed", crash_at_call=25)  # after the epoch-2 checkpoint (step 10)
    last, previous = tmp_path / "crashed" / "last.pt", tmp_path / "crashed" / "last.prev.pt"
    assert load_checkpoint(previous)["step"] == 9  # the one before: mid-epoch step 9
    data = last.read_bytes()
    last.write_bytes(b"" if damage == "empty" else data[: len(data) // 3])
    with pytest.warns(UserWarning, match="last.pt: .*resuming from the previous checkpoint"):
        resumed_model, resumed = _run(tmp_path / "crashed", resume="auto")
    assert _losses_by_step(tmp_path / "crashed") == _losses_by_step(tmp_path / "reference")
    assert torch.equal(flat_params(resumed_model), flat_params(reference_model))


def test_resume_auto_fails_clearly_when_nothing_loads(tmp_path):
    from ecgimg.train import CheckpointError
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(b"")
    (out / "last.prev.pt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(CheckpointError, match=r"no usable checkpoint to resume from: last.pt: "
                                              r"empty file .*; last.prev.pt: not a complete"):
        _run(out, resume="auto")
    with pytest.raises(CheckpointError, match=r"last.pt: empty file"):
        _run(out, resume=out / "last.pt")  # an explicit file: no fallback
    torch.save({"model": {}}, out / "weights.pt")
    with pytest.raises(CheckpointError, match="weights.pt: not an ecgimg.train checkpoint"):
        _run(out, resume=out / "weights.pt")
