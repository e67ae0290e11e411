"""Training of one stage: networks and optimisers, epochs, schedule, checkpoints, logging.

:class:`TrainSettings` holds the run's settings (what the CLI parses); the model itself is
described by :class:`~hpt_model.config.HPTConfig`. :class:`StageTrainer` owns one stage's
networks, optimisers, VGG and complete-part bank and runs steps; :func:`train` is the loop:
it reads pairs from the shards (or a given dataset), turns each batch into the stage's
inputs (:func:`~hpt_model.method.build_stage_inputs`), steps, logs to TensorBoard
(scalars every ``log_every`` steps, an image grid every ``image_every``) and checkpoints
every ``checkpoint_every`` steps and at the end.

Order of the stages (§IV-B): coarse → face, arm, leg (each on the frozen trained coarse
generator) → fine (on the frozen coarse and layer generators) → e2e (all generators
together, from the fine checkpoint). ``volume`` (Ours-V) is independent.

Data order is a pure function of (seed, epoch): each epoch's permutation comes from a
generator seeded with both, each rank takes every ``world_size``-th index, and a resumed
run skips the batches its epoch had already done, so ``--resume`` continues exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from hpt_data.shards.schema import HEATMAP_SIGMA_1024
from hpt_model.checkpoints import (
    CHECKPOINT_VERSION,
    FINAL,
    LAST,
    checkpoint_config,
    load_checkpoint,
    part_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from hpt_model.config import HPTConfig
from hpt_model.data.ring import RingLoader
from hpt_model.errors import TrainingError
from hpt_model.losses import VGGPerceptualLoss
from hpt_model.method import (
    LAYER_STAGES,
    STAGES,
    StageInputs,
    build_stage_inputs,
    to_device,
)
from hpt_model.networks import define_networks
from hpt_model.training.bank import CompletePartBank
from hpt_model.training.distributed import (
    DistInfo,
    dist_info_from_env,
    init_distributed,
    is_trained,
    replicate_trained,
    select_device,
    shutdown_distributed,
)
from hpt_model.training.monitor import stage_images
from hpt_model.training.schedule import lr_factor, set_learning_rate
from hpt_model.training.steps import (
    Losses,
    StepContext,
    discriminator_parameters,
    generator_parameters,
    prepare_networks,
    stage_networks,
    train_step,
)
from hpt_model.vgg import load_vgg19

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
SWITCHES = ("auto", "on", "off")
MAX_DEFAULT_WORKERS = 4


def default_loader_workers() -> int:
    """Loader workers when none are asked for: one CPU is left to the training loop, and
    at most ``MAX_DEFAULT_WORKERS``. A fixed 4 made torch warn on every run on a 2-core
    machine (it warns when workers outnumber the CPUs this process may use); 1 CPU gives 0,
    reading in the main process."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(MAX_DEFAULT_WORKERS, cpus - 1))


@dataclass
class TrainSettings:
    """One run of one stage. Paths may be str or Path; None means "the default"."""

    stage: str
    data: Path | None = None  # shard folder (not needed when a dataset is passed to train())
    out: Path = Path("runs/hpt")  # checkpoints (last.pt, final.pt) and TensorBoard logs (tb/)
    split: str = "train"
    epochs: int | None = None  # None: the paper's (coarse 10, layers 20, fine/e2e 10)
    batch_size: int | None = None  # None: optim.batch_size (1)
    num_workers: int = dataclasses.field(default_factory=default_loader_workers)
    seed: int = 0
    checkpoint_every: int = 1000  # steps; also at the end and when stopping
    log_every: int = 50
    image_every: int = 500
    stop_after: int | None = None  # stop (with a checkpoint) once this many steps are done
    resume: bool = False  # continue from <out>/last.pt
    init: Path | None = None  # start from this checkpoint's weights (e2e: the fine stage's)
    coarse_checkpoint: Path | None = None  # face/arm/leg/fine: the trained coarse generator
    face_checkpoint: Path | None = None  # fine: the trained layer generators
    arm_checkpoint: Path | None = None
    leg_checkpoint: Path | None = None
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (bf16 on a GPU that has it, else fp32) | fp32 | bf16
    channels_last: str = "auto"  # auto (on for CUDA) | on | off
    compile: bool = False  # torch.compile the trained networks
    tensorboard: bool = True
    progress: bool = True  # tqdm bar on rank 0
    heatmap_sigma: float = HEATMAP_SIGMA_1024  # σ of H in 1024-frame pixels: the shards' σ
    complete_threshold: float = 0.95  # visible / complete part area for a part to be complete
    bank_size: int = 32  # complete parts kept per layer stage (the set {I^n_r} of Eq. 1)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise TrainingError(f"unknown stage {self.stage!r}; expected one of {STAGES}")
        for name in ("data", "out", "init", *_INIT_FLAGS):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                setattr(self, name, Path(value))
        if self.precision not in PRECISIONS:
            raise TrainingError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.channels_last not in SWITCHES:
            raise TrainingError(f"channels_last must be one of {SWITCHES}")
        for name in ("checkpoint_every", "log_every", "image_every", "bank_size"):
            if getattr(self, name) <= 0:
                raise TrainingError(f"{name} must be positive, got {getattr(self, name)}")
        if self.heatmap_sigma <= 0:
            raise TrainingError(f"heatmap_sigma must be positive, got {self.heatmap_sigma}")

    def to_dict(self) -> dict[str, Any]:
        return {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()
        }


