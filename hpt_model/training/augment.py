"""Colour-channel swaps of a training pair (``TrainSettings.colour_augment``; not the
paper's, which trains on thousands of people).

With a few people in training the generators learn their commonest outfit instead of
copying the source's: on the ``small`` set (9 people, three of them in a red top and
olive trousers) every held-out person came out red and green. Giving each pair's source
and target one random order of their colour channels, the same for both, makes the
clothes' colours something the generator can only take from the source: the maps (S, D,
H) carry no colour, and white stays white. The order is a pure function of (seed, step,
rank, the pair's place in the batch), so a resumed run continues exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

#: the six orders of (R, G, B)
CHANNEL_ORDERS = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])


def swap_colour_channels(batch: Mapping[str, Any], seed: int, step: int, rank: int = 0) -> dict:
    """``batch`` with each pair's ``*_image`` fields, (B, 3, H, W), in one random channel
    order per pair (the same for its source and target); other fields as they are."""
    images = [k for k, v in batch.items() if k.endswith("_image") and isinstance(v, torch.Tensor)]
    if not images:
        return dict(batch)
    size = batch[images[0]].shape[0]
    generator = torch.Generator().manual_seed((seed * 1_000_003 + step) * 1024 + rank)
    orders = CHANNEL_ORDERS[torch.randint(len(CHANNEL_ORDERS), (size,), generator=generator)]
    out = dict(batch)
    for key in images:
        image = batch[key]
        index = orders.to(image.device).view(size, 3, 1, 1).expand_as(image)
        out[key] = torch.gather(image, 1, index)
    return out
