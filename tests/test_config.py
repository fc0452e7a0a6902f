"""Config files, `key=value` overrides, strict rejection of unknown keys / wrong types, run record."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
import yaml

from ecgimg.config import (CONFIGS_DIR, ConfigError, apply_overrides, build, load_config,
                           parse_override, read_yaml, save_run_record, to_dict)
from ecgimg.experiments.schema import ALIASES, ExperimentConfig, modality_of


def load(path=None, overrides=()):
    return load_config(ExperimentConfig, path, list(overrides), aliases=ALIASES)


def test_defaults_build_without_a_file():
    cfg = load()
    assert cfg.data.source == "synthetic" and cfg.train.lr == pytest.approx(1e-4)


def test_overrides_are_typed_and_nested():
    cfg = load(overrides=["train.lr=3e-4", "train.max_steps=12", "data.batch_size=8",
                          "finetune.label_fractions=[0.01, 0.1, 1.0]", "model.kwargs={depth: 2}",
                          "train.clip_grad_norm=null", "image.grayscale=true"])
    assert cfg.train.lr == pytest.approx(3e-4) and isinstance(cfg.train.lr, float)
    assert cfg.train.max_steps == 12 and cfg.data.batch_size == 8
    assert cfg.finetune.label_fractions == [0.01, 0.1, 1.0]
    assert cfg.model.kwargs == {"depth": 2}
    assert cfg.train.clip_grad_norm is None and cfg.image.grayscale is True


def test_shorthand_aliases():
    cfg = load(overrides=["data=ptbxl:/some/where", "task=superdiagnostic", "out=/tmp/x"])
    assert cfg.data.source == "ptbxl:/some/where"
    assert cfg.data.task == "superdiagnostic" and cfg.out_dir == "/tmp/x"


@pytest.mark.parametrize("override, message", [
    ("train.lrr=1e-3", "did you mean 'lr'"),
    ("trian.lr=1e-3", "unknown config key 'trian'"),
    ("data.batch_size=eight", "data.batch_size: expected int"),
    ("data.batch_size=8.5", "expected int"),
    ("image.grayscale=1", "expected true/false"),
    ("finetune.label_fractions=0.5", "expected a list"),
    ("pretrain.objective=byol", "expected one of"),
    ("model.name=7", "expected str"),
    ("train.lr=fast", "train.lr: expected float"),
    ("train.lr.x=1", "is a value, not a section"),
    ("nonsense", "key=value"),
])
def test_bad_overrides_are_rejected_with_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load(overrides=[override])


def test_engine_validation_surfaces_as_config_error():
    with pytest.raises(ConfigError, match="optimizer"):
        load(overrides=["train.optimizer=sgd"])


def test_yaml_file_with_base_chain_and_rejection(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\ntrain:\n  lr: 0.001\n  epochs: 3\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\nname: child\ntrain:\n  epochs: 5\n")
    cfg = load(tmp_path / "child.yaml", ["seed=7"])
    assert (cfg.name, cfg.train.lr, cfg.train.epochs, cfg.seed) == ("child", 0.001, 5, 7)
    (tmp_path / "bad.yaml").write_text("data:\n  sauce: synthetic\n")
    with pytest.raises(ConfigError, match="'sauce' in section 'data'.*did you mean 'source'"):
        load(tmp_path / "bad.yaml")
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="circular"):
        read_yaml(tmp_path / "loop.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "missing.yaml")


def test_round_trip_through_saved_config(tmp_path):
    cfg = load(overrides=["train.lr=2e-4", "finetune.lrs=[1e-4, 3e-5]", "model.kwargs={depth: 2}"])
    save_run_record(tmp_path, cfg, extra={"stage": "test"})
    again = load(tmp_path / "config.yaml")
    assert to_dict(again) == to_dict(cfg)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["ecgimg_version"] and record["stage"] == "test"
    assert record["git_commit"] is None or len(record["git_commit"]) == 40


@dataclass
class Inner:
    size: int = 1
    names: tuple[str, ...] = ("a",)


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    ratio: float | None = 0.5


def test_generic_machinery_on_a_local_schema():
    values = apply_overrides({}, ["inner.size=3", "inner.names=[x, y]", "ratio=1"], Outer)
    built = build(Outer, values)
    assert built.inner.size == 3 and built.inner.names == ("x", "y") and built.ratio == 1.0
    assert parse_override("a.b='007'") == (["a", "b"], "007")


def test_modality_is_derived_from_the_model_name():
    assert modality_of(load(overrides=["model=timm:resnet18"]).model) == "image"
    assert modality_of(load(overrides=["model=image_efficientnet_b3"]).model) == "image"
    assert modality_of(load(overrides=["model=ecg_cnn_baseline"]).model) == "signal"


@pytest.mark.parametrize("preset", sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")))
def test_every_preset_loads_and_has_a_comment_header(preset):
    path = CONFIGS_DIR / f"{preset}.yaml"
    assert path.read_text().startswith("#"), f"{path} needs a comment header"
    cfg = load(preset)
    assert yaml.safe_load(yaml.safe_dump(to_dict(cfg))) == to_dict(cfg)
