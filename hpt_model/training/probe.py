"""Seconds per training step of each stage on this machine, measured before ``train-all``
splits its budget (:mod:`~hpt_model.training.all_stages`): the stages' steps cost very
different amounts — at the ``small`` preset on one CPU thread an e2e step costs about ten
coarse steps (five perceptual losses, benchmarks/results/train_step_costs.json) — so a
fixed split of the wall clock gives the later stages a handful of steps.

Each stage's trainer is built with fresh random weights (a step costs the same whatever
the weights), then takes one untimed step (lazy set-up) and ``steps`` timed ones on the
first training pairs. Nothing is written; the global RNG state is restored afterwards.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import default_collate

from hpt_model.config import HPTConfig
from hpt_model.training.distributed import DistInfo, select_device
from hpt_model.training.settings import TrainSettings
from hpt_model.training.trainer import StageTrainer
from hpt_model.vgg import load_vgg19


def probe_step_seconds(
    data: Path,
    config: HPTConfig,
    stages: tuple[str, ...],
    common: Mapping[str, Any] | None = None,
    steps: int = 2,
) -> dict[str, float]:
    """Seconds per step of each of ``stages`` (``common``: TrainSettings fields, as
    train-all passes to every stage: batch size, precision, device ...)."""
    from hpt_model.data import PairDataset, fields_for_stage  # imports hpt_data's schema

    rng = torch.get_rng_state()
    seconds: dict[str, float] = {}
    vgg = load_vgg19(config.loss.vgg_weights_path, config.loss.allow_random_vgg)  # one for all
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for stage in stages:
                fields = {k: v for k, v in dict(common or {}).items() if k != "progress"}
                settings = TrainSettings(stage=stage, data=data, out=Path(scratch), **fields)
                if settings.threads is not None:
                    torch.set_num_threads(settings.threads)
                device = select_device(settings.device, DistInfo())
                trainer = StageTrainer(settings, config, device, features=vgg)
                dataset = PairDataset(data, settings.split, **fields_for_stage(stage, config))
                size = min(len(dataset), settings.batch_size or config.optim.batch_size)
                raw = default_collate([dataset[i] for i in range(size)])
                elapsed = 0.0
                for i in range(steps + 1):
                    start = time.perf_counter()
                    trainer.train_step(trainer.inputs(raw))
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    if i:
                        elapsed += time.perf_counter() - start
                seconds[stage] = elapsed / steps
                del trainer
    finally:
        torch.set_rng_state(rng)
    return seconds
