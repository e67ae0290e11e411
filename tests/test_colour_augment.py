"""TrainSettings.colour_augment: a pair's source and target get one random order of their
colour channels, the same for both, so that clothes' colours can only come from the source."""

from __future__ import annotations

import torch

from hpt_model.training.augment import CHANNEL_ORDERS, swap_colour_channels


def _batch(size: int = 64) -> dict:
    gen = torch.Generator().manual_seed(0)
    source = torch.randint(0, 256, (size, 3, 8, 8), generator=gen, dtype=torch.uint8)
    target = torch.randint(0, 256, (size, 3, 8, 8), generator=gen, dtype=torch.uint8)
    parsing = torch.randint(0, 7, (size, 8, 8), generator=gen, dtype=torch.uint8)
    return {"source_image": source, "target_image": target, "target_parsing": parsing}


def _order_of(swapped: torch.Tensor, original: torch.Tensor) -> tuple[int, ...]:
    """Which original channel each channel of ``swapped`` is (by equality, not by the code)."""
    return tuple(
        next(c for c in range(3) if torch.equal(swapped[k], original[c])) for k in range(3)
    )


def test_source_and_target_share_one_order_and_every_order_occurs() -> None:
    batch = _batch()
    out = swap_colour_channels(batch, seed=3, step=7)
    orders = set()
    for b in range(64):
        order = _order_of(out["source_image"][b], batch["source_image"][b])
        assert order == _order_of(out["target_image"][b], batch["target_image"][b])
        orders.add(order)
    assert orders == {tuple(o.tolist()) for o in CHANNEL_ORDERS}  # 64 draws of 6
    assert out["target_parsing"] is batch["target_parsing"]  # maps carry no colour
    white = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    assert torch.equal(swap_colour_channels({"source_image": white}, 0, 0)["source_image"], white)


def test_the_order_is_a_function_of_seed_step_and_rank() -> None:
    batch = _batch()
    first = swap_colour_channels(batch, seed=1, step=5)["source_image"]
    assert torch.equal(first, swap_colour_channels(batch, seed=1, step=5)["source_image"])
    for other in (
        {"seed": 2, "step": 5},
        {"seed": 1, "step": 6},
        {"seed": 1, "step": 5, "rank": 1},
    ):
        assert not torch.equal(first, swap_colour_channels(batch, **other)["source_image"])
