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
    few pixels off where MediaPipe's own Pose puts them."""
    hm_h, hm_w, _ = heatmap.shape
    cell = LANDMARK_SIZE / hm_w
    out = xy.astype(np.float64).copy()
    half = (HEATMAP_KERNEL - 1) // 2
    cols = np.trunc(xy[:, 0] / cell).astype(int)  # C's float-to-int, as the graph does
    rows = np.trunc(xy[:, 1] / LANDMARK_SIZE * hm_h).astype(int)
    # the whole windows' confidences in one go (the same values as window by window);
    # windows cut by the heatmap's edge one at a time
    whole = (rows >= half) & (rows + half < hm_h) & (cols >= half) & (cols + half < hm_w)
    inner = np.flatnonzero(whole)
    steps = np.arange(-half, half + 1)
    confs = sigmoid(
        heatmap[
            rows[inner, None, None] + steps[:, None],
            cols[inner, None, None] + steps,
            inner[:, None, None],
        ]
    )
    at = dict(zip(inner.tolist(), range(len(inner)), strict=True))
    for k, (c, r) in enumerate(zip(cols, rows, strict=True)):
        if not (0 <= c < hm_w and 0 <= r < hm_h):
            continue
        r0, r1, c0, c1 = (
            max(0, r - half),
            min(hm_h, r + half + 1),
            max(0, c - half),
            min(hm_w, c + half + 1),
        )
        conf = confs[at[k]] if k in at else sigmoid(heatmap[r0:r1, c0:c1, k])
        total = conf.sum()
        if conf.max() < HEATMAP_MIN_CONFIDENCE or total <= 0:
            continue
        # the graph weights cell indices (not cell centres): kept, as Pose's points are
        out[k, 0] = (conf.sum(axis=0) @ np.arange(c0, c1)) / total * cell
        out[k, 1] = (conf.sum(axis=1) @ np.arange(r0, r1)) / total * (LANDMARK_SIZE / hm_h)
    return out
