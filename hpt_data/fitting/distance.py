"""The camera's distance from the person, estimated per video instead of assumed.

The fitter projects with perspective about the pelvis at a distance ``Z``; the scale
``s = f / Z`` is fitted, ``Z`` itself only shows in the foreshortening (a hand reaching at
the camera is drawn larger). MediaPipe's world landmarks give each landmark's depth about
the hips, so for a trial ``Z`` every frame's scale and offset follow in closed form from
``u (1 + z / Z) = s x + t`` (linear least squares, x, y, z the world landmarks, u the 2D
ones), and the ``Z`` whose projection meets the 2D best over the video is kept. A video
without world landmarks (or too few frames of them) keeps the assumed distance.
"""

from __future__ import annotations

import numpy as np

#: trial distances (m): the range of everyday filming, geometric steps
CANDIDATES_M: tuple[float, ...] = (1.5, 1.9, 2.4, 3.0, 3.8, 4.8, 6.0)
#: body landmarks used (shoulders to ankles; not the face or the fingers)
BODY = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
MIN_FRAMES = 3


def frame_residuals(image: np.ndarray, world: np.ndarray, distance: float) -> np.ndarray:
    """(T,) per frame the median distance (normalised crop units) between the 2D landmarks
    and the world landmarks projected at ``distance`` with the best scale and offset; NaN
    for a frame with fewer than 6 landmarks seen (visibility >= 0.5 in both).
    image : (T, 33, 3) normalised crop x, y, visibility; world : (T, 33, 4)."""
    out = np.full(len(image), np.nan)
    for i, (im, w) in enumerate(zip(image[:, BODY], world[:, BODY], strict=True)):
        ok = np.isfinite(w).all(-1) & np.isfinite(im).all(-1) & (im[:, 2] >= 0.5)
        ok &= w[:, 3] >= 0.5
        if ok.sum() < 6:
            continue
        x, u = w[ok, :3], im[ok, :2]
        k = 1.0 + x[:, 2] / distance  # (n,) perspective factor about the hips
        if (k <= 0.2).any():
            continue
        n = len(x)
        a = np.zeros((2 * n, 3))
        a[:n, 0], a[:n, 1] = x[:, 0], 1.0
        a[n:, 0], a[n:, 2] = x[:, 1], 1.0
        rhs = np.concatenate([u[:, 0] * k, u[:, 1] * k])
        sol = np.linalg.lstsq(a, rhs, rcond=None)[0]
        proj = np.stack([sol[0] * x[:, 0] + sol[1], sol[0] * x[:, 1] + sol[2]], -1) / k[:, None]
        out[i] = float(np.median(np.linalg.norm(proj - u, axis=-1)))
    return out


def estimate_distance(
    image: np.ndarray, world: np.ndarray | None, candidates: tuple[float, ...] = CANDIDATES_M
) -> float | None:
    """The trial distance (m) whose projections of the world landmarks meet the 2D best
    (mean over frames of :func:`frame_residuals`); None without world landmarks on at
    least ``MIN_FRAMES`` frames. image : (T, 33, 3); world : (T, 33, 4) or None."""
    if world is None:
        return None
    image = np.asarray(image, np.float64)
    world = np.asarray(world, np.float64)
    res = np.stack([frame_residuals(image, world, z) for z in candidates])  # (C, T)
    frames = np.isfinite(res).all(0)
    if frames.sum() < MIN_FRAMES:
        return None
    return float(candidates[int(np.argmin(res[:, frames].mean(1)))])
