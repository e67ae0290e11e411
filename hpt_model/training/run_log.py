"""What a run shows while it trains: the progress bar and TensorBoard's scalars and image
grids, on rank 0 only; every loss it logs is checked finite, so a diverged run stops with a
one-line error instead of training on NaNs.

Apart from the loop so that what is logged, and how, is one place; what the image grid
shows per stage is :func:`~hpt_model.training.monitor.stage_images`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from hpt_model.errors import TrainingError
from hpt_model.training.settings import TrainSettings


def image_grid(images: Mapping[str, Tensor], height: int = 256) -> Tensor:
    """First sample of each named (B, 3, H, W) image in [-1, 1], resized to ``height`` and
    laid side by side: (3, height, width) in [0, 1]."""
    tiles = []
    for image in images.values():
        tile = image[:1].detach().float().clamp(-1, 1)
        tile = F.interpolate(tile, size=(height, height), mode="bilinear", align_corners=False)
        tiles.append((tile[0] + 1) / 2)
    return torch.cat(tiles, dim=-1)


def _open_writer(settings: TrainSettings) -> Any:
    from torch.utils.tensorboard import SummaryWriter  # needs the `tensorboard` package

    return SummaryWriter(log_dir=str(settings.out / "tb" / settings.stage))


def check_finite(losses: Mapping[str, float], step: int) -> None:
    """A non-finite loss is a one-line TrainingError naming it."""
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if bad:
        raise TrainingError(f"step {step}: non-finite loss(es) {bad}; lower the learning rate")


class RunLog:
    """The bar (``settings.progress``) and the TensorBoard writer (``settings.tensorboard``)
    of one run, both on the main rank only; :meth:`close` when the run ends."""

    def __init__(self, settings: TrainSettings, total: int, initial: int, main: bool) -> None:
        self.stage = settings.stage
        self.writer = _open_writer(settings) if settings.tensorboard and main else None
        self.bar = tqdm(
            total=total,
            initial=initial,
            desc=settings.stage,
            disable=not (settings.progress and main),
            dynamic_ncols=True,
        )

    def set_total(self, total: int) -> None:
        """The run's length changed (a wall budget fixed it)."""
        self.bar.total = total
        self.bar.refresh()

    def advance(self) -> None:
        """One step done."""
        self.bar.update(1)

    def losses(
        self, step: int, losses: Mapping[str, Tensor | float], lr: float
    ) -> dict[str, float]:
        """Check, show and write the step's named losses and learning rate; returns them as
        floats."""
        values = {k: float(v) for k, v in losses.items()}
        check_finite(values, step)
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()})
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"{self.stage}/{name}", value, step)
            self.writer.add_scalar(f"{self.stage}/lr", lr, step)
        return values

    @property
    def writes_images(self) -> bool:
        """Whether image grids go anywhere (computing them costs a forward pass)."""
        return self.writer is not None

    def images(self, step: int, images: Mapping[str, Tensor]) -> None:
        """The step's named images as one grid."""
        if self.writer is not None:
            self.writer.add_image(f"{self.stage}/grid", image_grid(images), step)

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()