_INIT_FLAGS = ("coarse_checkpoint", "face_checkpoint", "arm_checkpoint", "leg_checkpoint")
# stage → (settings field, network to load, what to load it from) that must be given
_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "face": (("coarse_checkpoint", "coarse"),),
    "arm": (("coarse_checkpoint", "coarse"),),
    "leg": (("coarse_checkpoint", "coarse"),),
    "fine": (
        ("coarse_checkpoint", "coarse"),
        ("face_checkpoint", "face"),
        ("arm_checkpoint", "arm"),
        ("leg_checkpoint", "leg"),
    ),
    "e2e": (("init", "fine"),),
}
_WHAT = {
    "coarse": "the trained coarse generator",
    "face": "the trained face layer generator",
    "arm": "the trained arm layer generator",
    "leg": "the trained leg layer generator",
    "fine": "the trained fine stage",
}


def default_epochs(stage: str, config: HPTConfig) -> int:
    """§IV-B: coarse 10, part layers 20, fine 10; e2e and volume (not given): 10, chosen."""
    optim = config.optim
    if stage in LAYER_STAGES:
        return optim.layer_epochs
    if stage in ("fine", "e2e"):
        return optim.fine_epochs
    return optim.coarse_epochs


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _load_into(module: nn.Module, state: Mapping[str, Tensor], where: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise TrainingError(
            f"{where}: weights do not fit this config (trained with another one?): {first}"
        ) from exc


class StageTrainer:
    """One stage's networks, optimisers, VGG loss and bank on one device; steps and saves.

    Construction loads the VGG-19 first, so a run without weights (and without
    ``loss.allow_random_vgg``) refuses at once with :class:`~hpt_model.vgg.MissingWeightsError`.
    A stage that ``config.variant`` lacks (e.g. ``face`` for Table IV's H+S+D) is refused at
    once with a one-line TrainingError. ``features`` replaces the VGG-19 by another frozen
    extractor with its interface (image (B, 3, H, W) in [-1, 1] → five feature maps at 1,
    1/2, … 1/16 of H): tests use a small one, VGG-19 costing seconds per step on two CPU
    cores.
    """

    def __init__(
        self,
        settings: TrainSettings,
        config: HPTConfig,
        device: torch.device | None = None,
        info: DistInfo | None = None,
        features: nn.Module | None = None,
    ) -> None:
        try:
            config.variant.check_stage(settings.stage)
        except ValueError as exc:
            raise TrainingError(str(exc)) from exc
        self.settings = settings
        self.config = config
        self.stage = settings.stage
        self.info = info or DistInfo()
        self.device = device or torch.device("cpu")
        cuda = self.device.type == "cuda"
        bf16 = settings.precision == "bf16" or (
            settings.precision == "auto" and cuda and torch.cuda.is_bf16_supported()
        )
        self.autocast_dtype = torch.bfloat16 if bf16 else None
        self.channels_last = settings.channels_last == "on" or (
            settings.channels_last == "auto" and cuda
        )
        vgg_loss = None
        if self.stage != "volume":
            if features is None:
                features = load_vgg19(config.loss.vgg_weights_path, config.loss.allow_random_vgg)
            vgg_loss = VGGPerceptualLoss(features, config.loss.vgg_layer_weights)  # type: ignore[arg-type]
            vgg_loss.to(self.device)
        self.nets = define_networks(config, stage_networks(self.stage, config)).to(self.device)
        if self.channels_last:
            self.nets.to(memory_format=torch.channels_last)
        prepare_networks(self.stage, self.nets)
        optim = config.optim
        betas = (optim.beta1, optim.beta2)
        self.optimizers = {
            "g": torch.optim.Adam(generator_parameters(self.stage, self.nets), optim.lr, betas)
        }
        d_params = discriminator_parameters(self.stage, self.nets)
        if d_params:
            self.optimizers["d"] = torch.optim.Adam(d_params, optim.lr, betas)
        self.bank = (
            CompletePartBank(settings.bank_size)
            if self.stage in LAYER_STAGES and config.variant.layers == "complete"
            else None
        )
        self.ctx = StepContext(
            stage=self.stage,
            config=config,
            nets=self.nets,
            optimizers=self.optimizers,
            vgg_loss=vgg_loss,
            bank=self.bank,
            autocast=self._autocast,
        )
        self.step = 0
        self.total_steps = 1

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # ------------------------------------------------------------------ weights

    def load_required(self) -> None:
        """Load the earlier stages' weights this stage starts from (see ``_REQUIRED``);
        a missing one is a one-line TrainingError naming the flag."""
        s = self.settings
        for flag, what in _REQUIRED.get(self.stage, ()):
            path = getattr(s, flag)
            if path is None:
                raise TrainingError(
                    f"stage '{self.stage}' needs {_WHAT[what]}: pass {_flag(flag)} PATH "
                    f"(the {FINAL} of `hpt-model train --stage {what}`)"
                )
            if flag != "init":
                self._load_network(path, what, _flag(flag))
        if s.init is not None:
            self._load_all(s.init)

    def _load_network(self, path: Path, what: str, flag: str) -> None:
        state = load_checkpoint(path)
        models = state["models"]
        if what == "coarse":
            if "coarse" not in models:
                raise TrainingError(f"{flag} {path}: holds no coarse generator")
            _load_into(self.nets["coarse"], models["coarse"], f"{flag} {path}")
            return
        if state.get("stage") not in (what, "fine", "e2e") or "layers" not in models:
            raise TrainingError(
                f"{flag} {path}: a '{state.get('stage')}' checkpoint holds no trained {what} "
                "layer generator"
            )
        saved_layers = checkpoint_config(state, f"{flag} {path}").variant.layers
        if saved_layers != self.config.variant.layers:
            raise TrainingError(
                f"{flag} {path}: its {what} layers were trained as '{saved_layers}' part "
                f"layers, this variant ({self.config.variant.name}) needs "
                f"'{self.config.variant.layers}' ones"
            )
        generator = self.nets["layers"].generators[what]
        _load_into(generator, part_weights(models["layers"], what), f"{flag} {path}")

    def _load_all(self, path: Path) -> None:
        """Every network of the checkpoint that this stage builds (the --init weights)."""
        models = load_checkpoint(path)["models"]
        shared = [name for name in self.nets if name in models]
        if not shared:
            raise TrainingError(f"--init {path}: holds none of {list(self.nets)}")
        for name in shared:
            _load_into(self.nets[name], models[name], f"--init {path}")

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "stage": self.stage,
            "step": self.step,
            "total_steps": self.total_steps,
            "models": {name: net.state_dict() for name, net in self.nets.items()},
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "bank": None if self.bank is None else self.bank.state_dict(),
            "config": self.config.to_dict(),
            "settings": self.settings.to_dict(),
            "rng": rng_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any], where: str = "checkpoint") -> None:
        if state["stage"] != self.stage:
            raise TrainingError(f"{where}: a '{state['stage']}' checkpoint, not '{self.stage}'")
        for name, net in self.nets.items():
            _load_into(net, state["models"][name], where)
        for key, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][key])
        if self.bank is not None and state.get("bank") is not None:
            self.bank.load_state_dict(state["bank"])
        self.step = int(state["step"])
        self.total_steps = int(state["total_steps"])
        set_rng_state(state["rng"])

    # ------------------------------------------------------------------ stepping

    def inputs(self, batch: Mapping[str, Any]) -> StageInputs:
        """A collated PairDataset batch (any device) → this stage's inputs on the device."""
        on_device = to_device(batch, self.device, self.channels_last)
        return build_stage_inputs(
            on_device,
            self.config,
            self.stage,
            self.settings.heatmap_sigma,
            self.settings.complete_threshold,
        )

    def learning_rate(self) -> float:
        optim = self.config.optim
        return optim.lr * lr_factor(self.step, self.total_steps, optim.constant_fraction)

    def train_step(self, inputs: StageInputs) -> Losses:
        """Set the scheduled rate, run one step, count it; returns the named losses."""
        lr = self.learning_rate()
        for opt in self.optimizers.values():
            set_learning_rate(opt, lr)
        losses = train_step(self.ctx, inputs)
        self.step += 1
        return losses

    def compile(self) -> None:
        """torch.compile the trained networks in place (state-dict keys unchanged)."""
        for net in self.nets.values():
            if is_trained(net):
                net.compile()

    def distribute(self) -> None:
        """Under torchrun, wrap the trained networks in DistributedDataParallel and take the
        others from rank 0 (no-op for one process). Call after loading weights and compiling:
        checkpoints keep holding the plain networks' state dicts."""
        self.ctx.replicas = replicate_trained(self.nets, self.info, self.device)


