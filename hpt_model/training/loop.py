"""The training loop of one stage: :func:`train` reads pairs from the shards (or a given
dataset) in :mod:`~hpt_model.training.sampling`'s order, turns each batch into the stage's
inputs, steps the :class:`~hpt_model.training.trainer.StageTrainer`, logs through
:class:`~hpt_model.training.run_log.RunLog` (scalars every ``log_every`` steps, an image
grid every ``image_every``) and checkpoints every ``checkpoint_every`` steps and at the end.

Order of the stages (§IV-B): coarse → face, arm, leg (each on the frozen trained coarse
generator) → e2e (every generator, the fine one new, and every discriminator together,
each with its losses). ``fine`` (the fine generator on the frozen others, then e2e from it
with ``--init``) is an extra phase kept as an option. ``volume`` (Ours-V) is independent.

A resumed run (``--resume``) continues exactly: it takes the checkpoint's config, step and
RNG state, and the data order is a pure function of (seed, epoch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from hpt_model.checkpoints import FINAL, LAST, checkpoint_config, load_checkpoint, save_checkpoint
from hpt_model.config import HPTConfig
from hpt_model.errors import TrainingError
from hpt_model.training.augment import swap_colour_channels
from hpt_model.training.budget import BUDGET_CLOCKS, WallBudget
from hpt_model.training.distributed import (
    DistInfo,
    dist_info_from_env,
    init_distributed,
    select_device,
    shutdown_distributed,
)
from hpt_model.training.monitor import stage_images
from hpt_model.training.run_log import RunLog
from hpt_model.training.sampling import epoch_batches
from hpt_model.training.settings import TrainSettings, default_epochs
from hpt_model.training.trainer import StageTrainer

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Where a run stopped: its step of ``total_steps``, the checkpoint it wrote last and
    the losses it logged last."""

    step: int
    total_steps: int
    checkpoint: Path
    losses: dict[str, float]


def _shard_dataset(settings: TrainSettings, config: HPTConfig) -> Dataset:
    from hpt_model.data import PairDataset, fields_for_stage  # imports hpt_data's schema

    if settings.data is None:
        raise TrainingError("no training data: pass --data SHARD_DIR")
    if not settings.data.is_dir():
        raise TrainingError(f"--data {settings.data}: no such folder")
    # only the fields this stage uses, images decoded at its size (docs/shards.md)
    fields = fields_for_stage(settings.stage, config)
    return PairDataset(settings.data, settings.split, seed=settings.seed, **fields)


def train(
    settings: TrainSettings, config: HPTConfig | None = None, dataset: Dataset | None = None
) -> TrainResult:
    """Train ``settings.stage`` (resuming from ``<out>/last.pt`` with ``settings.resume``).

    ``config`` is the model config of a fresh run (default: the paper's); a resumed run takes
    the checkpoint's, but for ``loss.vgg_weights_path`` and ``loss.allow_random_vgg``, which
    come from ``config`` when one is given. ``dataset`` defaults to the PairDataset over
    ``settings.data``.
    """
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    info = dist_info_from_env()
    device = select_device(settings.device, info)
    init_distributed(info, device)
    try:
        return _train(settings, config, dataset, info, device)
    finally:
        shutdown_distributed()


