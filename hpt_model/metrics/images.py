"""Image batches as the metrics take them: (B, 3, H, W), floats in [-1, 1] (the generators'
tanh range) or uint8 in [0, 255] (images read from disk)."""

from __future__ import annotations

import torch
from torch import Tensor

#: Slack allowed beyond [-1, 1] for float images (rounding of a tanh output).
RANGE_SLACK = 1e-4


def check_batch(x: Tensor, name: str) -> Tensor:
    """``x`` itself if it is a (B, 3, H, W) tensor of uint8 or floats in [-1, 1]."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name}: expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected uint8 or float images, got {x.dtype}")
    if x.numel():
        lo, hi = float(x.detach().min()), float(x.detach().max())
        if not (lo >= -1 - RANGE_SLACK and hi <= 1 + RANGE_SLACK):
            raise ValueError(
                f"{name}: float images must lie in [-1, 1], got values in [{lo:.4g}, {hi:.4g}]"
            )
    return x


def to_signed(x: Tensor, name: str, dtype: torch.dtype = torch.float32) -> Tensor:
    """(B, 3, H, W) floats in [-1, 1] of ``dtype``: uint8 ``v`` → ``v / 127.5 - 1``."""
    x = check_batch(x, name)
    if x.dtype == torch.uint8:
        return x.to(dtype) / 127.5 - 1
    return x.to(dtype)


def to_unit(x: Tensor, name: str, dtype: torch.dtype = torch.float32) -> Tensor:
    """(B, 3, H, W) intensities in [0, 1] of ``dtype``: uint8 ``v`` → ``v / 255``, floats
    ``v`` → ``(v + 1) / 2``."""
    x = check_batch(x, name)
    if x.dtype == torch.uint8:
        return x.to(dtype) / 255
    return (x.to(dtype) + 1) / 2
