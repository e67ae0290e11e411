"""Batches from DataLoader workers through shared-memory slots made once, not per batch.

PyTorch's DataLoader collates every batch of a worker into *new* shared memory: one
shared-memory file per tensor, whose fresh pages fault in as they are written, and a file
descriptor per tensor sent to the main process. For a pair at 1024 (25 tensors, ~12 MB)
that costs more CPU than reading and decoding the pair from the shards
(``benchmarks/shard_loading.py``: 0.48 ms per tensor and 1.23 ms per MB on this
project's machines). :class:`RingLoader` runs the same DataLoader workers, but each one
writes its batch into a slot of one shared buffer made before the workers start, and sends
back only the slot's number (and any strings). The main process reads the batch as views
of that slot.

The price is a lifetime: batch ``k`` lives in slot ``k mod N``, with ``N`` = prefetch
factor × workers + 2. The DataLoader hands a worker batch ``k + N`` only after batch
``k + 2`` has been drawn, so **a batch stays valid until the one after the next is
drawn**. The training loop moves or widens each batch before drawing the next; anything
kept longer must be cloned.

Every item must have the same fields with the same shapes and dtypes (the slot layout is
taken from the first item): tensors and numbers go through the slots (numbers as
``default_collate`` makes them, int64 / float64), anything else (strings) is pickled as a
list, as ``default_collate`` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

ALIGN = 64  # bytes: every field starts on a cache line, so any dtype view is aligned


@dataclass(frozen=True)
class FieldLayout:
    """Where one field of a batch lies in a slot."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]  # one item's
    offset: int  # bytes from the start of the slot
    item_bytes: int


def _as_tensor(value: Any) -> Tensor | None:
    """The value as ``default_collate`` would stack it, or None if it is not slot material."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, bool | int):
        return torch.tensor(value, dtype=torch.int64)
    if isinstance(value, float):
        return torch.tensor(value, dtype=torch.float64)
    return None


@dataclass(frozen=True)
class BatchLayout:
    """Slot layout of batches of ``batch_size`` items like ``example``: the tensor fields
    one after the other, each ``batch_size`` items long; ``listed`` fields are pickled."""

    fields: tuple[FieldLayout, ...]
    listed: tuple[str, ...]
    batch_size: int
    slot_bytes: int

    @classmethod
    def from_item(cls, example: Mapping[str, Any], batch_size: int) -> BatchLayout:
        fields, listed, offset = [], [], 0
        for name, value in example.items():
            tensor = _as_tensor(value)
            if tensor is None:
                listed.append(name)
                continue
            item_bytes = tensor.numel() * tensor.element_size()
            fields.append(FieldLayout(name, tensor.dtype, tuple(tensor.shape), offset, item_bytes))
            offset += math.ceil(batch_size * item_bytes / ALIGN) * ALIGN
        return cls(tuple(fields), tuple(listed), batch_size, max(offset, ALIGN))


class SharedBatchRing:
    """``slots`` batch slots in one shared-memory buffer (made in the main process, before
    the DataLoader starts its workers, so that every worker writes into the same pages)."""

    def __init__(self, layout: BatchLayout, slots: int) -> None:
        self.layout = layout
        self.slots = slots
        self.buffer = torch.zeros(slots, layout.slot_bytes, dtype=torch.uint8).share_memory_()

    def _views(self, slot: int, count: int) -> dict[str, Tensor]:
        row = self.buffer[slot]
        return {
            f.name: row[f.offset : f.offset + count * f.item_bytes]
            .view(f.dtype)
            .view(count, *f.shape)
            for f in self.layout.fields
        }

    def write(self, slot: int, items: list[Mapping[str, Any]], where: str) -> dict[str, list]:
        """Copy ``items`` into ``slot``; returns the listed (pickled) fields. ValueError,
        naming ``where`` and the field, if an item does not fit the layout."""
        views = self._views(slot, len(items))
        for f in self.layout.fields:
            for i, item in enumerate(items):
                tensor = _as_tensor(item.get(f.name))
                if tensor is None or tensor.dtype != f.dtype or tuple(tensor.shape) != f.shape:
                    got = "missing" if tensor is None else f"{tuple(tensor.shape)} {tensor.dtype}"
                    raise ValueError(
                        f"{where}, item {i}: field {f.name!r} is {got}; the batch slots were "
                        f"laid out for {f.shape} {f.dtype} from the first item (items must "
                        "have fixed shapes)"
                    )
                views[f.name][i].copy_(tensor)
        return {name: [item[name] for item in items] for name in self.layout.listed}

    def read(self, slot: int, count: int, listed: Mapping[str, list]) -> dict[str, Any]:
        """The batch in ``slot``: views of the slot (valid until it is refilled) and lists."""
        batch: dict[str, Any] = self._views(slot, count)
        batch.update(listed)
        return batch


@dataclass(frozen=True)
class _Filled:
    """What a worker sends back for one batch: where it is, and the pickled fields."""

    slot: int
    count: int
    listed: dict[str, list]


class _NumberedBatches(Sampler[tuple[int, list[int]]]):
    """The sampler's indices in batches, each with its number in the epoch."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self) -> Iterator[tuple[int, list[int]]]:
        batch: list[int] = []
        number = 0
        for index in self.sampler:
            batch.append(int(index))
            if len(batch) == self.batch_size:
                yield number, batch
                number, batch = number + 1, []
        if batch and not self.drop_last:
            yield number, batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class _SlotFiller(Dataset):
    """What the workers run: batch ``k``'s items, read and written into slot ``k mod N``."""

    def __init__(self, dataset: Dataset, ring: SharedBatchRing) -> None:
        self.dataset, self.ring = dataset, ring

    def __getitem__(self, job: tuple[int, list[int]]) -> _Filled:  # type: ignore[override]
        number, indices = job
        slot = number % self.ring.slots
        items = [self.dataset[i] for i in indices]
        listed = self.ring.write(slot, items, f"batch {number} (indices {indices})")
        return _Filled(slot, len(items), listed)


