"""Training of the hierarchical generator, stage by stage (§IV-B); see ``docs/training.md``.

The method itself (a shard batch → the stage inputs, coarse → layers → Eq. 6 → fine) is
:mod:`hpt_model.method`, which inference and evaluation import without this package;
checkpoints are :mod:`hpt_model.checkpoints`.

- :mod:`~hpt_model.training.steps`: one optimisation step per stage → a dict of named losses;
- :mod:`~hpt_model.training.monitor`: a stage's reconstruction error and its image grid;
- :mod:`~hpt_model.training.bank`: the complete-part set {I^n_r} of Eq. 1;
- :mod:`~hpt_model.training.schedule`: constant, then linear decay of the learning rate;
- :mod:`~hpt_model.training.distributed`: data parallelism under torchrun;
- :mod:`~hpt_model.training.settings`: :class:`TrainSettings` and its defaults;
- :mod:`~hpt_model.training.trainer`: :class:`StageTrainer`, one stage's networks and steps;
- :mod:`~hpt_model.training.sampling`: the data order, a pure function of (seed, epoch);
- :mod:`~hpt_model.training.augment`: colour-channel swaps of a pair (an option);
- :mod:`~hpt_model.training.run_log`: the progress bar and TensorBoard logs;
- :mod:`~hpt_model.training.loop`: :func:`train`, the loop over epochs with its checkpoints.
"""

from hpt_model.errors import TrainingError
from hpt_model.method import STAGES, build_stage_inputs
from hpt_model.training.loop import TrainResult, train
from hpt_model.training.settings import TrainSettings
from hpt_model.training.trainer import StageTrainer

__all__ = [
    "STAGES",
    "StageTrainer",
    "TrainResult",
    "TrainSettings",
    "TrainingError",
    "build_stage_inputs",
    "train",
]
