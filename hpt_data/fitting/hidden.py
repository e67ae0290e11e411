"""Landmarks MediaPipe marks as hidden still carry its estimate of where they are.

MediaPipe's per-landmark ``visibility`` is the probability that the point is *seen* (not
occluded), not how well it is placed: an arm reaching across the body seen from behind has
visibility 0.01-0.1 at the hidden wrist, yet Pose's estimate of where that wrist is beats
the fitter's pose prior (dev split of ``benchmarks/fit_anny.py``: with the wrist weighted by
its visibility alone the fit let the prior put the arm down, 290 mm off at the wrist,
where MediaPipe's own estimate was 130-150 mm off). So a hidden landmark keeps a floor of
weight, but only where it lies on the person's mask: a body point hidden by the body
projects onto the person, while one off the mask is either out of the picture or a guess
the silhouette contradicts.
"""

from __future__ import annotations

import numpy as np

#: how far off the mask (fraction of the crop's side) a hidden landmark may lie and still
#: count as on the person (a wrist at the silhouette's edge, the mask's own error)
TOLERANCE = 0.02


def on_mask(points: np.ndarray, mask: np.ndarray, tolerance: float = TOLERANCE) -> np.ndarray:
    """(K,) bool: which points ``(K, 2)`` (normalised crop x, y in [-1, 1]) lie within
    ``tolerance`` of the width of ``mask`` (H, W) bool (a square window about each point);
    False where NaN or outside the crop."""
    h, w = mask.shape
    k = max(1, round(tolerance * w))
    x = (points[:, 0] + 1) / 2 * w - 0.5
    y = (points[:, 1] + 1) / 2 * h - 0.5
    ok = np.isfinite(x) & np.isfinite(y)
    ok &= (x > -0.5) & (x < w - 0.5) & (y > -0.5) & (y < h - 0.5)
    xi = np.clip(np.round(np.nan_to_num(x)), 0, w - 1).astype(int)
    yi = np.clip(np.round(np.nan_to_num(y)), 0, h - 1).astype(int)
    near = [
        bool(mask[max(b - k, 0) : b + k + 1, max(a - k, 0) : a + k + 1].any())
        for a, b in zip(xi, yi, strict=True)
    ]
    return ok & np.array(near, bool)


def hidden_floor(
    landmarks: np.ndarray, masks: list[np.ndarray | None] | None, floor: float
) -> np.ndarray:
    """``landmarks (T, 33, 3)`` (normalised crop x, y, confidence) with the confidence of
    every landmark that lies on its frame's mask raised to at least ``floor``; frames
    without a mask, and ``floor <= 0``, are unchanged. Returns a new array. The fit's
    first look at its inputs: wrong shapes or counts are named here."""
    out = np.array(landmarks, dtype=np.float64, copy=True)
    if out.ndim != 3 or out.shape[1:] != (33, 3):
        raise ValueError(f"landmarks must have shape (T, 33, 3), got {out.shape}")
    if masks is not None and len(masks) != len(out):
        raise ValueError(f"{len(masks)} masks for {len(out)} frames")
    if floor <= 0 or masks is None:
        return out
    for t, mask in enumerate(masks):
        if mask is None:
            continue
        on = on_mask(out[t, :, :2], np.asarray(mask, bool))
        out[t, :, 2] = np.where(on, np.maximum(out[t, :, 2], floor), out[t, :, 2])
    return out
