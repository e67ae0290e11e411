"""Where and how the fitter runs (device, torch threads) and its plain reprojection figure:
small helpers kept apart from the optimisation in :mod:`hpt_data.fitting.fitter`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from hpt_data.fitting.losses import PX_PER_UNIT


def pick_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but torch sees no GPU")
    return torch.device(name)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's CPU threads set to ``n`` (> 0) for the block, restored after."""
    old = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def reprojection_px(uv: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(T,) plain (not robust) weighted mean landmark distance, pixels at 1024; NaN for a
    frame without known landmarks. uv, target : (T, K, 2); w : (T, K) (0 = unknown)."""
    err = ((uv - target) * PX_PER_UNIT).norm(dim=-1)
    reproj = (w * err).sum(-1) / w.sum(-1).clamp_min(1e-9)
    return torch.where(w.sum(-1) > 0, reproj, torch.full_like(reproj, float("nan")))
