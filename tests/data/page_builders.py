"""Test helpers: a small synthetic signal cache (patients with several ECGs) and shards of it."""
from __future__ import annotations

from pathlib import Path

from ecgimg.data import synthetic_cohort_cache
from ecgimg.pages import cli

#: ecg-render flags every shard test uses: small random pages, two views per record.
SHARD_FLAGS = ("--format", "wds", "--views", "2", "--size", "160", "--random", "--no-progress",
               "--records-per-shard", "4")


def small_cache(root: Path, n_patients: int = 6, ecgs_per_patient: int = 2) -> Path:
    path = root / f"cache_p{n_patients}_e{ecgs_per_patient}"
    if not path.is_dir():
        synthetic_cohort_cache(path, n_patients=n_patients, ecgs_per_patient=ecgs_per_patient, seed=0)
    return path


def render_shards(cache: Path, out: Path, jobs: int = 1, extra: tuple = (), workers: int = 1) -> Path:
    for job in range(jobs):
        status = cli.main([str(cache), "-o", str(out), *SHARD_FLAGS, "--shard", f"{job}/{jobs}",
                           "--workers", str(workers), *extra])
        assert status == 0
    return out
