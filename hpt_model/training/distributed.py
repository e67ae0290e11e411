"""Data parallelism under ``torchrun`` (environment ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).

Each rank trains on its share of every epoch's pairs (see ``EpochSampler``); after each
backward pass the gradients of the updated network are averaged over the ranks with one
all-reduce per parameter, before the optimiser step. Every rank starts from the same seed,
and rank 0's parameters are broadcast once, so the copies stay identical.

This is what ``DistributedDataParallel`` does, done by hand: a GAN step runs the
discriminator several times (real, fake, and again for the generator with its weights
frozen) before the backward pass, and the DDP wrapper's reducer accepts one forward per
backward (or needs ``static_graph`` and unused-parameter bookkeeping to cope).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits; world_size 1 is a plain single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def dist_info_from_env() -> DistInfo:
    """Read torchrun's environment; no process group is started here."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def select_device(requested: str, info: DistInfo) -> torch.device:
    """``auto``: this rank's GPU if CUDA is available, else the CPU; or ``cpu``/``cuda``."""
    if requested not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {requested!r}")
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but CUDA is not available")
    torch.cuda.set_device(info.local_rank)
    return torch.device("cuda", info.local_rank)


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Start the process group (NCCL on GPUs, Gloo on CPUs) when running under torchrun."""
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not info.enabled:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


def make_gradient_reducer(info: DistInfo):
    """A function averaging the gradients of the given parameters over the ranks (no-op for
    a single process)."""

    def reduce(params: Iterable[nn.Parameter]) -> None:
        if not info.enabled:
            return
        for p in params:
            if p.grad is not None:
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                p.grad.div_(info.world_size)

    return reduce
