"""torchrun/DDP plumbing: process-group set-up, rank queries, and all-gathers for global-batch losses.

A top-level module because every layer needs it: samplers in `ecgimg.data` split patients by
rank, the contrastive losses in `ecgimg.ssl` gather the global batch, the engine runs DDP.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def init_from_env(backend: str | None = None) -> bool:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, ...).

    Returns True when running distributed. Backend defaults to NCCL on CUDA, gloo on CPU.
    """
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward returns each rank its own slice of the summed gradient.

    Needed so a contrastive loss computed on the global batch sends gradients to the local
    embeddings that produced every negative/positive (the plain all_gather cuts the graph).
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        ctx.local_batch = tensor.shape[0]
        gathered = [torch.empty_like(tensor) for _ in range(world_size())]
        dist.all_gather(gathered, tensor.contiguous())
        return torch.cat(gathered, dim=0)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        grad = grad_output.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = rank() * ctx.local_batch
        return grad[start:start + ctx.local_batch]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` (same shape on every rank) from all ranks along dim 0, keeping gradients."""
    if not is_distributed() or world_size() == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


@torch.no_grad()
def all_gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from all ranks along dim 0 (labels, ids: no gradient)."""
    if not is_distributed() or world_size() == 1:
        return tensor
    gathered = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(gathered, tensor.contiguous())
    return torch.cat(gathered, dim=0)


def shutdown() -> None:
    """Leave the process group cleanly: wait for every rank, then destroy it.

    Without the barrier, rank 0 (which hosts the TCP store) may tear down while another rank is
    still talking to it, and that rank aborts ("terminate called without an active exception").
    """
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()
