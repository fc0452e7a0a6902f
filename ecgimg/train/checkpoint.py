"""Checkpoints as plain dicts of tensors/containers: atomic writes, weights-only loads, RNG capture.

Everything written here loads with `torch.load(weights_only=True)`: no pickled classes (numpy RNG
state is stored as a tensor, the config as a dict). Writes go to a temporary file in the same
directory (``.NAME.tmp-HOST-PID``), are fsynced and checked (the zip directory torch writes last
must be readable), then moved into place with `os.replace`, so a crash never leaves a half-written
file under the real name. ``keep_previous=True`` first moves the file it replaces to
``NAME.prev.EXT``, so one good copy survives even a file damaged after it was written (a truncated
copy, a full disk). Temporary files of processes that died mid-write (killed jobs leave them, up
to a checkpoint's size) are removed by the next save in that directory; only files of this host
whose process no longer exists are touched.
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
from safetensors.torch import load_model as _st_load_model
from safetensors.torch import save_model as _st_save_model

CHECKPOINT_FORMAT = "ecgimg.train/1"  # the "format" entry of every engine checkpoint
# Wrappers that prefix parameter names: DDP ("module.") and torch.compile ("_orig_mod.").
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable or lacks what was asked of it."""

    def __init__(self, path: os.PathLike | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The bare module under DDP / torch.compile wrappers (whose state_dict keys are plain)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


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


def load_checkpoint(path: os.PathLike | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`; a `CheckpointError` naming the file says what
    is wrong: missing, empty, truncated, not a dict, or not loadable without pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "checkpoint file not found")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(path, "empty file (0 bytes): its write was interrupted, or the disk "
                                    "was full")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt / non-weights files
        if not zipfile.is_zipfile(path):
            raise CheckpointError(path, f"not a complete checkpoint ({size:,} bytes and no zip "
                                        "directory at its end): truncated by an interrupted write "
                                        "or copy, or not a torch file") from exc
        raise CheckpointError(path, f"cannot load with weights_only=True "
                                    f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(path, f"expected a dict, found {type(state).__name__}")
    return state


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


def strip_wrapper_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove "module." / "_orig_mod." prefixes a wrapped model's state_dict may carry."""
    cleaned = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in _WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        cleaned[key] = value
    return cleaned


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


def load_weights(model: torch.nn.Module, path: os.PathLike | str, strict: bool = True,
                 key: str = "model") -> tuple[list[str], list[str]]:
    """Load weights from .safetensors, an engine checkpoint (its `key` entry) or a bare state dict.

    Returns (missing_keys, unexpected_keys). With strict=True any mismatch raises a
    `CheckpointError` naming the file and the keys; with strict=False they are only reported
    (e.g. loading an MAE encoder into a classifier whose head is new).
    """
    path = Path(path)
    target = unwrap_model(model)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise CheckpointError(path, "weights file not found")
        try:
            missing, unexpected = _st_load_model(target, str(path), strict=False)
        except Exception as exc:
            raise CheckpointError(path, f"cannot load safetensors weights ({exc})") from exc
    else:
        state = load_checkpoint(path)
        if key in state and isinstance(state[key], dict):
            state = state[key]
        state = strip_wrapper_prefixes(state)
        try:
            result = target.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches raise even with strict=False
            raise CheckpointError(path, f"weights do not fit the model ({exc})") from exc
        missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    missing, unexpected = sorted(missing), sorted(unexpected)
    if strict and (missing or unexpected):
        raise CheckpointError(path, f"weights do not match the model: missing={missing[:10]}"
                                    f"{'...' if len(missing) > 10 else ''} unexpected={unexpected[:10]}"
                                    f"{'...' if len(unexpected) > 10 else ''}")
    return missing, unexpected
