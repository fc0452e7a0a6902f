import json

import pytest

from ecgimg.train.config import TrainConfig


def test_round_trip_through_json():
    config = TrainConfig(epochs=3, max_steps=7, lr=3e-5, betas=(0.8, 0.9), clip_grad_norm=1.0, warmup_epochs=0.5)
    back = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert back == config
    assert isinstance(back.betas, tuple)


def test_unknown_key_is_rejected_with_the_valid_keys():
    with pytest.raises(ValueError, match="unknown TrainConfig keys \\['learning_rate'\\]"):
        TrainConfig.from_dict({"learning_rate": 1e-3})


@pytest.mark.parametrize("key, value", [("epochs", "3"), ("lr", "1e-4"), ("progress", 1.5),
                                         ("clip_grad_norm", "big"), ("epochs", True), ("betas", (0.9, "x"))])
def test_wrong_types_are_rejected(key, value):
    with pytest.raises(TypeError, match=key):
        TrainConfig.from_dict({key: value})


def test_ints_are_accepted_for_floats_and_none_for_optionals():
    config = TrainConfig.from_dict({"lr": 1, "clip_grad_norm": None, "max_steps": None})
    assert config.lr == 1 and config.clip_grad_norm is None


@pytest.mark.parametrize("changes", [{"optimizer": "sgd"}, {"precision": "fp8"}, {"monitor_mode": "up"},
                                     {"grad_accum_steps": 0}, {"max_steps": 0}])
def test_invalid_values_are_rejected(changes):
    with pytest.raises(ValueError):
        TrainConfig(**changes)


def test_replace_type_checks():
    assert TrainConfig().replace(lr=0.5).lr == 0.5
    with pytest.raises(TypeError):
        TrainConfig().replace(lr="fast")
