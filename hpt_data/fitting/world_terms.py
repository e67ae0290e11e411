"""MediaPipe's world landmarks as terms of the fit: bone directions (their depth slope
above all) and the relative depth of limb pairs, weighted by visibility and down-weighted
where they disagree with the 2D.

Pose's world landmarks are metric 3D about the hips' centre in the image's axes (x right,
y down, z away), the fitter's camera frame up to a small rotation: their depth is what a
2D fit cannot see (which forearm is in front, whether a knee points at the camera). They
are noisy and sometimes wrong (a flipped limb), so every term is robust (Geman-McClure),
weighted by the smaller visibility of its two landmarks, and a bone whose world direction,
seen from the camera, points elsewhere than the 2D landmarks' is down-weighted (the 2D is
the better-trained output). Depth differences, not absolute depth: the hips' origin and
MediaPipe's body scale are not the model's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hpt_data.fitting.losses import geman_mcclure

#: Bones whose direction MediaPipe's world landmarks give: (SMPL joint from, to, MediaPipe
#: landmark from, to): upper arms, forearms, shins, the shoulder line, and the thighs and
#: hip line (MediaPipe's hips sit a few centimetres off the model's hip joints: a few
#: degrees on a thigh, which the robust term tolerates).
WORLD_BONES = (
    (16, 18, 11, 13),
    (18, 20, 13, 15),
    (17, 19, 12, 14),
    (19, 21, 14, 16),
    (4, 7, 25, 27),
    (5, 8, 26, 28),
    (17, 16, 12, 11),
    (1, 4, 23, 25),
    (2, 5, 24, 26),
    (2, 1, 24, 23),
)

#: Joint pairs whose depth difference the world landmarks give (same layout): left against
#: right wrist, elbow, knee, ankle (crossed limbs: which one is in front), and each wrist
#: against its hip (a hand in front of or behind the body).
DEPTH_PAIRS = (
    (20, 21, 15, 16),
    (18, 19, 13, 14),
    (4, 5, 25, 26),
    (7, 8, 27, 28),
    (20, 1, 15, 23),
    (21, 2, 16, 24),
)

DEPTH_SCALE_M = 0.2  # a depth difference off by this much counts as a unit residual
SIGMA = 0.5  # Geman-McClure scale of both terms (unit residuals)


@dataclass
class WorldTargets:
    """Per frame: unit bone directions ``dirs (T, B, 3)`` and weights ``bone_w (T, B)``;
    depth differences ``dz (T, P)`` metres and weights ``depth_w (T, P)`` (0: unused)."""

    dirs: torch.Tensor
    bone_w: torch.Tensor
    dz: torch.Tensor
    depth_w: torch.Tensor


def agreement_2d(world: np.ndarray, image: np.ndarray | None) -> np.ndarray:
    """(T, B) in [0, 1]: how well each world bone, seen from the camera, points along the
    2D landmarks' bone (1 at cos >= 0.9, 0 at cos <= 0.3); 1 where the bone points mostly
    along the view (its image direction says little) or the 2D is missing.
    world : (T, 33, 4); image : (T, 33, 2+) normalised crop x, y (or None)."""
    t = len(world)
    if image is None:
        return np.ones((t, len(WORLD_BONES)))
    a, b = [x[2] for x in WORLD_BONES], [x[3] for x in WORLD_BONES]
    dw = world[:, b, :3] - world[:, a, :3]
    di = np.asarray(image, np.float64)[:, b, :2] - np.asarray(image, np.float64)[:, a, :2]
    nw = np.linalg.norm(dw[..., :2], axis=-1)
    ni = np.linalg.norm(di, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (dw[..., :2] * di).sum(-1) / (nw * ni)
        along_view = nw < 0.4 * np.linalg.norm(dw, axis=-1)
    f = np.clip((cos - 0.3) / 0.6, 0.0, 1.0)
    return np.where(np.isfinite(cos) & ~along_view, f, 1.0)


def world_targets(
    world: np.ndarray | None,
    device: torch.device,
    dtype: torch.dtype,
    image: np.ndarray | None = None,
) -> WorldTargets | None:
    """The terms' targets from MediaPipe's world landmarks ``(T, 33, 4)`` (x, y, z metres,
    image axes, and visibility; NaN = missing) and the 2D landmarks ``(T, 33, 2+)`` they
    are checked against (:func:`agreement_2d`); None without world landmarks."""
    if world is None:
        return None
    w = np.asarray(world, np.float64)
    if w.ndim != 3 or w.shape[1:] != (33, 4):
        raise ValueError(f"world landmarks must have shape (T, 33, 4), got {w.shape}")
    vis = np.clip(np.nan_to_num(w[..., 3]), 0.0, 1.0)
    a, b = [x[2] for x in WORLD_BONES], [x[3] for x in WORLD_BONES]
    d = w[:, b, :3] - w[:, a, :3]
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    ok = np.isfinite(d).all(-1) & (n[..., 0] > 1e-6)
    dirs = np.where(ok[..., None], d / np.where(n > 1e-6, n, 1.0), 0.0)
    bone_w = np.where(ok, np.minimum(vis[:, a], vis[:, b]), 0.0) * agreement_2d(w, image)
    pa, pb = [x[2] for x in DEPTH_PAIRS], [x[3] for x in DEPTH_PAIRS]
    dz = w[:, pa, 2] - w[:, pb, 2]
    depth_ok = np.isfinite(dz)
    depth_w = np.where(depth_ok, np.minimum(vis[:, pa], vis[:, pb]), 0.0)

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.nan_to_num(x), device=device, dtype=dtype)

    return WorldTargets(tensor(dirs), tensor(bone_w), tensor(dz), tensor(depth_w))


def world_loss(
    joints: torch.Tensor, targets: WorldTargets, lateral_share: float = 1.0
) -> torch.Tensor:
    """Robust disagreement of the model (camera frame) with the world landmarks: per bone
    the squared distance of the unit directions, its depth part whole and its part across
    the image times ``lateral_share`` (0 to 4 at 1; the 2D landmarks place a bone across
    the image better than the world landmarks do, and what the 2D cannot see is the depth
    slope); per depth pair the squared difference of depth differences in units of
    ``DEPTH_SCALE_M``; both through :func:`geman_mcclure` at ``SIGMA``, weighted, summed
    over frames like every other term of the fit (until fit-smpl version 3 averaged over
    frames: its weight per frame then fell with the video's length, 1e4 / T).
    joints : (T, 24, 3). Returns ()."""
    a = [x[0] for x in WORLD_BONES]
    b = [x[1] for x in WORLD_BONES]
    d = joints[:, b] - joints[:, a]
    d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    off = (d - targets.dirs).pow(2)
    residual = off[..., 2] + lateral_share * off[..., :2].sum(-1)
    bones = targets.bone_w * geman_mcclure(residual, SIGMA)
    pa = [x[0] for x in DEPTH_PAIRS]
    pb = [x[1] for x in DEPTH_PAIRS]
    dz = joints[:, pa, 2] - joints[:, pb, 2]
    res = ((dz - targets.dz) / DEPTH_SCALE_M).pow(2)
    depth = targets.depth_w * geman_mcclure(res, SIGMA)
    return bones.sum() + depth.sum()


def world_rotation(world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The body's orientation in the camera frame from the world landmarks' torso: (T, 3, 3)
    rotations whose columns are the body's left (hips and shoulders, right to left), up
    (hips' to shoulders' centre, made orthogonal) and forward, the model's rest axes; and
    (T,) weights (the smallest of the four landmarks' visibility; 0 and the identity where
    missing or degenerate). A lying or turned body's starting point, which the camera
    stage's upright headings do not offer."""
    w = np.asarray(world, np.float64)
    ls, rs, lh, rh = (w[:, i, :3] for i in (11, 12, 23, 24))
    left = (ls - rs) + (lh - rh)
    up = (ls + rs - lh - rh) / 2
    left = left / np.linalg.norm(left, axis=-1, keepdims=True)
    up = up - (up * left).sum(-1, keepdims=True) * left
    up = up / np.linalg.norm(up, axis=-1, keepdims=True)
    rot = np.stack([left, up, np.cross(left, up)], -1)
    ok = np.isfinite(rot).all((1, 2))
    vis = np.nan_to_num(w[:, [11, 12, 23, 24], 3].min(-1))
    rot = np.where(ok[:, None, None], np.nan_to_num(rot), np.eye(3))
    return rot, np.where(ok, np.clip(vis, 0.0, 1.0), 0.0)


def orientation_targets(
    world: np.ndarray, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`world_rotation` as tensors for the camera stage, the upright heading facing
    the camera where the world landmarks give none (with weight 0)."""
    from hpt_data.fitting.initial import heading_rotations

    rot, weight = world_rotation(world)
    rot = np.where(weight[:, None, None] > 0, rot, heading_rotations()[0])
    return (
        torch.as_tensor(rot, device=device, dtype=dtype),
        torch.as_tensor(weight, device=device, dtype=dtype),
    )
