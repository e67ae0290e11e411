"""The Pose landmark model's heatmap refinement (``RefineLandmarksFromHeatmapCalculator``
as the Pose graph sets it), the sigmoid its logits go through
(:func:`hpt_data.perception.people.landmarks_in_roi` runs both) and the mirror order of
its points (its look at a mirrored region)."""

from __future__ import annotations

import numpy as np

#: The landmark model's input side, pixels (its points are in these crop pixels).
LANDMARK_SIZE = 256

#: Each of the model's 39 points' mirror image (the person's left and right swapped: eyes,
#: ears, mouth corners, then 11-32 in left/right pairs; the alignment points 33 and 34 and
#: the rest lie on the body's axis).
MIRROR_ORDER = np.array(
    [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9]
    + [i + (1 if i % 2 else -1) for i in range(11, 33)]
    + [33, 34, 35, 36, 37, 38]
)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in float64, x clipped to [-80, 80] (computed in one new array)."""
    y = np.atleast_1d(np.clip(np.asarray(x, np.float64), -80.0, 80.0))  # a new array
    np.negative(y, out=y)
    np.exp(y, out=y)
    y += 1.0
    return np.divide(1.0, y, out=y).reshape(np.shape(x))


#: ``RefineLandmarksFromHeatmapCalculator`` as the Pose graph sets it: a point moves to the
#: heatmap's weighted centre within a 7×7 window around it where the window's peak is sure.
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """The Pose graph's heatmap refinement: (39, 2) points in 256² crop pixels, the
    (64, 64, 39) heatmap logits; the refined (39, 2) points. Without it the points are a
    few pixels off where MediaPipe's own Pose puts them.

    Every point inside the heatmap at once: its 7×7 window of confidences, cells beyond
    the heatmap's edge counted as 0 (the graph clips the window there: the same sums)."""
    hm_h, hm_w, _ = heatmap.shape
    out = xy.astype(np.float64).copy()
    half = (HEATMAP_KERNEL - 1) // 2
    cols = np.trunc(xy[:, 0] / (LANDMARK_SIZE / hm_w)).astype(int)  # C's float-to-int
    rows = np.trunc(xy[:, 1] / LANDMARK_SIZE * hm_h).astype(int)
    inside = np.flatnonzero((cols >= 0) & (cols < hm_w) & (rows >= 0) & (rows < hm_h))
    steps = np.arange(-half, half + 1)
    r, c = rows[inside, None] + steps, cols[inside, None] + steps  # (n, 7) cell indices
    on_r, on_c = (r >= 0) & (r < hm_h), (c >= 0) & (c < hm_w)
    logits = heatmap[
        np.clip(r, 0, hm_h - 1)[:, :, None],
        np.clip(c, 0, hm_w - 1)[:, None, :],
        inside[:, None, None],
    ]
    conf = sigmoid(logits) * (on_r[:, :, None] & on_c[:, None, :])  # (n, 7, 7)
    total = conf.sum(axis=(1, 2))
    sure = (conf.max(axis=(1, 2)) >= HEATMAP_MIN_CONFIDENCE) & (total > 0)
    total = np.where(sure, total, 1.0)
    # the graph weights cell indices (not cell centres): kept, as Pose's points are
    x = (conf.sum(axis=1) * c).sum(axis=1) / total * (LANDMARK_SIZE / hm_w)
    y = (conf.sum(axis=2) * r).sum(axis=1) / total * (LANDMARK_SIZE / hm_h)
    out[inside[sure]] = np.column_stack([x, y])[sure]
    return out
