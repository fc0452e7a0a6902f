"""Checkpoints as plain dicts of tensors/containers: atomic writes, resumable states, RNG capture.

Everything written here loads with `torch.load(weights_only=True)`: no pickled classes (numpy RNG
state is stored as a tensor, the config as a dict). Writes go to a temporary file in the same
directory (``.NAME.tmp-HOST-PID``), are fsynced and checked (the zip directory torch writes last
must be readable), then moved into place with `os.replace`, so a crash never leaves a half-written
file under the real name. ``keep_previous=True`` first moves the file it replaces to
``NAME.prev.EXT``, so one good copy survives even a file damaged after it was written (a truncated
copy, a full disk). Temporary files of processes that died mid-write (killed jobs leave them, up
to a checkpoint's size) are removed by the next save in that directory; only files of this host
whose process no longer exists are touched. Reading any weights file is `ecgimg.weights`.
"""
from __future__ import annotations

import json
import os
import random
import re
import socket
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_model as _st_save_model

# load_weights is re-exported for benchmarks/image_arm_ablation.py, which imports it from here
from ecgimg.weights import CheckpointError, load_checkpoint, load_weights, unwrap_model  # noqa: F401

CHECKPOINT_FORMAT = "ecgimg.train/1"  # the "format" entry of every engine checkpoint
_TEMP_NAME = re.compile(r"^\.(?P<target>.+?)\.tmp-(?:(?P<host>.+)-)?(?P<pid>\d+)$")


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}")


def previous_path(path: os.PathLike | str) -> Path:
    """Where `atomic_torch_save(..., keep_previous=True)` keeps the replaced file: last.prev.pt."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, owned by someone else
        return True
    return True


def remove_orphan_temp_files(directory: os.PathLike | str) -> list[Path]:
    """Delete temporary checkpoint files left in `directory` by dead processes of this host.

    Only names this module writes are considered (``.NAME.tmp-HOST-PID``, or the older
    ``.NAME.tmp-PID``); a file whose process still runs, or that another host wrote (a shared
    file system), is left alone. Returns the files removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    host, removed = socket.gethostname(), []
    for entry in directory.iterdir():
        match = _TEMP_NAME.match(entry.name)
        if match is None or not entry.is_file():
            continue
        pid = int(match["pid"])
        if match["host"] not in (None, host) or pid == os.getpid() or _process_alive(pid):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except FileNotFoundError:  # another process cleaned it first
            pass
    return removed


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: os.PathLike | str, keep_previous: bool = False) -> Path:
    """`torch.save` to a temp file beside `path`, fsync, verify, then `os.replace` (atomic on
    POSIX). With `keep_previous`, the file replaced is kept as `previous_path(path)`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphan_temp_files(path.parent)
    tmp = _temp_path(path)
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        problem = _zip_problem(tmp)
        if problem:
            raise CheckpointError(path, f"the file just written does not verify ({problem}); the "
                                        "previous checkpoint is untouched")
        if keep_previous and path.is_file():
            os.replace(path, previous_path(path))
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _zip_problem(path: Path) -> str | None:
    """Why `path` is not a complete torch zip checkpoint, or None (reads only its directory)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        return f"no readable zip directory: {exc}"
    if not any(name.endswith("data.pkl") for name in names):
        return "no data.pkl inside"
    return None


RESUME_KEYS = ("model", "optimizer", "scheduler", "scaler", "epoch", "step", "batch_in_epoch",
                "best_value", "bad_epochs", "epoch_loss_sum", "epoch_batches", "history", "rng",
                "config")


def check_resumable(path: str | Path, state: dict[str, Any]) -> dict[str, Any]:
    """`state` if it is a complete engine checkpoint, else a `CheckpointError` saying why."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(path, f"not an ecgimg.train checkpoint (format={state.get('format')!r});"
                                    " weights-only files (best.pt exports, .safetensors) cannot "
                                    "resume a run")
    missing = [key for key in RESUME_KEYS if key not in state]
    if missing:
        raise CheckpointError(path, f"incomplete engine checkpoint, lacks {', '.join(missing)}")
    return state


def latest_resumable(out_dir: Path, name: str = "last.pt") -> tuple[Path, dict[str, Any]] | None:
    """(path, state) of the newest loadable of `name` and its kept predecessor, None when neither
    exists; warns when it falls back, raises `CheckpointError` (naming both) when neither loads."""
    problems: list[CheckpointError] = []
    for path in (out_dir / name, previous_path(out_dir / name)):
        if not path.exists():
            continue
        try:
            state = check_resumable(path, load_checkpoint(path, map_location="cpu"))
        except CheckpointError as err:
            problems.append(err)
            continue
        if problems:
            warnings.warn(f"{problems[0]}; resuming from the previous checkpoint {path} instead "
                          "(the steps since then are trained again)", stacklevel=3)
        return path, state
    if problems:
        raise CheckpointError(out_dir / name, "no usable checkpoint to resume from: "
                              + "; ".join(f"{p.path.name}: {p.reason}" for p in problems)
                              + ". Delete them to start afresh, or resume from another file")
    return None


def capture_rng_state() -> dict[str, Any]:
    """RNG states of python, numpy, torch CPU and every CUDA device, as plain containers/tensors."""
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": np_kind, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def model_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """State dict of the unwrapped model (keys without DDP/compile prefixes)."""
    return unwrap_model(model).state_dict()


def export_safetensors(model: torch.nn.Module, path: os.PathLike | str,
                       metadata: dict[str, str] | None = None) -> Path:
    """Write the model weights (unwrapped, tied weights deduplicated) as .safetensors, atomically;
    the same weights and metadata give the same bytes in every process."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphan_temp_files(path.parent)
    tmp = _temp_path(path)
    try:
        _st_save_model(unwrap_model(model), str(tmp), metadata=metadata)
        _sort_safetensors_metadata(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _sort_safetensors_metadata(path: Path) -> None:
    """Rewrite the header's ``__metadata__`` in sorted key order, in place.

    Why by hand: safetensors (<= 0.7) writes metadata from a Rust HashMap, in a random order per
    process (safetensors issue #584, open), so two identical exports differ in bytes. The header
    keeps its length (same entries, reordered; padded with the spaces the format allows), so
    every tensor's data offset stays valid."""
    with open(path, "r+b") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
        metadata = header.get("__metadata__")
        if not metadata or list(metadata) == sorted(metadata):
            return
        header["__metadata__"] = dict(sorted(metadata.items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > length:  # a formatting difference from serde_json: leave the file as is
            return
        handle.seek(8)
        handle.write(text + b" " * (length - len(text)))
