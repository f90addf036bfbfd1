"""Data-parallel training across processes: set-up from `torchrun`'s environment.

``torchrun --nproc-per-node N -m convzoo train ...`` starts N processes and sets
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; each joins the process group (NCCL on
CUDA, Gloo on CPU), trains on its share of every batch under
``DistributedDataParallel``, which averages the gradients, and only rank 0 writes logs
and checkpoints. A single process without those variables runs as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistContext", "init_distributed", "pick_device"]


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"``: this process's GPU where there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


@dataclass
class DistContext:
    """Where this process stands in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over all processes (``tensor`` itself when single)."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self, succeeded: bool = True) -> None:
        """Leave the process group at the end of a run.

        After a failure this process leaves without ``destroy_process_group``, which can wait
        forever on a peer blocked in another collective; torchrun stops the peers when this
        process exits. (How a rank's process ends: :func:`convzoo.cli.run`.)
        """
        if self.distributed and dist.is_initialized() and succeeded:
            dist.destroy_process_group()


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group when launched by `torchrun`; a single-process context otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = pick_device(device, local_rank)
    if world_size <= 1:
        return DistContext(device=chosen)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), device=chosen)
