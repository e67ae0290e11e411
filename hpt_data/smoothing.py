"""A One Euro filter for keypoint tracks: removes jitter when a point moves slowly and
follows it closely when it moves fast.

Casiez, Roussel and Vogel, "1€ Filter: A Simple Speed-based Low-pass Filter for Noisy
Input in Interactive Systems" (CHI 2012). Each step is an exponential low-pass whose cutoff
frequency rises with the point's (itself low-passed) speed: ``cutoff = min_cutoff + beta *
|speed|``. A still point gets ``min_cutoff`` (strong smoothing, jitter gone); a fast one a
high cutoff (little lag, fast motion kept). It uses the true time between samples, so
unevenly sampled keyframes are handled, and a long gap (``max_gap_s``) restarts it.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters a sequence of (K, D) point sets (K points, D coordinates).

    Parameters
    ----------
    min_cutoff : Hz, the cutoff for a still point (lower: smoother, more lag)
    beta : how fast the cutoff rises with speed, in Hz per (unit of position per second)
    d_cutoff : Hz, the cutoff of the speed estimate
    max_gap_s : a longer time between samples restarts the filter
    """

    def __init__(
        self,
        min_cutoff: float = 1.0,
        beta: float = 1.0,
        d_cutoff: float = 1.0,
        max_gap_s: float = 0.5,
    ) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0 or max_gap_s <= 0:
            raise ValueError("min_cutoff, d_cutoff and max_gap_s must be positive, beta >= 0")
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.max_gap_s = max_gap_s
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample passes through unchanged."""
        self._t: float | None = None
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def __call__(self, x: np.ndarray, t_s: float) -> np.ndarray:
        """The filtered (K, D) points for sample ``x`` (K, D) taken at time ``t_s`` seconds."""
        x = np.asarray(x, dtype=np.float64)
        if self._t is None or self._x is None or self._dx is None or self._x.shape != x.shape:
            return self._restart(x, t_s)
        dt = t_s - self._t
        if dt <= 0 or dt > self.max_gap_s:
            return self._restart(x, t_s)
        speed = (x - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * speed + (1.0 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.linalg.norm(self._dx, axis=-1, keepdims=True)
        a = _alpha(cutoff, dt)
        self._x = a * x + (1.0 - a) * self._x
        self._t = t_s
        return self._x.copy()

    def _restart(self, x: np.ndarray, t_s: float) -> np.ndarray:
        self._t, self._x, self._dx = t_s, x.copy(), np.zeros_like(x)
        return x.copy()
