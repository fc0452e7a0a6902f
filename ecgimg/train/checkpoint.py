"""Checkpoints as plain dicts of tensors/containers: atomic writes, weights-only loads, RNG capture.

Everything written here loads with `torch.load(weights_only=True)`: no pickled classes (numpy RNG
state is stored as a tensor, the config as a dict). Writes go to a temporary file in the same
directory and are moved into place with `os.replace`, so a crash never leaves a half-written file
under the real name.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model as _st_load_model
from safetensors.torch import save_model as _st_save_model

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


def atomic_torch_save(obj: Any, path: os.PathLike | str) -> Path:
    """`torch.save` to a temp file beside `path`, fsync, then `os.replace` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: os.PathLike | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`; clear error when missing or not a dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "checkpoint file not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt / non-weights files
        raise CheckpointError(path, f"cannot load with weights_only=True ({exc})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(path, f"expected a dict, found {type(state).__name__}")
    return state


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
    """Write the model weights (unwrapped, tied weights deduplicated) as .safetensors, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        _st_save_model(unwrap_model(model), str(tmp), metadata=metadata)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


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
