"""Checkpoints: everything a run needs to continue exactly, in one file written atomically.

A checkpoint is a dict (``torch.save``), following nanoGPT's train.py::

    version     CHECKPOINT_VERSION
    stage       "coarse" | "face" | ... | "volume"
    step        iterations done; epoch = step // steps_per_epoch
    total_steps the stage's length (its schedule depends on it)
    models      network name → state dict (every network the stage builds, frozen ones too)
    optimizers  "g" / "d" → Adam state dict
    bank        the complete-part bank of the layer stages (or None)
    config      HPTConfig.to_dict(): the architecture comes back from here on resume
    settings    the run's settings (plain values), for the record
    rng         torch CPU (and CUDA) generator states

Only tensors and plain Python values are stored, so files load with
``torch.load(weights_only=True)``. The learning rate is not stored: it is a function of
``step`` (see :mod:`hpt_model.training.schedule`). A write goes to ``<name>.tmp`` and is
renamed into place, so a crash never leaves a truncated ``last.pt``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from hpt_model.errors import TrainingError

CHECKPOINT_VERSION = 1
LAST = "last.pt"  # written every N steps and when a run stops
FINAL = "final.pt"  # written when a stage has run all its epochs



def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint on the CPU; TrainingError naming the file if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise TrainingError(f"{path}: not a readable checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise TrainingError(f"{path}: not an hpt-model checkpoint of version {CHECKPOINT_VERSION}")
    return state


def rng_state() -> dict[str, Any]:
    """torch's CPU generator and, where present, every CUDA generator."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
