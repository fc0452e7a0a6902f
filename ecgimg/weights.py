"""The one reader of weights files: .pt/.pth through `torch.load(weights_only=True)`, .safetensors.

A top-level module because every layer loads weights: the models fill encoders from pretraining
runs, the engine resumes, the runners evaluate a saved classifier. Everything here reads; the
engine's atomic writes stay in `ecgimg.train.checkpoint`. Every problem with a file is a
`CheckpointError` naming the file and what is wrong with it (a missing file is also a
`FileNotFoundError`, an unusable one also a `ValueError`), never a bare unpickling error.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file as _st_load_file

# Wrappers that prefix parameter names: DDP ("module.") and torch.compile ("_orig_mod.").
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Entries a training script nests its weights under (engine checkpoints: "model").
STATE_KEYS = ("model", "state_dict", "model_state")


class CheckpointError(RuntimeError, ValueError):
    """A weights file is missing, unreadable or lacks what was asked of it.

    A RuntimeError for the engine's callers and a ValueError for the models' (a bad file is a
    bad argument), so code that caught either before still does."""

    def __init__(self, path: os.PathLike | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The weights file does not exist (nothing is ever downloaded)."""


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The bare module under DDP / torch.compile wrappers (whose state_dict keys are plain)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def _check_file(path: Path) -> int:
    """Size of `path`, or a `CheckpointError` when it is missing or empty."""
    if not path.is_file():
        raise CheckpointNotFoundError(path, "weights file not found (weights are read only from "
                                            "local files; nothing is downloaded)")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(path, "empty file (0 bytes): its write was interrupted, or the disk "
                                    "was full")
    return size


def load_checkpoint(path: os.PathLike | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A torch file loaded with `weights_only=True`; a `CheckpointError` naming the file says what
    is wrong: missing, empty, truncated, not a dict, or not loadable without pickled code."""
    path = Path(path)
    size = _check_file(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt / non-weights files
        if zipfile.is_zipfile(path):
            raise CheckpointError(path, f"cannot load with weights_only=True "
                                        f"({type(exc).__name__}: {exc})") from exc
        with open(path, "rb") as handle:
            zip_start = handle.read(4) == b"PK\x03\x04"
        if zip_start:  # a torch zip whose directory (written last) is missing
            raise CheckpointError(path, f"not a complete checkpoint ({size:,} bytes and no zip "
                                        "directory at its end): truncated by an interrupted write "
                                        "or copy") from exc
        raise CheckpointError(path, f"not a weights-only torch checkpoint "
                                    f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(path, f"expected a dict, found {type(state).__name__}")
    return state


def strip_wrapper_prefixes(state: dict[str, Any]) -> dict[str, Any]:
    """Remove "module." / "_orig_mod." prefixes a wrapped model's state_dict may carry."""
    cleaned = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        cleaned[key] = value
    return cleaned


def submodule_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under `prefix` (e.g. "encoder."), renamed without it; `state` itself when no
    key has it (a file that holds the submodule alone)."""
    if any(key.startswith(prefix) for key in state):
        return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    return state


def read_state_dict(path: os.PathLike | str, keys: tuple[str, ...] = STATE_KEYS) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, with plain keys.

    .safetensors as it is; a torch file unwrapped from the entries in `keys` it nests its weights
    under (an engine checkpoint's "model"); wrapper prefixes stripped; non-tensor entries left
    out. A file without a single tensor is a `CheckpointError`."""
    path = Path(path)
    if path.suffix == ".safetensors":
        _check_file(path)
        try:
            state: Any = _st_load_file(str(path))
        except Exception as exc:  # safetensors raises its own error, OSError and others
            raise CheckpointError(path, f"cannot read safetensors weights ({exc})") from exc
    else:
        state = load_checkpoint(path)
        for key in keys:
            if isinstance(state.get(key), dict):
                state = state[key]
    tensors = {k: v for k, v in strip_wrapper_prefixes(state).items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(path, f"no state dict of tensors found (keys: {list(state)[:8]})")
    return tensors


def _tied_aliases(own: dict[str, torch.Tensor], given: set[str]) -> set[str]:
    """Keys of `own` that share their storage with a key in `given` (tied weights, which a
    safetensors export keeps once)."""
    pointers = {own[k].data_ptr() for k in given if k in own and own[k].numel()}
    return {k for k, v in own.items() if k not in given and v.numel() and v.data_ptr() in pointers}


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path: os.PathLike | str,
               strict: bool = True) -> tuple[list[str], list[str]]:
    """Put `state` (read from `path`) into the unwrapped `model`: (missing_keys, unexpected_keys),
    sorted; tied weights filled through an alias do not count as missing. A shape clash, or with
    `strict` any missing or unexpected key, is a `CheckpointError` naming the file."""
    target = unwrap_model(model)
    try:
        result = target.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches raise even with strict=False
        raise CheckpointError(path, f"weights do not fit the model ({exc})") from exc
    aliases = _tied_aliases(target.state_dict(), set(state))
    missing = sorted(k for k in result.missing_keys if k not in aliases)
    unexpected = sorted(result.unexpected_keys)
    if strict and (missing or unexpected):
        raise CheckpointError(path, f"weights do not match the model: missing={missing[:10]}"
                                    f"{'...' if len(missing) > 10 else ''} unexpected={unexpected[:10]}"
                                    f"{'...' if len(unexpected) > 10 else ''}")
    return missing, unexpected


def load_weights(model: torch.nn.Module, path: os.PathLike | str, strict: bool = True,
                 key: str = "model") -> tuple[list[str], list[str]]:
    """Load weights from .safetensors, an engine checkpoint (its `key` entry) or a bare state dict.

    Returns (missing_keys, unexpected_keys). With strict=True any mismatch raises a
    `CheckpointError` naming the file and the keys; with strict=False they are only reported
    (e.g. loading an MAE encoder into a classifier whose head is new).
    """
    return load_state(model, read_state_dict(path, keys=(key,)), path, strict=strict)