def _train(
    settings: TrainSettings,
    config: HPTConfig | None,
    dataset: Dataset | None,
    info: DistInfo,
    device: torch.device,
) -> TrainResult:
    resume_state = None
    if settings.resume:
        path = settings.out / LAST
        if not path.is_file():
            raise TrainingError(f"--resume: no {LAST} in {settings.out} to continue from")
        resume_state = load_checkpoint(path)
        saved = checkpoint_config(resume_state, path)
        if config is not None:  # where the VGG weights are is this machine's business
            saved.loss.vgg_weights_path = config.loss.vgg_weights_path
            saved.loss.allow_random_vgg = config.loss.allow_random_vgg
        config = saved
    config = config or HPTConfig.paper()
    torch.manual_seed(settings.seed)
    trainer = StageTrainer(settings, config, device, info)
    if resume_state is not None:
        trainer.load_state_dict(resume_state, str(settings.out / LAST))
    else:
        trainer.load_required()
    if settings.compile:
        trainer.compile()
    trainer.distribute()

    dataset = dataset if dataset is not None else _shard_dataset(settings, config)
    batch = settings.batch_size or config.optim.batch_size
    steps_per_epoch = (len(dataset) // info.world_size) // batch  # type: ignore[arg-type]
    if steps_per_epoch == 0:
        raise TrainingError(
            f"{len(dataset)} training pairs are fewer than batch size {batch} × "  # type: ignore[arg-type]
            f"{info.world_size} process(es)"
        )
    epochs = settings.epochs or default_epochs(settings.stage, config)
    total = epochs * steps_per_epoch
    budgeted = resume_state is not None and trainer.length_fixed  # a budget set its length
    if resume_state is not None and trainer.total_steps != total and not budgeted:
        raise TrainingError(
            f"--resume: the checkpoint's run has {trainer.total_steps} steps, these settings "
            f"give {total} (keep --epochs, --batch-size and the data as they were)"
        )
    if budgeted and trainer.total_steps > total:
        raise TrainingError(
            f"--resume: the checkpoint's run has {trainer.total_steps} steps, more than these "
            f"settings' {total} (keep --epochs, --batch-size and the data as they were)"
        )
    total = trainer.total_steps if budgeted else total
    trainer.total_steps = total
    stop = min(total, settings.stop_after) if settings.stop_after else total
    budget = None
    if settings.time_budget_s is not None and not budgeted:
        clock = BUDGET_CLOCKS[settings.budget_clock]
        budget = WallBudget(settings.time_budget_s, settings.calibrate_steps, clock)

    log = RunLog(settings, total, trainer.step, info.is_main)
    last_losses: dict[str, float] = {}
    checkpoint = settings.out / LAST
    logger.info(
        "stage %s: %d epochs × %d steps on %s (%s)",
        settings.stage,
        epochs,
        steps_per_epoch,
        device,
        "bf16" if trainer.autocast_dtype else "fp32",
    )
    main = info.is_main
    try:
        while trainer.step < stop:
            epoch, start = divmod(trainer.step, steps_per_epoch)
            for raw in epoch_batches(dataset, settings, batch, epoch, start, info):
                if settings.colour_augment:
                    raw = swap_colour_channels(raw, settings.seed, trainer.step, info.rank)
                losses = trainer.train_step(trainer.inputs(raw))
                step = trainer.step
                log.advance()
                length = None if budget is None else budget.after_step(step, total)
                if length is not None:  # the budget's length: fixed now, kept by checkpoints
                    budget = None
                    total = trainer.total_steps = length
                    trainer.length_fixed = True
                    stop = min(total, settings.stop_after) if settings.stop_after else total
                    log.set_total(total)
                    logger.info("stage %s: %d steps fit the time budget", settings.stage, total)
                    if main:
                        save_checkpoint(checkpoint, trainer.state_dict())
                if step % settings.log_every == 0 or step == stop:
                    last_losses = log.losses(step, losses, trainer.learning_rate())
                if log.writes_images and (step % settings.image_every == 0 or step == stop):
                    inputs = trainer.inputs(raw)
                    log.images(step, stage_images(settings.stage, config, trainer.nets, inputs))
                if main and (step % settings.checkpoint_every == 0 or step == stop):
                    save_checkpoint(checkpoint, trainer.state_dict())
                if step >= stop:
                    break
        if main and trainer.step >= total:
            save_checkpoint(settings.out / FINAL, trainer.state_dict())
            checkpoint = settings.out / FINAL
    finally:
        log.close()
    return TrainResult(trainer.step, total, checkpoint, last_losses)
