"""The order a run reads its pairs in: a pure function of (seed, epoch), so that a resumed
run (``--resume``) and every rank under torchrun read exactly what an unbroken run would.

Each epoch's permutation comes from a generator seeded with both, each rank takes every
``world_size``-th index, and a resumed run skips the batches its epoch had already done.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from hpt_model.data.ring import RingLoader
from hpt_model.training.distributed import DistInfo
from hpt_model.training.settings import TrainSettings


class EpochSampler(Sampler[int]):
    """This rank's indices of one epoch: a permutation seeded by (seed, epoch), every
    ``world_size``-th index from ``rank`` (equal counts), from position ``start`` on."""

    def __init__(
        self, size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1, start: int = 0
    ) -> None:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(size, generator=generator)
        per_rank = size // world_size
        self.indices = order[rank::world_size][:per_rank][start:].tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def epoch_batches(
    dataset: Dataset, settings: TrainSettings, batch: int, epoch: int, start: int, info: DistInfo
) -> Iterable[dict[str, Any]]:
    """This rank's batches of one epoch, from batch ``start`` on. With workers, batches cross
    through a :class:`~hpt_model.data.ring.RingLoader` (shared slots made once; each batch
    valid until the one after the next is drawn, which the loop respects); without, the
    main process reads them."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    sampler = EpochSampler(
        len(dataset), settings.seed, epoch, info.rank, info.world_size, start * batch
    )
    generator = torch.Generator().manual_seed(settings.seed + epoch)  # leaves the global RNG
    if settings.num_workers > 0 and len(sampler) > 0:
        return RingLoader(
            dataset,
            batch_size=batch,
            sampler=sampler,
            num_workers=settings.num_workers,
            drop_last=True,
            generator=generator,
        )
    return DataLoader(
        dataset,
        batch_size=batch,
        sampler=sampler,
        drop_last=True,
        pin_memory=torch.cuda.is_available(),
        generator=generator,
    )
