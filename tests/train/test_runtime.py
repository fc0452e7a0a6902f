from collections import namedtuple

import pytest
import torch

from ecgimg.train import TrainConfig, fit, make_loader
from ecgimg.train.runtime import (batch_size_of, build_optimizer, move_to_device, resolve_device,
                                  resolve_precision)

from toys import ToyRegression, TinyMLP, mse_objective


def test_precision_and_device_resolution(monkeypatch):
    from ecgimg.train import runtime
    for amx, fast in ((False, "fp32"), (True, "bf16")):  # "fast" uses bf16 only on AMX CPUs
        monkeypatch.setattr(runtime.torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx)
        assert resolve_precision("auto", torch.device("cpu")) == "fp32"
        assert resolve_precision("fast", torch.device("cpu")) == fast
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cpu(tmp_path, precision):
    loader = make_loader(ToyRegression(32), 8)
    result = fit(TinyMLP(), loader, None, TrainConfig(epochs=3, lr=1e-2, precision=precision, out_dir=str(tmp_path),
                                                      progress=False), objective=mse_objective)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_channels_last_reaches_the_model_and_tensorboard_is_written(tmp_path):
    class Conv(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.head = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 1)

        def forward(self, x):
            assert x.is_contiguous(memory_format=torch.channels_last)
            return self.head(self.conv(x).mean((2, 3)))

    data = torch.utils.data.TensorDataset(torch.randn(8, 3, 6, 6), torch.randn(8, 1))

    def objective(model, batch):
        return torch.nn.functional.mse_loss(model(batch[0]), batch[1])

    fit(Conv(), make_loader(data, 4), None, TrainConfig(epochs=1, channels_last=True, tensorboard=True,
                                                        out_dir=str(tmp_path), progress=False), objective=objective)
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_move_to_device_keeps_structure_and_non_tensors():
    Pair = namedtuple("Pair", "a b")
    batch = {"x": torch.zeros(2, 3), "ids": ["p1", "p2"], "nested": Pair(torch.ones(2), 5)}
    moved = move_to_device(batch, torch.device("cpu"))
    assert moved["ids"] == ["p1", "p2"] and isinstance(moved["nested"], Pair) and moved["nested"].b == 5
    assert batch_size_of(batch) == 2 and batch_size_of({"ids": ["a"]}) == 1


def test_weight_decay_skips_biases_norms_and_named_parameters():
    class WithToken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.token = torch.nn.Parameter(torch.zeros(1, 4, 4))
            self.lin, self.norm = torch.nn.Linear(4, 4), torch.nn.LayerNorm(4)

        def no_weight_decay(self):
            return {"token"}

    groups = build_optimizer(WithToken(), TrainConfig(weight_decay=0.1)).param_groups
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    model_params = dict(WithToken().named_parameters())
    assert len(decayed) == 1 and groups[0]["params"][0].shape == model_params["lin.weight"].shape
    assert groups[0]["betas"] == (0.9, 0.95)
