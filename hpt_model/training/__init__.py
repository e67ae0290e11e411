"""Training of the hierarchical generator, stage by stage (§IV-B); see ``docs/training.md``.

- :mod:`~hpt_model.training.inputs`: a shard batch → each stage's inputs at the config's sizes;
- :mod:`~hpt_model.training.steps`: one optimisation step per stage → a dict of named losses;
- :mod:`~hpt_model.training.bank`: the complete-part set {I^n_r} of Eq. 1;
- :mod:`~hpt_model.training.schedule`: constant, then linear decay of the learning rate;
- :mod:`~hpt_model.training.checkpoint`: atomic checkpoints that resume exactly;
- :mod:`~hpt_model.training.distributed`: data parallelism under torchrun;
- :mod:`~hpt_model.training.loop`: :class:`TrainSettings`, :class:`StageTrainer`, :func:`train`.
"""

from hpt_model.training.checkpoint import TrainingError
from hpt_model.training.inputs import STAGES, build_stage_inputs
from hpt_model.training.loop import StageTrainer, TrainResult, TrainSettings, train
from hpt_model.training.steps import MethodOutput, final_image

__all__ = [
    "STAGES",
    "MethodOutput",
    "StageTrainer",
    "TrainResult",
    "TrainSettings",
    "TrainingError",
    "build_stage_inputs",
    "final_image",
    "train",
]
