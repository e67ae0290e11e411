"""What makes a synthetic clip depend on its seed alone: generators seeded by stable hashes
of ids, and body model output rounded to a fixed grid.

Shared by ``people`` (a person's measurements), ``clip`` (posing and rendering) and the
source itself, below all three so that none of them imports another for it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

#: Body coordinates are rounded to this many decimals (metres): a micrometre grid.
ROUND_DECIMALS = 6


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from the parts' text (blake2b): the same in every process and run."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def rng_for(*parts: object) -> np.random.Generator:
    """A generator seeded by :func:`stable_seed` of the parts."""
    return np.random.default_rng(stable_seed(*parts))


def settle(values: Any) -> np.ndarray:
    """A torch tensor as float64 numpy, rounded to :data:`ROUND_DECIMALS` decimals.

    BLAS kernels may sum in a different order from run to run (memory alignment, threads),
    which changes the last bits of the body model's output; rounding to a fixed grid
    (well above float64 noise, well below any pixel) makes the ground truth and every
    render depend on the seed alone.
    """
    arr = values.detach().cpu().numpy().astype(np.float64)
    return np.round(arr, ROUND_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
