"""The same seed reproduces a run across processes: `ecgimg pretrain` then `ecgimg finetune` in
separate processes give byte-identical weights; another seed gives other weights."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TINY_VIT = "{embed_dim: 32, depth: 1, num_heads: 2}"
TINY_MAE = ("{embed_dim: 32, depth: 1, num_heads: 2, decoder_embed_dim: 16, decoder_depth: 1, "
            "decoder_num_heads: 2}")


def _commands(cache: Path, out: Path, seed: int, threads: int = 1) -> list[list[str]]:
    common = [f"data=cache:{cache}", "data.batch_size=4", "data.eval_batch_size=8",
              "data.num_workers=0", "train.max_steps=3", "train.warmup_epochs=null",
              "train.progress=false", f"torch_threads={threads}", f"seed={seed}", f"out={out}"]
    pretrain = ["pretrain", "-c", "mae_paper", "model=mae_ecg_vit_tiny_p250",
                f"model.kwargs={TINY_MAE}", *common]
    finetune = ["finetune", "-c", "scratch_vit", f"model.kwargs={TINY_VIT}", "task=lvsd",
                f"model.init={out / 'mae_paper' / 'encoder.safetensors'}",
                "finetune.lrs=[1.0e-3, 3.0e-4]", *common]
    return [pretrain, finetune]


DRIVER = """
import sys, json
from ecgimg.cli import main
for argv in json.loads(sys.argv[1]):
    if main(argv) != 0:
        sys.exit(f"ecgimg {argv[0]} failed")
"""


def _tensor_digest(path: Path) -> str:
    state = torch.load(path, map_location="cpu", weights_only=True)["model"]
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].contiguous().numpy().tobytes())
    return digest.hexdigest()


def _digests(out: Path) -> dict[str, str]:
    files = {"encoder.safetensors": out / "mae_paper" / "encoder.safetensors"}
    files.update({str(p.relative_to(out)): p for p in sorted(out.rglob("best.pt"))})
    assert len(files) == 4, sorted(files)  # encoder, MAE best.pt, one best.pt per learning rate
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() if name.endswith(".safetensors")
            else _tensor_digest(path) for name, path in files.items()}


@pytest.mark.slow
def test_same_seed_same_weights_in_two_processes(tmp_path):
    import json

    from ecgimg.cli import main
    from ecgimg.data import synthetic_cohort_cache
    cache = tmp_path / "cache"
    synthetic_cohort_cache(cache, n_patients=16, ecgs_per_patient=2, seed=0)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    procs = {name: subprocess.Popen([sys.executable, "-c", DRIVER,
                                     json.dumps(_commands(cache, tmp_path / name, 0))],
                                    cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
             for name in ("a", "b")}
    # meanwhile, here: the same run with another seed (threads left as the suite set them)
    for argv in _commands(cache, tmp_path / "other", seed=1, threads=0):
        assert main(argv) == 0
    for name, proc in procs.items():
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"run {name}:\n{output[-3000:]}"
    first, second, other = (_digests(tmp_path / name) for name in ("a", "b", "other"))
    assert first == second  # byte-identical encoder file; identical fine-tuned tensors
    assert all(first[name] != other[name] for name in first)  # and the seed matters
