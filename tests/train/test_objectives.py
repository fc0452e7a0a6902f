import pytest
import torch
import torch.nn.functional as F

from ecgimg.train.objectives import input_loss, loss_dict, model_loss, supervised_bce, supervised_cross_entropy


def test_loss_dict_accepts_tensor_tuple_and_dict():
    loss = torch.tensor(2.0)
    assert loss_dict(loss)["loss"] is not None
    assert loss_dict((loss, torch.zeros(3, 4), torch.ones(3)))["loss"].item() == 2.0
    out = loss_dict({"loss": loss.reshape(1), "acc": torch.tensor(0.5), "pred": torch.zeros(4), "n": 3})
    assert set(out) == {"loss", "acc", "n"} and out["loss"].shape == ()


@pytest.mark.parametrize("bad", [torch.zeros(3), "loss", {"acc": torch.tensor(1.0)}, (1.0, 2.0)])
def test_loss_dict_rejects_non_scalar_or_missing_loss(bad):
    with pytest.raises(TypeError):
        loss_dict(bad)


class ReturnsMaeTuple(torch.nn.Module):
    def forward(self, x):
        return (x.pow(2).mean(), x, torch.zeros(x.shape[0]))


def test_model_loss_feeds_single_tensor_dicts_and_tuples():
    x = torch.randn(2, 3)
    assert model_loss(ReturnsMaeTuple(), x)["loss"] == pytest.approx(x.pow(2).mean().item())
    assert model_loss(ReturnsMaeTuple(), {"signal": x, "id": "a"})["loss"] == pytest.approx(x.pow(2).mean().item())
    assert input_loss("signal")(ReturnsMaeTuple(), {"signal": x, "target": x})["loss"].item() == \
        pytest.approx(x.pow(2).mean().item())


def test_supervised_bce_matches_torch_and_names_missing_keys():
    model = torch.nn.Linear(4, 3)
    batch = {"image": torch.randn(5, 4), "target": torch.randint(0, 2, (5, 3)).float()}
    got = supervised_bce(input_key="image")(model, batch)["loss"]
    want = F.binary_cross_entropy_with_logits(model(batch["image"]), batch["target"])
    assert got.item() == pytest.approx(want.item())
    with pytest.raises(KeyError, match="'signal'"):
        supervised_bce()(model, batch)


def test_cross_entropy_reports_accuracy():
    model = torch.nn.Linear(4, 3)
    batch = {"signal": torch.randn(6, 4), "target": torch.randint(0, 3, (6,))}
    out = supervised_cross_entropy()(model, batch)
    acc = (model(batch["signal"]).argmax(-1) == batch["target"]).float().mean()
    assert out["accuracy"].item() == pytest.approx(acc.item())
