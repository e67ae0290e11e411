"""Figures of a fit (and of MediaPipe's own 3D) against the truth of the benchmark clips.

Joint sets: MediaPipe's world landmarks and the body model share shoulders, elbows, wrists,
knees and ankles (:data:`SHARED_SMPL`, :data:`SHARED_MP`); MediaPipe's hips are not the
model's hip joints. The fit-vs-MediaPipe comparison is made on those 10 joints, in the
camera frame (x right, y down, z forward; MediaPipe's world landmarks are camera-aligned
about the hips):

- ``pa``: Procrustes-aligned (scale, rotation, translation) mean error;
- ``centroid``: translation-aligned (the 10 joints' centroids), so the orientation in the
  camera frame and the depth order count ("root-aligned": no common root joint exists).
"""

from __future__ import annotations

import itertools

import numpy as np

from hpt_data.fitting.metrics import pa_mpjpe, procrustes_align

#: shoulders, elbows, wrists, knees, ankles (left, right)
SHARED_SMPL = (16, 17, 18, 19, 20, 21, 4, 5, 7, 8)
SHARED_MP = (11, 12, 13, 14, 15, 16, 25, 26, 27, 28)
#: 2D joint groups: SMPL joints and MediaPipe landmarks
GROUPS = {
    "shoulders": ((16, 17), (11, 12)),
    "elbows": ((18, 19), (13, 14)),
    "wrists": ((20, 21), (15, 16)),
    "hips": ((1, 2), (23, 24)),
    "knees": ((4, 5), (25, 26)),
    "ankles": ((7, 8), (27, 28)),
}
#: limb segments (SMPL joints) whose depth order is checked where they cross in the image
SEGMENTS = {
    "l_upperarm": (16, 18),
    "l_forearm": (18, 20),
    "r_upperarm": (17, 19),
    "r_forearm": (19, 21),
    "l_thigh": (1, 4),
    "l_shin": (4, 7),
    "r_thigh": (2, 5),
    "r_shin": (5, 8),
}
SEGMENTS_MP = {
    "l_upperarm": (11, 13),
    "l_forearm": (13, 15),
    "r_upperarm": (12, 14),
    "r_forearm": (14, 16),
    "l_thigh": (23, 25),
    "l_shin": (25, 27),
    "r_thigh": (24, 26),
    "r_shin": (26, 28),
}


def centroid_mpjpe(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(T,) mean error after aligning the centroids. pred, truth : (T, N, 3)."""
    p = pred - pred.mean(1, keepdims=True)
    t = truth - truth.mean(1, keepdims=True)
    return np.linalg.norm(p - t, axis=-1).mean(-1)


def errors_3d(pred: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """``pa`` and ``centroid`` per frame (mm) of (T, 10, 3) against (T, 10, 3)."""
    return {
        "pa_mm": pa_mpjpe(pred, truth) * 1000,
        "centroid_mm": centroid_mpjpe(pred, truth) * 1000,
    }


def _crossing(
    a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray
) -> tuple[float, float] | None:
    """Parameters (s, t) where 2D segments a0-a1 and b0-b1 cross, or None."""
    da, db = a1 - a0, b1 - b0
    den = da[0] * db[1] - da[1] * db[0]
    if abs(den) < 1e-9:
        return None
    d = b0 - a0
    s = (d[0] * db[1] - d[1] * db[0]) / den
    t = (d[0] * da[1] - d[1] * da[0]) / den
    if 0.05 < s < 0.95 and 0.05 < t < 0.95:
        return s, t
    return None


def depth_order(
    truth_px: np.ndarray,
    truth_cam: np.ndarray,
    preds: dict[str, tuple[np.ndarray, dict[str, tuple[int, int]]]],
) -> dict[str, list[float]]:
    """Front/back order of limb segments that cross in the true image.

    truth_px (T, 24, 2), truth_cam (T, 24, 3); ``preds`` name -> ((T, J, 3) camera-frame
    points, that layout's :data:`SEGMENTS`-like table). Pairs whose true depths at the
    crossing differ by under 3 cm are skipped (no order to get right). Returns name -> a 1.0
    / 0.0 per crossing (right / wrong), pairs of adjacent segments excluded.
    """
    out: dict[str, list[float]] = {k: [] for k in preds}
    names = list(SEGMENTS)
    for i in range(len(truth_px)):
        for a, b in itertools.combinations(names, 2):
            (a0, a1), (b0, b1) = SEGMENTS[a], SEGMENTS[b]
            if {a0, a1} & {b0, b1}:
                continue
            hit = _crossing(truth_px[i, a0], truth_px[i, a1], truth_px[i, b0], truth_px[i, b1])
            if hit is None:
                continue
            s, t = hit
            za = truth_cam[i, a0, 2] + s * (truth_cam[i, a1, 2] - truth_cam[i, a0, 2])
            zb = truth_cam[i, b0, 2] + t * (truth_cam[i, b1, 2] - truth_cam[i, b0, 2])
            if abs(za - zb) < 0.03:
                continue
            for name, (pts, table) in preds.items():
                (p0, p1), (q0, q1) = table[a], table[b]
                pa = pts[i, p0, 2] + s * (pts[i, p1, 2] - pts[i, p0, 2])
                pb = pts[i, q0, 2] + t * (pts[i, q1, 2] - pts[i, q0, 2])
                if np.isfinite(pa) and np.isfinite(pb):
                    out[name].append(float((pa < pb) == (za < zb)))
    return out


def multiview_pa(per_view: list[np.ndarray]) -> np.ndarray:
    """Pairwise PA-MPJPE (mm) between views' fits of the same instants.

    per_view : V arrays (T, J, 3). Returns (T * V(V-1)/2,) errors.
    """
    errs = []
    for a, b in itertools.combinations(range(len(per_view)), 2):
        pa = procrustes_align(per_view[a], per_view[b])
        errs.append(np.linalg.norm(pa - per_view[b], axis=-1).mean(-1) * 1000)
    return np.concatenate(errs) if errs else np.zeros(0)


def summary(x: list[float] | np.ndarray, low_is_bad: bool = False) -> dict[str, float]:
    """Median and p90 (p10 for figures whose low tail is the bad one) of finite values."""
    a = np.asarray(x, np.float64)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return {"median": float("nan"), "p90": float("nan"), "n": 0}
    tail = np.percentile(a, 10 if low_is_bad else 90)
    return {"median": round(float(np.median(a)), 2), "p90": round(float(tail), 2), "n": len(a)}
