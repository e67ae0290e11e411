"""A stage's length from a time budget (``time_budget_s``, by the wall clock or by the
process's CPU time: ``budget_clock``): the run times its first steps, then fixes its total
number of steps to what that speed fits in the rest of the budget. The learning-rate
schedule (constant for the first half, then linear to zero) is a function of the total, so
it is fixed early — after ``calibrate_steps`` steps, well inside the constant half — and
from then on the run is an ordinary one of that length: the checkpoint keeps it,
``final.pt`` is written when it is reached and ``--resume`` goes on to it. Speed on a
shared machine varies, so the run ends near the budget, not exactly on it (by the wall
clock; the CPU clock takes the same steps under any load).
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: What a budget counts (``TrainSettings.budget_clock``): the wall clock, or this process's
#: CPU time (the same steps under any load; ``time.process_time`` counts every thread).
BUDGET_CLOCKS: dict[str, Callable[[], float]] = {
    "wall": time.monotonic,
    "cpu": time.process_time,
}


class WallBudget:
    """Decides a stage's length from the speed of its first steps.

    ``seconds``: the whole stage's budget, counted from construction; ``calibrate_steps``:
    steps timed, after the first (which pays for lazy set-up), before deciding.
    """

    def __init__(
        self, seconds: float, calibrate_steps: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.calibrate_steps = calibrate_steps
        self.clock = clock
        self.start = clock()
        self._ref: tuple[int, float] | None = None

    def after_step(self, step: int, max_total: int) -> int | None:
        """Call after each step (``step`` steps done); returns the run's total steps once
        the speed is measured (at least ``step``, at most ``max_total``), else None."""
        now = self.clock()
        if self._ref is None:
            self._ref = (step, now)
            return None
        ref_step, ref_time = self._ref
        if step - ref_step < self.calibrate_steps:
            return None
        rate = (step - ref_step) / max(now - ref_time, 1e-9)  # steps per second
        remaining = self.seconds - (now - self.start)
        return min(max_total, step + max(0, int(remaining * rate)))