class RingLoader:
    """A DataLoader over map-style ``dataset`` (items: dicts of fixed-shape tensors,
    numbers and strings) whose batches cross from the workers through shared slots made
    once; yields what ``DataLoader(..., collate_fn=default_collate)`` yields, as views of
    a slot that stay valid until the batch after the next is drawn (see the module
    docstring). ``num_workers`` must be at least 1: without workers there is nothing to
    cross, use a DataLoader.

    ``sampler`` is iterated more than once (a Sampler or a list, not a generator). The
    slot layout comes from ``dataset[first index]`` read once in the main process.
    One ring serves every iteration of this loader; make a new loader when the item's
    fields change. Memory: (prefetch factor × workers + 2) × batch size × item size.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        sampler: Iterable[int],
        num_workers: int,
        drop_last: bool = False,
        prefetch_factor: int = 2,
        generator: torch.Generator | None = None,
    ) -> None:
        if num_workers < 1:
            raise ValueError(f"RingLoader needs num_workers >= 1, got {num_workers}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batches = _NumberedBatches(sampler, batch_size, drop_last)
        self.num_workers, self.prefetch_factor = num_workers, prefetch_factor
        self.generator = generator
        first = next(iter(sampler), None)
        example = dataset[first if first is not None else 0]
        self.ring = SharedBatchRing(
            BatchLayout.from_item(example, batch_size), prefetch_factor * num_workers + 2
        )
        self.filler = _SlotFiller(dataset, self.ring)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        loader = DataLoader(
            self.filler,  # type: ignore[arg-type]
            batch_size=None,
            sampler=self.batches,
            num_workers=self.num_workers,
            prefetch_factor=self.prefetch_factor,
            generator=self.generator,
        )
        for filled in loader:
            yield self.ring.read(filled.slot, filled.count, filled.listed)
