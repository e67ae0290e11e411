"""Data parallelism under ``torchrun`` (environment ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).

Each rank trains on its share of every epoch's pairs (see ``EpochSampler``). Every network
a stage trains is wrapped in ``DistributedDataParallel`` (:func:`replicate_trained`), whose
backward pass averages its gradients over the ranks in buckets, overlapped with the rest of
the backward pass; frozen networks are broadcast from rank 0 once and called as they are.
Every rank starts from the same seed and rank 0's weights, so the copies stay identical.

How a GAN step lives with DDP's one-backward-per-forward bookkeeping
(:mod:`~hpt_model.training.steps`):

- the discriminator update calls the wrapper twice (fake, real) before one backward pass:
  every parameter gets its gradient once, as DDP expects;
- the generator update calls the *unwrapped* discriminator, its weights frozen: no gradient
  reaches them, and a wrapper called there would wait for gradients that never come;
- the part layers run through ``PartLayers.forward`` (both sides of a limb in one call), as
  a wrapper sees only what its forward runs.

Buffers are synchronised when a wrapper is built, not at each forward
(``forward_sync_buffers=False``): the generators use
instance norm without running statistics; the batch-norm statistics of the face
discriminator and the volume network stay per rank, and rank 0's are saved.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from hpt_model.errors import TrainingError


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
    """``auto``: this rank's GPU if CUDA is available, else the CPU; or ``cpu``/``cuda``.
    TrainingError (the user's ``--device``) for anything else or CUDA asked for without it."""
    if requested not in ("auto", "cpu", "cuda"):
        raise TrainingError(f"device must be auto, cpu or cuda, got {requested!r}")
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise TrainingError("--device cuda asked for, but CUDA is not available")
    torch.cuda.set_device(info.local_rank)
    return torch.device("cuda", info.local_rank)


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Start the process group (NCCL on GPUs, Gloo on CPUs) when running under torchrun."""
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def shutdown_distributed() -> None:
    """Destroy the process group, after the DistributedDataParallel wrappers still held in
    reference cycles (a trainer's step context refers back to the trainer) are collected:
    a wrapper destroyed after its group can abort the process at exit."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def broadcast_module(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not info.enabled:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


def is_trained(module: nn.Module) -> bool:
    """Whether the stage trains any of the module's parameters (``requires_grad``)."""
    return any(p.requires_grad for p in module.parameters())


def replicate_trained(
    nets: Mapping[str, nn.Module], info: DistInfo, device: torch.device
) -> dict[str, nn.Module] | None:
    """Name → what training calls: each network with parameters to train wrapped in
    ``DistributedDataParallel`` (which broadcasts rank 0's weights as it is built), every
    other one broadcast from rank 0 and returned as it is. None for a single process.

    Call it once the weights are loaded, ``requires_grad`` is set to what the stage trains
    (DDP registers only those parameters) and any ``torch.compile`` is done.
    """
    if not info.enabled:
        return None
    device_ids = [device.index] if device.type == "cuda" else None
    replicas: dict[str, nn.Module] = {}
    for name, net in nets.items():
        if is_trained(net):
            replicas[name] = DistributedDataParallel(
                net, device_ids=device_ids, forward_sync_buffers=False
            )
        else:
            broadcast_module(net, info)
            replicas[name] = net
    return replicas
