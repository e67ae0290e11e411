"""The learning-rate schedule of §IV-B: constant, then linearly to zero.

The paper states it in epochs ("constant during the first half epochs and linearly decayed
in the latter half"); here it is applied per iteration, so the decay is smooth within an
epoch: factor(step) = 1 for step < c·T, then (T − step) / (T − c·T), with T the stage's
total number of iterations and c = ``optim.constant_fraction`` (0.5). The last step
(T − 1) still has a small positive rate; step T would have zero.
"""

from __future__ import annotations

import torch


def lr_factor(step: int, total_steps: int, constant_fraction: float = 0.5) -> float:
    """Multiplier of the base learning rate at iteration ``step`` (0-based) of ``total_steps``."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if not 0 <= constant_fraction <= 1:
        raise ValueError(f"constant_fraction must be in [0, 1], got {constant_fraction}")
    constant = constant_fraction * total_steps
    if step < constant:
        return 1.0
    return max(0.0, (total_steps - step) / (total_steps - constant))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's rate (the schedule is a pure function of the step)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
