import os
import random

import numpy as np
import pytest
import torch

from ecgimg.train import checkpoint as ckpt
from ecgimg.train.checkpoint import atomic_torch_save, capture_rng_state, export_safetensors, restore_rng_state
from ecgimg.weights import CheckpointError, load_checkpoint, load_weights

from toys import TinyMLP, flat_params


def test_atomic_write_leaves_no_partial_file_on_a_crash(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_torch_save({"version": torch.tensor(1)}, path)
    real_save = torch.save

    def crash_half_way(obj, handle, *args, **kwargs):
        handle.write(b"PARTIAL")  # some bytes reach the disk, then the process "dies"
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_half_way)
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save({"version": torch.tensor(2)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(path)["version"].item() == 1  # the previous file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temp file left behind
    with pytest.raises(OSError):
        monkeypatch.setattr(torch, "save", crash_half_way)
        atomic_torch_save({"x": 1}, tmp_path / "new.pt")
    assert not (tmp_path / "new.pt").exists()


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    atomic_torch_save({"rng": capture_rng_state()}, tmp_path / "rng.pt")
    want = (random.random(), np.random.rand(3), torch.rand(3))
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    got = (random.random(), np.random.rand(3), torch.rand(3))
    assert got[0] == want[0] and np.array_equal(got[1], want[1]) and torch.equal(got[2], want[2])


def test_safetensors_export_and_load(tmp_path):
    source, target = TinyMLP(seed=1), TinyMLP(seed=2)
    path = export_safetensors(source, tmp_path / "w.safetensors")
    assert load_weights(target, path) == ([], [])
    assert torch.equal(flat_params(source), flat_params(target))


def test_load_weights_from_checkpoint_strips_wrappers_and_reports_mismatches(tmp_path):
    source = TinyMLP(seed=1)
    state = {f"module.{k}": v for k, v in source.state_dict().items()}  # as saved from a DDP model
    state["module.extra.weight"] = torch.zeros(2)
    atomic_torch_save({"model": state}, tmp_path / "c.pt")
    target = TinyMLP(seed=2)
    with pytest.raises(CheckpointError, match="unexpected=\\['extra.weight'\\]"):
        load_weights(target, tmp_path / "c.pt")
    missing, unexpected = load_weights(target, tmp_path / "c.pt", strict=False)
    assert missing == [] and unexpected == ["extra.weight"]
    assert torch.equal(flat_params(source), flat_params(target))

    bigger = torch.nn.Sequential(TinyMLP(seed=3))  # keys differ entirely ("0.net...")
    missing, unexpected = load_weights(bigger, tmp_path / "c.pt", strict=False)
    assert len(missing) == 4 and len(unexpected) == 5


def test_shape_mismatch_and_garbage_files_raise_typed_errors(tmp_path):
    export_safetensors(TinyMLP(hidden=4), tmp_path / "small.safetensors")
    with pytest.raises(CheckpointError, match="small.safetensors"):
        load_weights(TinyMLP(hidden=16), tmp_path / "small.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"config": CheckpointError("x", "y")}, tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(tmp_path / "pickled.pt")


def _small_state():
    return {"model": TinyMLP().state_dict(), "step": 3}


def test_empty_and_truncated_checkpoints_say_what_is_wrong(tmp_path):
    path = atomic_torch_save(_small_state(), tmp_path / "c.pt")
    data = path.read_bytes()
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty.pt: empty file \(0 bytes\)"):
        load_checkpoint(tmp_path / "empty.pt")
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"half.pt: not a complete checkpoint .*truncated"):
        load_checkpoint(tmp_path / "half.pt")


def test_keep_previous_and_verified_writes(tmp_path):
    path = tmp_path / "last.pt"
    atomic_torch_save({"step": 1}, path, keep_previous=True)
    assert not ckpt.previous_path(path).exists()
    atomic_torch_save({"step": 2}, path, keep_previous=True)
    assert load_checkpoint(path)["step"] == 2
    assert load_checkpoint(tmp_path / "last.prev.pt")["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.prev.pt", "last.pt"]


def test_orphan_temp_files_of_dead_processes_are_removed(tmp_path):
    import socket
    import subprocess
    import sys
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # a pid that has exited
    host = socket.gethostname()
    orphans = [tmp_path / f".last.pt.tmp-{dead}", tmp_path / f".last.pt.tmp-{host}-{dead}"]
    kept = [tmp_path / f".last.pt.tmp-{host}-{os.getpid()}",      # a live writer (this process)
            tmp_path / f".last.pt.tmp-{host}-1",                  # pid 1 is alive
            tmp_path / f".last.pt.tmp-otherhost-{dead}",          # another host's: not ours to judge
            tmp_path / "notes.tmp-123"]                           # not a name this module writes
    for path in orphans + kept:
        path.write_bytes(b"x" * 100)
    atomic_torch_save({"step": 1}, tmp_path / "best.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["best.pt"] + [p.name for p in kept])


def test_safetensors_export_is_byte_identical(tmp_path):
    """safetensors writes metadata in a random order on every save (6 saves: 6 different files
    without the sort); the export sorts it, so identical weights give identical bytes."""
    metadata = {k: k * 2 for k in "abcdefgh"}
    files = [export_safetensors(TinyMLP(seed=1), tmp_path / f"m{i}.safetensors", metadata=metadata)
             for i in range(6)]
    assert len({path.read_bytes() for path in files}) == 1
    from safetensors import safe_open
    with safe_open(str(files[0]), framework="pt") as handle:
        assert handle.metadata() == metadata
    target = TinyMLP(seed=2)
    load_weights(target, files[0])
    assert torch.equal(flat_params(target), flat_params(TinyMLP(seed=1)))
