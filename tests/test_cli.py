"""The `ecgimg` command line: every subcommand's help, config printing, clear config errors."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import yaml

from ecgimg.cli import EXPERIMENT_COMMANDS, build_parser, main


@pytest.mark.parametrize("command", [*EXPERIMENT_COMMANDS, "compare", "predict", "render-gallery"])
def test_help_of_every_own_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"ecgimg {command}" in out and "usage" in out.lower()


@pytest.mark.parametrize("argv, module", [(["data", "check", "--help"], "ecgimg.data.check")])
def test_help_of_delegated_subcommands(argv, module, capsys):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} has not landed yet")
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage" in capsys.readouterr().out.lower()


def test_top_level_help_lists_every_command():
    text = build_parser().format_help()
    for command in [*EXPERIMENT_COMMANDS, "compare", "predict", "data", "render-gallery"]:
        assert command in text


def test_print_config_resolves_overrides(capsys):
    assert main(["demo", "--print-config", "train.lr=3e-4", "data=ptbxl:/x",
                 "demo.stages.pretrain_mae.train.max_steps=7"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["train"]["lr"] == pytest.approx(3e-4)
    assert resolved["data"]["source"] == "ptbxl:/x"
    assert resolved["demo"]["stages"]["pretrain_mae"]["train"]["max_steps"] == 7


@pytest.mark.parametrize("override, message", [("train.lrr=1", "did you mean 'lr'"),
                                               ("data.batch_size=big", "expected int")])
def test_config_errors_exit_2_with_the_key(override, message, capsys):
    assert main(["finetune", "-c", "scratch_vit", override]) == 2
    err = capsys.readouterr().err
    assert "config error" in err and message in err


def test_experiment_commands_other_than_demo_need_a_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain"])
    assert exit_info.value.code == 2
    assert "--config" in capsys.readouterr().err


def test_help_is_cheap_and_works_as_a_process():
    # `ecgimg --help` must not import torch (a fresh process proves it)
    code = ("import sys; from ecgimg.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'help imported torch'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pretrain" in done.stdout
