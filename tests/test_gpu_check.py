"""benchmarks/gpu_check.py in its CPU dry mode: every check runs and the table comes out, so the GPU
script cannot rot between the rare runs on a real device."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.mark.slow
def test_dry_run_completes_every_check(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(SCRIPT.parents[1])}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = proc.stdout.split("\ncheck")[-1]
    for row in ("MAE mae_ecg_vit_tiny_p250 b2 eager", "torch.compile(eager)", "model only", "on the fly",
                "shards: write", "from shards", "exact resume", "torchrun DDP launch",
                "MAE step / full-sequence fine-tuning step"):
        assert row in table, proc.stdout
    assert "FAILED" not in table and "skipped" not in table, proc.stdout
    assert "exact (4 steps" in table and "gloo x2" in table and "identical on all ranks" in table