# --------------------------------------------------------------------------- data


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


def _loader(
    dataset: Dataset, settings: TrainSettings, batch: int, epoch: int, start: int, info: DistInfo
) -> Iterable[dict[str, Any]]:
    """This rank's batches of one epoch, from ``start`` on. With workers, batches cross
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


# --------------------------------------------------------------------------- logging


def image_grid(images: Mapping[str, Tensor], height: int = 256) -> Tensor:
    """First sample of each named (B, 3, H, W) image in [-1, 1], resized to ``height`` and
    laid side by side: (3, height, width) in [0, 1]."""
    tiles = []
    for image in images.values():
        tile = image[:1].detach().float().clamp(-1, 1)
        tile = F.interpolate(tile, size=(height, height), mode="bilinear", align_corners=False)
        tiles.append((tile[0] + 1) / 2)
    return torch.cat(tiles, dim=-1)


def _open_writer(settings: TrainSettings):
    from torch.utils.tensorboard import SummaryWriter  # needs the `tensorboard` package

    return SummaryWriter(log_dir=str(settings.out / "tb" / settings.stage))


# --------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
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
    if resume_state is not None and trainer.total_steps != total:
        raise TrainingError(
            f"--resume: the checkpoint's run has {trainer.total_steps} steps, these settings "
            f"give {total} (keep --epochs, --batch-size and the data as they were)"
        )
    trainer.total_steps = total
    stop = min(total, settings.stop_after) if settings.stop_after else total

    main = info.is_main
    writer = _open_writer(settings) if settings.tensorboard and main else None
    bar = tqdm(
        total=total,
        initial=trainer.step,
        desc=settings.stage,
        disable=not (settings.progress and main),
        dynamic_ncols=True,
    )
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
    try:
        while trainer.step < stop:
            epoch, start = divmod(trainer.step, steps_per_epoch)
            for raw in _loader(dataset, settings, batch, epoch, start, info):
                losses = trainer.train_step(trainer.inputs(raw))
                step = trainer.step
                bar.update(1)
                if step % settings.log_every == 0 or step == stop:
                    last_losses = {k: float(v) for k, v in losses.items()}
                    _check_finite(last_losses, step)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in last_losses.items()})
                    if writer is not None:
                        for name, value in last_losses.items():
                            writer.add_scalar(f"{settings.stage}/{name}", value, step)
                        writer.add_scalar(f"{settings.stage}/lr", trainer.learning_rate(), step)
                if writer is not None and (step % settings.image_every == 0 or step == stop):
                    inputs = trainer.inputs(raw)
                    images = stage_images(settings.stage, config, trainer.nets, inputs)
                    writer.add_image(f"{settings.stage}/grid", image_grid(images), step)
                if main and (step % settings.checkpoint_every == 0 or step == stop):
                    save_checkpoint(checkpoint, trainer.state_dict())
                if step >= stop:
                    break
        if main and trainer.step >= total:
            save_checkpoint(settings.out / FINAL, trainer.state_dict())
            checkpoint = settings.out / FINAL
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return TrainResult(trainer.step, total, checkpoint, last_losses)


def _check_finite(losses: Mapping[str, float], step: int) -> None:
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if bad:
        raise TrainingError(f"step {step}: non-finite loss(es) {bad}; lower the learning rate")
