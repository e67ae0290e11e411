"""Silhouette term: a distance-transform loss on projected vertices, both ways.

Why not a soft rasteriser: it evaluates every pixel against every nearby face (a 1024²
crop, 26,692 faces for the built-in body) per frame and iteration, far too slow for the
fitter's budget on two CPU cores (≥ 10 frames/s). The distance-transform loss costs a few
hundred vertices per frame:

- **model -> mask**: a projected surface vertex should lie inside the person's mask; the
  distance transform of the mask's outside (0 inside, the distance to the mask outside),
  sampled bilinearly at each vertex, penalises those that stick out (exactly 0 for a
  perfect fit);
- **mask -> model**: a point of the mask's outline should have a projected vertex near it
  (a one-sided chamfer), so that a limb the landmarks miss is still pulled out to the
  silhouette. Its floor is half the vertex spacing (a few pixels).

Both are Geman-McClure-robust in pixels at 1024, so a mask that also covers hair, loose
clothes or a held object pulls with bounded force.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hpt_data.fitting.losses import PX_PER_UNIT, geman_mcclure


@dataclass
class SilhouetteTargets:
    """Per-frame silhouette data for the loss (all tensors on the fitter's device).

    dist : (T, 1, R, R) distance to the mask in normalised units (0 inside)
    outline : (T, P, 2) outline points, normalised crop coordinates
    outline_weight : (T, P) 1 for real points, 0 for padding
    present : (T,) bool, frames that have a mask
    """

    dist: torch.Tensor
    outline: torch.Tensor
    outline_weight: torch.Tensor
    present: torch.Tensor


def prepare_mask(mask: np.ndarray, resolution: int, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Distance transform and outline samples of one binary mask.

    Parameters
    ----------
    mask : (H, W) bool or uint8 (nonzero = person), the square crop
    resolution : side R of the distance map
    points : number of outline samples P

    Returns
    -------
    dist : (R, R) float32, distance to the mask in normalised units (2 / R per pixel)
    outline : (P, 2) float32 normalised coordinates (fewer rows if the outline is short)
    """
    import cv2

    m = (np.asarray(mask) > 0).astype(np.uint8)
    small = cv2.resize(m * 255, (resolution, resolution), interpolation=cv2.INTER_AREA) >= 128
    small = small.astype(np.uint8)
    dist = cv2.distanceTransform(1 - small, cv2.DIST_L2, 5).astype(np.float32) * (2.0 / resolution)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return dist, np.zeros((0, 2), np.float32)
    pts = np.concatenate([c[:, 0, :] for c in contours]).astype(np.float64)
    take = np.linspace(0, len(pts), num=min(points, len(pts)), endpoint=False).astype(int)
    h, w = m.shape
    # contour pixel centres -> normalised coordinates (pixel j spans [j, j+1) of W)
    uv = np.stack([(pts[take, 0] + 0.5) / w, (pts[take, 1] + 0.5) / h], -1) * 2.0 - 1.0
    return dist, uv.astype(np.float32)


def build_targets(
    masks: list[np.ndarray | None],
    resolution: int,
    points: int,
    device: torch.device,
    dtype: torch.dtype,
) -> SilhouetteTargets:
    """Stack :func:`prepare_mask` over frames; a ``None`` mask gives an absent frame."""
    t = len(masks)
    dist = np.zeros((t, 1, resolution, resolution), np.float32)
    outline = np.zeros((t, points, 2), np.float32)
    weight = np.zeros((t, points), np.float32)
    present = np.zeros(t, bool)
    for i, m in enumerate(masks):
        if m is None or not np.any(m):
            continue
        d, uv = prepare_mask(m, resolution, points)
        dist[i, 0] = d
        outline[i, : len(uv)] = uv
        weight[i, : len(uv)] = 1.0
        present[i] = True
    return SilhouetteTargets(
        dist=torch.as_tensor(dist, device=device, dtype=dtype),
        outline=torch.as_tensor(outline, device=device, dtype=dtype),
        outline_weight=torch.as_tensor(weight, device=device, dtype=dtype),
        present=torch.as_tensor(present, device=device),
    )


def silhouette_loss(
    uv: torch.Tensor, targets: SilhouetteTargets, frames: torch.Tensor, sigma: float
) -> torch.Tensor:
    """Two-way distance loss of projected vertices against the masks.

    Parameters
    ----------
    uv : (T', S, 2) projected silhouette vertices (normalised crop coordinates)
    targets : silhouette data of all frames
    frames : (T',) long, the rows of ``targets`` that ``uv``'s frames are
    sigma : robust scale, pixels at 1024

    Returns
    -------
    () sum over frames with a mask of (mean model->mask + mean mask->model), px² at 1024.
    """
    present = targets.present[frames].to(uv.dtype)
    grid = uv[:, :, None, :]  # (T', S, 1, 2)
    d = F.grid_sample(
        targets.dist[frames], grid, mode="bilinear", padding_mode="border", align_corners=False
    )[:, 0, :, 0]  # (T', S)
    outside = geman_mcclure((d * PX_PER_UNIT).pow(2), sigma).mean(-1)
    outline = targets.outline[frames]
    w = targets.outline_weight[frames]
    with torch.no_grad():  # which vertex is nearest: no gradient needed for the choice
        d2 = (
            outline.pow(2).sum(-1)[..., None]
            + uv.pow(2).sum(-1)[:, None, :]
            - 2.0 * outline @ uv.transpose(1, 2)
        )  # (T', P, S)
        idx = d2.argmin(-1)  # (T', P)
    nearest = torch.gather(uv, 1, idx[..., None].expand(-1, -1, 2))
    sq = (outline - nearest).pow(2).sum(-1) * PX_PER_UNIT**2  # (T', P)
    cover = (w * geman_mcclure(sq, sigma)).sum(-1) / w.sum(-1).clamp_min(1.0)
    return (present * (outside + cover)).sum()


def farthest_point_sample(points: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Indices of ``count`` well-spread points of ``points`` (N, 3) (greedy farthest point)."""
    pts = np.asarray(points, dtype=np.float64)
    count = min(count, len(pts))
    rng = np.random.default_rng(seed)
    chosen = np.empty(count, np.int64)
    chosen[0] = rng.integers(len(pts))
    d = np.linalg.norm(pts - pts[chosen[0]], axis=1)
    for i in range(1, count):
        chosen[i] = int(np.argmax(d))
        d = np.minimum(d, np.linalg.norm(pts - pts[chosen[i]], axis=1))
    return chosen
