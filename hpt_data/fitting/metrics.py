"""Fit figures: MPJPE, PA-MPJPE (Procrustes), reprojection error, mask IoU, hinge angles.

Plain numpy. Pixel coordinates follow ``hpt_data.body.weak_perspective`` (pixel centres
at integer coordinates).
"""

from __future__ import annotations

import numpy as np

from hpt_data.body.joints import JOINT_INDEX


def procrustes_align(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Similarity transform (scale, rotation, translation) of ``pred`` that best fits
    ``truth`` in least squares (Umeyama), applied to ``pred``.

    pred, truth : (..., N, 3). Returns (..., N, 3).
    """
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape or pred.shape[-1] != 3:
        raise ValueError(f"shapes must match and end in 3, got {pred.shape}, {truth.shape}")
    mp, mt = pred.mean(-2, keepdims=True), truth.mean(-2, keepdims=True)
    p, t = pred - mp, truth - mt
    cov = np.swapaxes(p, -1, -2) @ t  # (..., 3, 3)
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones_like(s)
    fix[..., -1] = d
    rot = (u * fix[..., None, :]) @ vt  # maps p's rows: p @ rot
    scale = (s * fix).sum(-1) / np.maximum((p**2).sum((-1, -2)), 1e-12)
    return scale[..., None, None] * (p @ rot) + mt


def mpjpe(pred: np.ndarray, truth: np.ndarray, root: int | None = 0) -> np.ndarray:
    """Mean per-joint position error after aligning the ``root`` joints (None: no alignment).

    pred, truth : (T, N, 3). Returns (T,) in the inputs' unit.
    """
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if root is not None:
        pred = pred - pred[:, root : root + 1]
        truth = truth - truth[:, root : root + 1]
    return np.linalg.norm(pred - truth, axis=-1).mean(-1)


def pa_mpjpe(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """MPJPE after Procrustes alignment per frame. pred, truth : (T, N, 3). Returns (T,)."""
    return np.linalg.norm(procrustes_align(pred, truth) - np.asarray(truth), axis=-1).mean(-1)


def reprojection_px(pred: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted mean 2D distance per frame.

    pred, target : (T, K, 2) pixels; weight : (T, K). Returns (T,) (NaN without weight).
    """
    d = np.linalg.norm(np.asarray(pred) - np.asarray(target), axis=-1)
    w = np.asarray(weight, dtype=np.float64)
    tot = w.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, (w * np.nan_to_num(d)).sum(-1) / tot, np.nan)


def rasterize(
    points: np.ndarray,
    faces: np.ndarray,
    size: int,
    one_side: bool = False,
    compiled: bool = True,
) -> np.ndarray:
    """Binary silhouette of a projected triangle mesh.

    A pixel is covered when its centre (integer coordinates) lies inside a triangle.
    Vectorised over triangles: each triangle's bounding box is scanned in one pass.

    Parameters
    ----------
    points : (V, 2) pixel coordinates; faces : (F, 3) int; size : side of the image
    one_side : draw only the triangles of one winding (positive signed area). For a closed
        mesh that is the same silhouette (every ray through it enters the surface once more
        than it leaves) at half the cost.
    compiled : the compiled loop (:mod:`hpt_data.fitting._cover_jit`, same pixels) where
        numba is there; False: the numpy reference

    Returns
    -------
    (size, size) bool
    """
    from hpt_data.fitting import _cover_jit  # numba loads on first use, not on import

    pts = np.asarray(points, dtype=np.float64)
    if compiled and _cover_jit.ENABLED and len(pts) and np.abs(pts).max() <= _cover_jit.SAFE:
        out = np.zeros((size, size), bool)
        _cover_jit.cover(pts, np.asarray(faces, np.int64), one_side, out)
        return out
    tri = pts[np.asarray(faces)]  # (F, 3, 2)
    if one_side:
        e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
        tri = tri[e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] > 0]
    lo = np.ceil(tri.min(1)).astype(np.int64)
    hi = np.floor(tri.max(1)).astype(np.int64)
    keep = (hi >= lo).all(1) & (hi >= 0).all(1) & (lo < size).all(1)
    tri, lo, hi = tri[keep], np.clip(lo[keep], 0, size - 1), np.clip(hi[keep], 0, size - 1)
    out = np.zeros((size, size), bool)
    if len(tri) == 0:
        return out
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    ext = hi - lo + 1
    # scan each triangle's box in blocks of 3x3 offsets: at the sizes used (a body of a few
    # hundred pixels) nearly every triangle fits in one block; bigger boxes take more
    step = 3
    for oy in range(0, int(ext[:, 1].max()), step):
        for ox in range(0, int(ext[:, 0].max()), step):
            sel = np.nonzero((ext[:, 0] > ox) & (ext[:, 1] > oy))[0]
            if len(sel) == 0:
                continue
            dy, dx = np.mgrid[oy : oy + step, ox : ox + step]
            x = lo[sel, 0, None] + dx.ravel()[None]
            y = lo[sel, 1, None] + dy.ravel()[None]
            inside = (x <= hi[sel, 0, None]) & (y <= hi[sel, 1, None])
            sign = np.sign(area[sel])[:, None]
            inside &= sign != 0
            for p, q in ((a, b), (b, c), (c, a)):
                ps, qs = p[sel], q[sel]
                edge = (qs[:, 0, None] - ps[:, 0, None]) * (y - ps[:, 1, None]) - (
                    qs[:, 1, None] - ps[:, 1, None]
                ) * (x - ps[:, 0, None])
                inside &= edge * sign >= 0
            out[y[inside], x[inside]] = True
    return out


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (H, W) masks (NaN when both are empty)."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else float("nan")


def euler_near_zero(rotvec: np.ndarray) -> np.ndarray:
    """Extrinsic x-y-z Euler angles of ``(..., 3)`` axis-angle rotations, choosing of the
    two solutions the one with the smaller x and z angles.

    scipy returns the middle angle in [-pi/2, pi/2], so an elbow flexed 104° about y comes
    back as (pi, -76°, pi); the other solution, (0, -104°, 0), is the one the joint limits
    are written for.
    """
    from scipy.spatial.transform import Rotation

    rv = np.asarray(rotvec, dtype=np.float64)
    e = Rotation.from_rotvec(rv.reshape(-1, 3)).as_euler("xyz")
    sgn = np.where(e >= 0, 1.0, -1.0)
    alt = np.stack(
        [e[:, 0] - np.pi * sgn[:, 0], np.pi * sgn[:, 1] - e[:, 1], e[:, 2] - np.pi * sgn[:, 2]],
        -1,
    )
    use_alt = np.abs(alt[:, [0, 2]]).sum(1) < np.abs(e[:, [0, 2]]).sum(1)
    return np.where(use_alt[:, None], alt, e).reshape(rv.shape)


def hinge_angles(body_pose: np.ndarray) -> dict[str, np.ndarray]:
    """Knee and elbow angles as extrinsic x-y-z Euler angles (``joint_limits``' convention).

    body_pose : (T, 69) axis-angle. Returns name -> (T, 3) radians for the four hinges.
    """
    pose = np.asarray(body_pose, dtype=np.float64).reshape(-1, 23, 3)
    names = ("left_knee", "right_knee", "left_elbow", "right_elbow")
    return {n: euler_near_zero(pose[:, JOINT_INDEX[n] - 1]) for n in names}
