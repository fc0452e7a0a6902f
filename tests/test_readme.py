"""Every Python snippet and CLI line of the README runs (or, where it needs a cluster or an earlier
run's output, at least parses and passes the CLI's own checks), so the README cannot drift.

Snippets run in order in one namespace, from a scratch directory where `../shared` points at the
real data when there is some; a snippet that reads `../shared` skips without it, and so does any
later snippet that needs a name only that one defined.
"""
from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHARED = Path(os.environ.get("ECGIMG_SHARED_DATA", ROOT.parent / "shared" / "data")).parent

# A snippet that needs a cluster's scratch space: its parts are tested elsewhere
# (tests/data/test_page_stream.py streams shards into fit).
CLUSTER_ONLY = ("/scratch/pages",)


def _blocks() -> list[tuple[str, str, int]]:
    """(info string, code, line number) of every fenced block."""
    text = README.read_text(encoding="utf-8")
    return [(m["info"], m["code"], text[:m.start()].count("\n") + 1)
            for m in re.finditer(r"^```(?P<info>\w*)\n(?P<code>.*?)^```", text, re.S | re.M)]


PYTHON = [(code, line) for info, code, line in _blocks() if info == "python"]
CLI = [(line.strip(), n) for info, code, n in _blocks() if info == ""
       for line in code.replace("\\\n", " ").splitlines()
       if line.strip().startswith(("ecgimg ", "ecg-render "))]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Scratch directory laid out like a checkout: `../shared` reaches the real data."""
    base = tmp_path_factory.mktemp("readme")
    work = base / "repo"
    work.mkdir()
    if SHARED.is_dir():
        (base / "shared").symlink_to(SHARED)
    return work


@pytest.fixture(scope="module")
def namespace():
    return {"__name__": "readme", "skipped_names": set()}


def _demo_encoder(work: Path) -> None:
    """What `make demo` writes and the README loads: the demo's MAE encoder, with the demo's
    model.kwargs (so the snippet's stated shape is checked against configs/demo.yaml)."""
    from ecgimg.config import load_config
    from ecgimg.experiments.demo import stage_configs
    from ecgimg.experiments.models import build_pretrain_model, encoder_for_export
    from ecgimg.experiments.schema import ExperimentConfig
    from ecgimg.train.checkpoint import export_safetensors

    cfg = load_config(ExperimentConfig, ROOT / "configs" / "demo.yaml")
    root = work / "runs" / "demo"
    _, stage = stage_configs(cfg, root)["pretrain_mae"]
    model, _ = build_pretrain_model(stage)
    (root / "pretrain_mae").mkdir(parents=True, exist_ok=True)
    export_safetensors(encoder_for_export(model), root / "pretrain_mae" / "encoder.safetensors")


@pytest.mark.parametrize("code,line", PYTHON, ids=[f"line{n}" for _, n in PYTHON])
def test_readme_python(code, line, workdir, namespace, monkeypatch):
    if any(path in code for path in CLUSTER_ONLY):
        pytest.skip(f"README line {line}: needs shards on a cluster path ({CLUSTER_ONLY[0]})")
    if "../shared" in code and not SHARED.is_dir():
        namespace["skipped_names"].update(re.findall(r"^(\w+)\s*=", code, re.M))
        pytest.skip(f"README line {line}: reads ../shared, which is absent")
    needs = {n for n in namespace["skipped_names"] if re.search(rf"\b{n}\b", code)}
    if needs:
        pytest.skip(f"README line {line}: uses {sorted(needs)} from a snippet that needs ../shared")
    monkeypatch.chdir(workdir)
    if "runs/demo/pretrain_mae/encoder.safetensors" in code:
        _demo_encoder(workdir)
    exec(compile(code, f"README.md:{line}", "exec"), namespace)


@pytest.mark.parametrize("command,line", CLI, ids=[f"line{n}" for _, n in CLI])
def test_readme_cli(command, line, workdir, monkeypatch, capsys):
    from ecgimg import cli
    from ecgimg.pages import cli as render_cli

    argv = shlex.split(command, comments=True)
    if "$" in command:  # a SLURM line: its variables exist only in the array job
        argv = [re.sub(r"\$\w+", "1", a) for a in argv]
        argv = [a if a != "1/64" else "0/64" for a in argv]
    monkeypatch.chdir(workdir)
    needs_shared = any("../shared" in a for a in argv)
    if needs_shared and not SHARED.is_dir():
        pytest.skip(f"README line {line}: reads ../shared, which is absent")
    program, args = argv[0], argv[1:]
    if program == "ecg-render":
        parsed = render_cli.parse_args(args)
        if needs_shared:  # render it for real: a quarter of the PTB-XL subset
            assert render_cli.main(args) == 0
            assert any(Path(parsed.out).rglob("*.png"))
        return
    command_name = args[0]
    if command_name in cli.EXPERIMENT_COMMANDS:
        parsed = cli.build_parser().parse_args(args)
        cfg = cli._load(parsed)
        if cfg.model.init and not Path(cfg.model.init).exists():
            # the previous README line's output (`ecgimg pretrain` writes it); only its existence
            # is checked before a run starts
            Path(cfg.model.init).parent.mkdir(parents=True, exist_ok=True)
            Path(cfg.model.init).touch()
        cli.preflight(command_name, cfg)
        return
    # compare / predict read earlier runs' outputs: the line must parse, and its inputs that are
    # real data must exist
    parsed = cli.build_parser().parse_args(args)
    for value in vars(parsed).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item.startswith("../shared"):
                assert Path(item).exists(), f"README line {line}: {item} does not exist"


def test_readme_has_snippets():
    assert len(PYTHON) >= 3 and len(CLI) >= 6, (len(PYTHON), len(CLI))
