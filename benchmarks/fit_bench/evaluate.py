"""Figures of a fit (and of MediaPipe's own 3D) against the truth of the benchmark clips.

Joint sets: MediaPipe's world landmarks and the body model share shoulders, elbows, wrists,
knees and ankles (:data:`SHARED_SMPL`, :data:`SHARED_MP`); MediaPipe's hips are not the
model's hip joints. The fit-vs-MediaPipe comparison is made on those 10 joints, in the
camera frame (x right, y down, z forward; MediaPipe's world landmarks are camera-aligned
about the hips):

- ``pa``: Procrustes-aligned (scale, rotation, translation) mean error;
- ``centroid``: translation-aligned (the 10 joints' centroids), so the orientation in the
  camera frame, the depth order and the person's size count ("root-aligned": no common
  root joint exists);
- ``scaled``: centroid- and scale-aligned (no rotation): orientation and depth order
  without the size (which MediaPipe's world landmarks and a fit from one view can only
  guess: the people here are 1.1-2 m tall).
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
    "l_hand": (20, 22),
    "r_hand": (21, 23),
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
    "l_hand": (15, 19),
    "r_hand": (16, 20),
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


def scaled_mpjpe(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(T,) mean error after aligning the centroids and the scale (no rotation): the
    orientation and depth order in the camera frame, without the person's size."""
    p = pred - pred.mean(1, keepdims=True)
    t = truth - truth.mean(1, keepdims=True)
    s = (p * t).sum((1, 2)) / np.maximum((p * p).sum((1, 2)), 1e-12)
    return np.linalg.norm(s[:, None, None] * p - t, axis=-1).mean(-1)


def errors_3d(pred: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """``pa``, ``centroid`` and ``scaled`` per frame (mm) of (T, 10, 3) against (T, 10, 3)."""
    return {
        "pa_mm": pa_mpjpe(pred, truth) * 1000,
        "centroid_mm": centroid_mpjpe(pred, truth) * 1000,
        "scaled_mm": scaled_mpjpe(pred, truth) * 1000,
    }


#: a limb's width (m): segments nearer than this in the image overlap
LIMB_WIDTH_M = 0.08
_STEPS = np.linspace(0.0, 1.0, 11)


def _closest(
    a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray
) -> tuple[float, float, float]:
    """Parameters (s, t) of the closest points of 2D segments a0-a1, b0-b1 (sampled at
    tenths) and their distance."""
    pa = a0 + _STEPS[:, None] * (a1 - a0)
    pb = b0 + _STEPS[:, None] * (b1 - b0)
    d = np.linalg.norm(pa[:, None] - pb[None], axis=-1)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return float(_STEPS[i]), float(_STEPS[j]), float(d[i, j])


def depth_order(
    truth_px: np.ndarray,
    truth_cam: np.ndarray,
    preds: dict[str, tuple[np.ndarray, dict[str, tuple[int, int]]]],
    focal_px: float,
) -> dict[str, list[float]]:
    """Front/back order of limb segments that overlap in the true image.

    Two segments overlap where their closest points (sampled at tenths of their lengths)
    are nearer in the image than a limb's width (:data:`LIMB_WIDTH_M` at their depth,
    ``focal_px`` the camera's focal length in pixels). truth_px (T, 24, 2), truth_cam
    (T, 24, 3); ``preds`` name -> ((T, J, 3) camera-frame points, that layout's
    :data:`SEGMENTS`-like table). Pairs whose true depths there differ by under 3 cm are
    skipped (no order to get right), and adjacent segments. Returns name -> a 1.0 / 0.0
    per overlap (right / wrong).
    """
    out: dict[str, list[float]] = {k: [] for k in preds}
    names = list(SEGMENTS)
    for i in range(len(truth_px)):
        for a, b in itertools.combinations(names, 2):
            (a0, a1), (b0, b1) = SEGMENTS[a], SEGMENTS[b]
            if {a0, a1} & {b0, b1}:
                continue
            px, cam = truth_px[i], truth_cam[i]
            s, t, dist = _closest(px[a0], px[a1], px[b0], px[b1])
            za = cam[a0, 2] + s * (cam[a1, 2] - cam[a0, 2])
            zb = cam[b0, 2] + t * (cam[b1, 2] - cam[b0, 2])
            if dist > LIMB_WIDTH_M * focal_px / max(min(za, zb), 0.1) or abs(za - zb) < 0.03:
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
