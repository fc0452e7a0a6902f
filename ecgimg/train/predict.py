"""Inference over a loader: validation-loss averages and concatenated predictions, DDP-aware."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from ecgimg import distributed
from ecgimg.train.objectives import loss_dict
from ecgimg.train.runtime import batch_size_of, move_to_device
from ecgimg.weights import unwrap_model

def _model_device(model: torch.nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")

@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, loader: Any, objective: Callable, device: torch.device,
                  autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                  channels_last: bool = False) -> dict[str, float]:
    """Sample-weighted mean of the objective's loss and extra scalars over `loader`.

    Sums are all-reduced across ranks, so the value is the same on every rank whether the
    validation loader is sharded or not. A sharded loader whose length does not divide by the
    world size counts the sampler's few padding duplicates; use `make_loader(...,
    distributed_sampling=False)` when the validation loss must be exact to the last sample.
    """

    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    count = torch.zeros((), dtype=torch.float64, device=device)
    for batch in loader:
        batch = move_to_device(batch, device, channels_last)
        with autocast():
            out = loss_dict(objective(model, batch))
        n = batch_size_of(batch)
        count += n
        for key, value in out.items():
            value = torch.as_tensor(value, device=device).detach().double().reshape(())
            sums[key] = sums.get(key, torch.zeros((), dtype=torch.float64, device=device)) + value * n
    model.train(was_training)
    keys = sorted(sums)
    if distributed.is_distributed():
        packed = torch.stack([count] + [sums[k] for k in keys])
        if packed.device.type != "cuda" and dist.get_backend() == "nccl":
            packed = packed.cuda()
        dist.all_reduce(packed, op=dist.ReduceOp.SUM)
        count, values = packed[0], packed[1:]
    else:
        values = torch.stack([sums[k] for k in keys]) if keys else torch.zeros(0)
    if float(count) == 0:
        raise ValueError("the validation loader yielded no batches")
    return {key: float(values[i] / count) for i, key in enumerate(keys)}

def _outputs_dict(output: Any) -> dict[str, torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return {"output": output}
    if isinstance(output, Mapping):
        return {k: v for k, v in output.items() if isinstance(v, torch.Tensor)}
    if isinstance(output, (tuple, list)):
        return {f"output_{i}": v for i, v in enumerate(output) if isinstance(v, torch.Tensor)}
    raise TypeError(f"forward returned {type(output).__name__}; expected a tensor, tuple or dict")

@torch.no_grad()
def predict(model: torch.nn.Module, loader: Any, forward: Callable | None = None,
            input_key: str | None = None, keep_keys: tuple[str, ...] = ("target", "index"),
            device: torch.device | str | None = None) -> dict[str, np.ndarray]:
    """Run `model` in eval mode over `loader`; concatenate outputs and chosen batch entries.

    `forward(model, batch)` returns a tensor / tuple / dict of tensors; by default the model is
    called on `batch[input_key]` (or on the batch itself when `input_key` is None). Batch entries
    named in `keep_keys` (e.g. targets, indices) are returned alongside. Under DDP with a
    non-shuffling `DistributedSampler`, results are gathered from every rank, put back in dataset
    order, and the sampler's padding duplicates are dropped: every rank gets the full arrays.
    """
    model = unwrap_model(model)
    device = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    chunks: dict[str, list[torch.Tensor]] = {}
    for batch in loader:
        batch = move_to_device(batch, device)
        if forward is not None:
            output = forward(model, batch)
        else:
            output = model(batch[input_key] if input_key is not None else batch)
        results = _outputs_dict(output)
        if isinstance(batch, Mapping):
            results.update({k: batch[k] for k in keep_keys if isinstance(batch.get(k), torch.Tensor)})
        for key, value in results.items():
            chunks.setdefault(key, []).append(value.detach().float().cpu() if value.is_floating_point()
                                              else value.detach().cpu())
    model.train(was_training)
    merged = {key: torch.cat(values) for key, values in chunks.items()}
    sampler = getattr(loader, "sampler", None)
    if distributed.is_distributed() and isinstance(sampler, DistributedSampler) and sampler.num_replicas > 1:
        merged = _gather_in_dataset_order(merged, sampler, device)
    return {key: value.numpy() for key, value in merged.items()}

def _gather_in_dataset_order(merged: dict[str, torch.Tensor], sampler: DistributedSampler,
                             device: torch.device) -> dict[str, torch.Tensor]:
    """Undo DistributedSampler's interleaving (rank r holds items r, r+W, ...) and drop padding."""
    if sampler.shuffle:
        raise ValueError("predict under DDP needs a loader with shuffle=False to restore dataset order")
    world = sampler.num_replicas
    n_items = min(len(sampler.dataset), sampler.total_size)
    gathered = {}
    comm_device = device if dist.get_backend() == "nccl" else torch.device("cpu")
    for key in sorted(merged):
        local = merged[key].to(comm_device)
        parts = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(parts, local.contiguous())
        stacked = torch.stack(parts, dim=1)  # [per_rank, world, ...]
        gathered[key] = stacked.reshape(-1, *local.shape[1:])[:n_items].cpu()
    return gathered
