"""hpt_model's user-facing errors: all :class:`~hpt_data.errors.HptError`, the project's one
base, so the ``hpt-model`` and ``hpt`` commands print them as one line (exit status 2) and
let anything else (a bug) show its traceback.

A ``ValueError`` raised by a library function means a programming error (a wrong shape, an
unknown name in code). What a user can cause (a bad ``--model-config``, a missing checkpoint or
weights file) raises one of these. Those that replace a ``ValueError`` of earlier versions
are ``ValueError`` too, so callers that caught it still do.
"""

from __future__ import annotations

from hpt_data.errors import ConfigError, HptError

__all__ = [
    "CheckpointError",
    "HptError",
    "MissingWeightsError",
    "ModelConfigError",
    "ModelError",
    "TrainingError",
    "WeightsFileError",
]


class ModelError(HptError):
    """A user-facing problem in the model package (bad settings, a file that is not usable)."""


class ModelConfigError(ConfigError, ValueError):
    """A model config (``--model-config`` preset or JSON file) that cannot be used."""


class CheckpointError(ModelError):
    """A checkpoint that is missing, unreadable, or holds not the networks asked for."""


class TrainingError(ModelError):
    """Training settings or earlier stages that do not allow a run (bad flag, missing stage)."""


class MissingWeightsError(ModelError):
    """No pretrained weights file (VGG-19, LPIPS) was found and random ones were not allowed."""


class WeightsFileError(ModelError, ValueError):
    """A pretrained weights file that exists but is not the weights expected."""
