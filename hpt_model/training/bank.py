"""The set of complete body parts {I^n_r} that Eq. 1's completeness discriminator sees as real.

The paper draws I^n_r "from a complete body part set with no occlusion" without saying how
the set is made. Here it is built from the training targets themselves: every step, each
target part whose visible pixels cover the complete part map (``PartInputs.unoccluded``) is
pushed, as the ground-truth crop with its pair's source crop (the discriminator's
condition), into a first-in-first-out bank per part kind; the real samples of a step are
drawn uniformly, with replacement, from that bank. Right parts are stored mirrored, in the
left frame the shared arm and leg generators and discriminators work in. Until the first
complete part has been seen the bank is empty and the discriminator's real term is skipped.

The bank is part of the training state: it is saved in checkpoints so that a resumed run
draws the same samples (the draw uses torch's global generator, whose state is saved too).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class CompletePartBank:
    """FIFO of (complete part crop, source part crop) pairs, (3, s, s) each, kept on the CPU."""

    def __init__(self, capacity: int = 32) -> None:
        if capacity <= 0:
            raise ValueError(f"bank capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.real: Tensor | None = None  # (N, 3, s, s)
        self.condition: Tensor | None = None  # (N, 3, s, s)

    def __len__(self) -> int:
        return 0 if self.real is None else int(self.real.shape[0])

    def push(self, real: Tensor, condition: Tensor) -> None:
        """Add (K, 3, s, s) pairs, dropping the oldest beyond the capacity."""
        if real.shape[0] == 0:
            return
        real = real.detach().float().cpu()
        condition = condition.detach().float().cpu()
        if self.real is None or self.condition is None:
            self.real, self.condition = real, condition
        else:
            self.real = torch.cat([self.real, real])
            self.condition = torch.cat([self.condition, condition])
        self.real = self.real[-self.capacity :].contiguous()
        self.condition = self.condition[-self.capacity :].contiguous()

    def sample(self, n: int, device: torch.device) -> tuple[Tensor, Tensor] | None:
        """``n`` pairs drawn uniformly with replacement, or None while the bank is empty."""
        if self.real is None or self.condition is None:
            return None
        index = torch.randint(len(self), (n,))
        return self.real[index].to(device), self.condition[index].to(device)

    def state_dict(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "real": self.real, "condition": self.condition}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.capacity = int(state["capacity"])
        self.real, self.condition = state["real"], state["condition"]
