"""What one training run is asked to do: :class:`TrainSettings` (what the CLI parses) and
the defaults it falls back on (loader workers, the paper's epochs per stage).

Apart from the trainer and the loop so that the CLI, the tests and the benchmarks can build
and check settings without the networks; the model itself is described by
:class:`~hpt_model.config.HPTConfig`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpt_data.shards.schema import HEATMAP_SIGMA_1024
from hpt_model.config import HPTConfig
from hpt_model.errors import TrainingError
from hpt_model.method import LAYER_STAGES, STAGES
from hpt_model.training.budget import BUDGET_CLOCKS

PRECISIONS = ("auto", "fp32", "bf16")
SWITCHES = ("auto", "on", "off")
MAX_DEFAULT_WORKERS = 4
#: The settings fields that name an earlier stage's checkpoint (``--init`` aside).
INIT_FLAGS = ("coarse_checkpoint", "face_checkpoint", "arm_checkpoint", "leg_checkpoint")


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
    # wall-clock seconds for the whole stage: after calibrate_steps the run's length becomes
    # what the measured speed fits in the rest of the budget (at most the epochs' steps);
    # the schedule and final.pt follow that length, and --resume keeps it
    time_budget_s: float | None = None
    # what time_budget_s counts: wall (the clock) or cpu (this process's CPU seconds, so a
    # run takes the same steps however loaded the machine is; loader workers, which run
    # beside the loop, are not counted; with it, threads: 1 makes it wall seconds on an idle
    # core)
    budget_clock: str = "wall"
    calibrate_steps: int = 10  # steps timed (after the first) before the length is set
    resume: bool = False  # continue from <out>/last.pt
    init: Path | None = None  # start from this checkpoint's weights (e2e: a fine run's, option)
    coarse_checkpoint: Path | None = None  # face/arm/leg/fine/e2e: the trained coarse stage
    face_checkpoint: Path | None = None  # fine/e2e: the trained layer stages
    arm_checkpoint: Path | None = None
    leg_checkpoint: Path | None = None
    device: str = "auto"  # auto | cpu | cuda
    # torch's CPU threads for the run (torch.set_num_threads); None: torch's default
    # (OMP_NUM_THREADS, else the cores). On cores shared with other jobs, 1 avoids OpenMP
    # threads spinning against each other (docs/training.md, "Step costs")
    threads: int | None = None
    precision: str = "auto"  # auto (bf16 on a GPU that has it, else fp32) | fp32 | bf16
    # the frozen VGG-19 of the perceptual losses on a CPU: auto (bf16 where the CPU does bf16
    # natively, oneDNN; the networks trained stay in `precision`) | fp32 | bf16
    vgg_precision: str = "auto"
    channels_last: str = "auto"  # auto (on for CUDA) | on | off
    compile: bool = False  # torch.compile the trained networks
    tensorboard: bool = True
    progress: bool = True  # tqdm bar on rank 0
    heatmap_sigma: float = HEATMAP_SIGMA_1024  # σ of H in 1024-frame pixels: the shards' σ
    complete_threshold: float = 0.95  # visible / complete part area for a part to be complete
    bank_size: int = 32  # complete parts kept per layer stage (the set {I^n_r} of Eq. 1)
    # each pair's source and target in one random order of their colour channels (not the
    # paper's): with few people, the generators otherwise learn the commonest outfit
    # instead of copying the source's (training/augment.py)
    colour_augment: bool = False

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise TrainingError(f"unknown stage {self.stage!r}; expected one of {STAGES}")
        for name in ("data", "out", "init", *INIT_FLAGS):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                setattr(self, name, Path(value))
        if self.precision not in PRECISIONS:
            raise TrainingError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.vgg_precision not in PRECISIONS:
            raise TrainingError(
                f"vgg_precision must be one of {PRECISIONS}, got {self.vgg_precision!r}"
            )
        if self.channels_last not in SWITCHES:
            raise TrainingError(f"channels_last must be one of {SWITCHES}")
        for name in ("checkpoint_every", "log_every", "image_every", "bank_size"):
            if getattr(self, name) <= 0:
                raise TrainingError(f"{name} must be positive, got {getattr(self, name)}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise TrainingError(f"time_budget_s must be positive, got {self.time_budget_s}")
        if self.budget_clock not in BUDGET_CLOCKS:
            raise TrainingError(
                f"budget_clock must be one of {tuple(BUDGET_CLOCKS)}, got {self.budget_clock!r}"
            )
        if self.threads is not None and self.threads < 1:
            raise TrainingError(f"threads must be at least 1, got {self.threads}")
        if self.calibrate_steps < 1:
            raise TrainingError(f"calibrate_steps must be at least 1, got {self.calibrate_steps}")
        if self.heatmap_sigma <= 0:
            raise TrainingError(f"heatmap_sigma must be positive, got {self.heatmap_sigma}")

    def to_dict(self) -> dict[str, Any]:
        return {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()
        }


def default_epochs(stage: str, config: HPTConfig) -> int:
    """§IV-B: coarse 10, part layers 20, fine-scale generator (e2e; the fine option) 10;
    volume (not given): 10, chosen."""
    optim = config.optim
    if stage in LAYER_STAGES:
        return optim.layer_epochs
    if stage in ("fine", "e2e"):
        return optim.fine_epochs
    return optim.coarse_epochs
