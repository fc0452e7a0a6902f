"""Test helper: run a 2-process gloo job and survive gloo's teardown abort, not real failures.

At interpreter exit gloo's worker threads are sometimes destroyed while joinable, and the child
dies with SIGABRT ("terminate called without an active exception") *after* its work is done.
Workers call `leave()` once their results are saved (skipping C++ static destructors), and the
parent accepts an abort only when every rank has already written its result file; the test's
assertions then check those results as usual.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessExitedException


def leave() -> None:
    """End a worker that finished its work: exit 0 without running C++ static destructors."""
    os._exit(0)


def spawn_ranks(worker, args: tuple, nprocs: int, result_files: list) -> None:
    try:
        mp.spawn(worker, args=args, nprocs=nprocs, join=True)
    except ProcessExitedException:
        if not all(Path(f).is_file() for f in result_files):
            raise
