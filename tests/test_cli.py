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


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    from ecgimg.data import synthetic_cohort_cache
    path = tmp_path_factory.mktemp("cli") / "cache"
    synthetic_cohort_cache(path, n_patients=12, ecgs_per_patient=2, seed=0)
    return path


def _mistakes(tmp, cache):
    (tmp / "empty").mkdir(exist_ok=True)
    (tmp / "empty.pt").write_bytes(b"")
    out = f"out={tmp / 'runs'}"
    return [
        (["pretrain", "-c", "mae_paper", "model.name=no_such_model", out], 2,
         "model.name 'no_such_model' is not a registered model"),
        (["finetune", "-c", "scratch_vit", "model=ecg_vit_tiy_p250", out], 2,
         "did you mean 'ecg_vit_tiny_p250'"),
        (["finetune", "-c", "scratch_vit", "model=timm:no_such_net", out], 2,
         "timm has no architecture 'no_such_net'"),
        (["finetune", "-c", "scratch_vit", "data=ptbxl:/no/such/path", out], 2,
         "data.source 'ptbxl:/no/such/path': no such folder"),
        (["finetune", "-c", "scratch_vit", f"data=ptbxl:{tmp / 'empty'}", out], 2,
         "has no ptbxl_database.csv (not a PTB-XL root)"),
        (["pretrain", "-c", "mae_paper", "data=foo:bar", out], 2, "kind must be one of"),
        (["finetune", "-c", "scratch_vit", "model.init=/no/such.safetensors", out], 2,
         "model.init '/no/such.safetensors': no such file"),
        (["evaluate", "-c", "scratch_vit", out], 2, "ecgimg evaluate needs the trained weights"),
        (["finetune", "-c", "scratch_vit", f"data=cache:{cache}", "task=no_such_task", out], 2,
         "data.task 'no_such_task': cache:"),
        (["finetune", "-c", "scratch_vit", f"data=wfdb:{tmp / 'empty'}", out], 1,
         "empty: no records found"),
        (["evaluate", "-c", "scratch_vit", f"data=cache:{cache}", f"model.init={tmp / 'empty.pt'}",
          "model.kwargs={embed_dim: 32, depth: 1, num_heads: 2}", out], 1,
         "empty.pt: empty file (0 bytes)"),
        (["finetune", "-c", "scratch_vit", f"data=cache:{cache}", "finetune.label_fractions=[0]",
          out], 1, "fractions must lie in (0, 1]"),
        (["compare", "/no/such/dir", "-o", str(tmp / "report")], 1,
         "/no/such/dir: no such predictions file or run directory"),
        (["predict", "/no/such/folder", "--run", "/no/run", "-o", str(tmp / "p.csv")], 1,
         "/no/such/folder: no such folder of scans"),
        (["predict", str(tmp / "empty"), "--run", "/no/run", "-o", str(tmp / "p.csv")], 1,
         "--run /no/run: not a fine-tuning run directory"),
        (["predict", str(tmp / "empty"), "-o", str(tmp / "p.csv")], 1, "name the model"),
        (["data", "check", str(tmp / "nothing")], 1, "no such file or folder"),
    ]


def test_user_mistakes_print_one_line_and_exit_non_zero(tmp_path, tiny_cache, capsys):
    for argv, code, words in _mistakes(tmp_path, tiny_cache):
        assert main(argv) == code, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err, (argv, err)
        assert err.startswith(f"ecgimg {argv[0]}" if argv[0] != "data" else "ecgimg data check")


def test_traceback_on_request(tmp_path, monkeypatch):
    from ecgimg.config import ConfigError
    with pytest.raises(ConfigError, match="no_such_model"):
        main(["--traceback", "pretrain", "-c", "mae_paper", "model.name=no_such_model"])
    monkeypatch.setenv("ECGIMG_TRACEBACK", "1")
    with pytest.raises(FileNotFoundError):
        main(["compare", str(tmp_path / "nothing"), "-o", str(tmp_path / "r")])


def test_a_mistake_in_a_fresh_process_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ecgimg.cli", "finetune", "-c", "scratch_vit",
                           "data=ptbxl:/no/such/path", f"out={tmp_path}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
