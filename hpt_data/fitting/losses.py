"""The fitter's loss terms: pure torch functions of tensors, each returning a scalar.

Units: 2D residuals are in pixels at a 1024-pixel crop (normalised crop coordinates times
512), so the robust scales read the same whatever the crop size; angles are radians.
"""

from __future__ import annotations

import numpy as np
import torch

from hpt_data.body.joint_limits import limits_array

#: Pixels at a 1024-pixel crop per unit of normalised crop coordinates (u spans [-1, 1]).
PX_PER_UNIT = 512.0


def geman_mcclure(sq_residual: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure robust penalty ``sigma² r² / (sigma² + r²)`` of squared residuals.

    Quadratic (``r²``) for ``r << sigma`` and saturating at ``sigma²`` for outliers, so a
    wrong landmark pulls with bounded force. Elementwise; same shape as ``sq_residual``.
    """
    s2 = sigma * sigma
    return s2 * sq_residual / (s2 + sq_residual)


def reprojection_loss(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, sigma: float
) -> torch.Tensor:
    """Confidence-weighted Geman-McClure reprojection error.

    Parameters
    ----------
    pred, target : (T, K, 2) normalised crop coordinates
    weight : (T, K) confidence times the landmark's weight (0 = unused)
    sigma : robust scale in pixels at 1024

    Returns
    -------
    () sum over frames of the per-frame weighted mean, in px² at 1024.
    """
    sq = ((pred - target) * PX_PER_UNIT).pow(2).sum(-1)
    per_frame = (weight * geman_mcclure(sq, sigma)).sum(-1) / weight.sum(-1).clamp_min(1e-6)
    return per_frame.sum()


def _limits() -> tuple[torch.Tensor, torch.Tensor]:
    lim = torch.as_tensor(limits_array()[1:])  # (23, 3, 2), joint 0 is the global orient
    return lim[..., 0], lim[..., 1]


def joint_limit_penalty(euler: torch.Tensor, joints: list[int] | None = None) -> torch.Tensor:
    """Squared excess of joint angles beyond ``hpt_data.body.joint_limits``.

    Parameters
    ----------
    euler : (T, 23, 3) extrinsic x-y-z angles of joints 1..23 (radians)
    joints : which of joints 1..23 to penalise (SMPL indices); all when None

    Returns
    -------
    () sum over frames, joints and axes of ``relu(lo - a)² + relu(a - hi)²``.
    """
    lo, hi = (x.to(euler) for x in _limits())
    excess = torch.relu(lo - euler) + torch.relu(euler - hi)
    if joints is not None:
        excess = excess[:, [j - 1 for j in joints]]
    return excess.pow(2).sum()


def prior_from_limits() -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of the pose prior, from the joint limits and a relaxed stance.

    The mean is a relaxed standing posture: every angle 0 (SMPL's T-pose) except the arms,
    lowered 60° from horizontal, elbows bent 10°, knees 5°. The spread of each angle is a
    quarter of its range (so ``±2`` spreads span it), at least 0.05 rad; angles with no
    range (a hinge's locked axes) get 0.05 rad.

    Returns
    -------
    mean, std : (23, 3) float64 radians, joints 1..23
    """
    from hpt_data.body.joints import JOINT_INDEX

    lim = limits_array()[1:]
    std = np.maximum((lim[..., 1] - lim[..., 0]) / 4.0, 0.05)
    mean = np.zeros((23, 3))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        mean[JOINT_INDEX[f"{side}_shoulder"] - 1, 2] = -sign * np.radians(60)
        mean[JOINT_INDEX[f"{side}_elbow"] - 1, 1] = -sign * np.radians(10)
        mean[JOINT_INDEX[f"{side}_knee"] - 1, 0] = np.radians(5)
    return mean, std


def pose_prior(euler: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Diagonal Gaussian negative log-likelihood (up to constants) of the joint angles.

    euler : (T, 23, 3); mean, std : (23, 3). Returns () the sum over frames.
    """
    return ((euler - mean) / std).pow(2).sum()


def shape_l2(betas: torch.Tensor) -> torch.Tensor:
    """``|betas|²``: betas are in standard deviations of the shape space, so this is the
    Gaussian shape prior. betas : (nb,) or (B, nb). Returns ()."""
    return betas.pow(2).sum()


def temporal_smoothness(x: torch.Tensor, pair_weight: torch.Tensor) -> torch.Tensor:
    """Weighted squared differences between consecutive frames.

    Parameters
    ----------
    x : (T, ...) per-frame quantities (angles, camera, rotation matrices)
    pair_weight : (T-1,) weight of each consecutive pair (0 across a gap)

    Returns
    -------
    () ``sum_t w_t |x_{t+1} - x_t|²``
    """
    if x.shape[0] < 2:
        return x.sum() * 0.0
    d = (x[1:] - x[:-1]).pow(2).reshape(x.shape[0] - 1, -1).sum(-1)
    return (pair_weight * d).sum()
