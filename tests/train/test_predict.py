import numpy as np
import torch

from ecgimg.train import make_loader, predict
from ecgimg.train.predict import evaluate_loss

from toys import ToyRegression, TinyMLP, mse_objective


def test_predict_concatenates_in_order_in_eval_mode_without_grad():
    ds = ToyRegression(11)
    model = TinyMLP(dropout=0.5).train()
    out = predict(model, make_loader(ds, 4, shuffle=False), input_key="x")
    assert set(out) == {"output", "target", "index"}
    assert out["output"].shape == (11, 1) and np.array_equal(out["index"], np.arange(11))
    with torch.no_grad():
        want = model.eval()(ds.x).numpy()
    np.testing.assert_allclose(out["output"], want, rtol=1e-6)
    assert model.training is False  # predict restores the mode it found (eval here)


def test_predict_with_a_custom_forward_returning_several_outputs():
    ds = ToyRegression(6)
    model = TinyMLP()

    def forward(model, batch):
        logits = model(batch["x"])
        return {"logits": logits, "prob": torch.sigmoid(logits)}

    out = predict(model, make_loader(ds, 4, shuffle=False), forward=forward, keep_keys=())
    assert set(out) == {"logits", "prob"}
    np.testing.assert_allclose(out["prob"], 1 / (1 + np.exp(-out["logits"])), rtol=1e-5)


def test_evaluate_loss_is_sample_weighted():
    ds = ToyRegression(10)
    model = TinyMLP()
    got = evaluate_loss(model, make_loader(ds, 4, shuffle=False), mse_objective, torch.device("cpu"))
    with torch.no_grad():
        want = torch.nn.functional.mse_loss(model(ds.x), ds.y).item()
    assert abs(got["loss"] - want) < 1e-6 and set(got) == {"loss", "mae"}
