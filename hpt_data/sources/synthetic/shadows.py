"""Soft shadows of the person on the floor, added to a rendered frame.

A body's shadow on a flat floor is the body flattened onto the floor along the light. We
rasterise that flattened mesh as a mask (one cheap label render), keep the pixels where the
rendered frame actually shows the floor (so walls and the person stay unshadowed), blur it
for a penumbra and darken the frame. A mask that gets a wide blur is rendered and blurred
at a fraction of the frame's size and scaled up (:func:`shadow_step`): the blur hides the
coarser edge, and the label render and the blur are most of a frame's shadow cost. Two
shadows: the key light's, and a faint contact shadow straight below the body. Much cheaper
on a software renderer than blended shadow geometry, and softer.
"""

from __future__ import annotations

import cv2
import numpy as np

from hpt_data.render.scene import render_labels


def flatten_onto_floor(
    vertices: np.ndarray, direction: np.ndarray, lift: float = 0.0
) -> np.ndarray:
    """Move each (V, 3) vertex along ``direction`` (3,), pointing down, to ``y = lift``."""
    d = np.asarray(direction, dtype=np.float64)
    if d.shape != (3,) or d[1] >= -1e-3:
        raise ValueError(f"direction must be a (3,) vector pointing down, got {d}")
    v = np.asarray(vertices, dtype=np.float64)
    flat = v - (v[:, 1:2] / d[1]) * d[None, :]
    flat[:, 1] = lift
    return flat


def floor_pixels(
    depth: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray, tol: float = 0.01
) -> np.ndarray:
    """Which pixels of a render show the floor ``y = 0`` (within ``tol`` metres).

    Parameters
    ----------
    depth : (H, W) camera-space z, 0 where nothing was drawn
    K : (3, 3); world_to_cam : (4, 4)

    Returns
    -------
    (H, W) bool
    """
    h, w = depth.shape
    cam_to_world = np.linalg.inv(world_to_cam)
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    # world y of the pixel's point: eye_y + depth * (R^T K^-1 [u, v, 1])_y
    ray_y = (
        cam_to_world[1, 0] * (u - K[0, 2]) / K[0, 0]
        + cam_to_world[1, 1] * (v - K[1, 2]) / K[1, 1]
        + cam_to_world[1, 2]
    )
    y = cam_to_world[1, 3] + depth * ray_y
    return (depth > 0) & (np.abs(y) < tol)


def shadow_step(sigma: float) -> int:
    """Downscale factor (1 to 4) of a shadow mask blurred by ``sigma`` pixels: the mask is
    rendered with at least 1.5 px of blur left at its own scale."""
    return int(min(4, max(1, sigma // 1.5)))


def _soft_mask(
    vertices: np.ndarray,
    faces: np.ndarray,
    K: np.ndarray,
    world_to_cam: np.ndarray,
    width: int,
    height: int,
    sigma: float,
) -> np.ndarray:
    """(H, W) float32 in [0, 1]: the mesh's silhouette blurred by ``sigma`` pixels, rendered
    and blurred at 1/``shadow_step(sigma)`` of the size, then scaled up (bilinear)."""
    step = shadow_step(sigma)
    ones = np.ones(len(vertices), np.uint8)
    if step == 1:
        mask = render_labels(vertices, faces, ones, K, world_to_cam, width, height)
        return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    w, h = -(-width // step), -(-height // step)
    fx, fy = w / width, h / height
    k = np.array(K, dtype=np.float64)  # pixel centres at integers: u' = (u + 0.5) f - 0.5
    k[0, 0], k[0, 1], k[0, 2] = k[0, 0] * fx, k[0, 1] * fx, (k[0, 2] + 0.5) * fx - 0.5
    k[1, 1], k[1, 2] = k[1, 1] * fy, (k[1, 2] + 0.5) * fy - 0.5
    mask = render_labels(vertices, faces, ones, k, world_to_cam, w, h).astype(np.float32)
    mask = cv2.GaussianBlur(mask, (0, 0), sigma * fx)
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)


def add_shadows(
    rgb: np.ndarray,
    depth: np.ndarray,
    person: np.ndarray,
    vertices: np.ndarray,
    faces: np.ndarray,
    light_direction: np.ndarray,
    key_opacity: float,
    K: np.ndarray,
    world_to_cam: np.ndarray,
) -> np.ndarray:
    """Darken the floor where the person's shadows fall.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 frame; depth : (H, W) its depth
    person : (H, W) bool, the person's pixels (left untouched)
    vertices : (V, 3) the posed body; faces : (F, 3)
    light_direction : (3,) direction the key light travels
    key_opacity : darkness of the key light's shadow in [0, 1]

    Returns
    -------
    (H, W, 3) uint8
    """
    h, w = depth.shape
    floor = floor_pixels(depth, K, world_to_cam) & ~person
    scale = h / 480.0
    darken = np.ones((h, w), np.float32)
    for direction, opacity, sigma in (
        (np.asarray(light_direction, dtype=np.float64), key_opacity, 1.5 * scale),
        (np.array([0.0, -1.0, 0.0]), 0.3, 6.0 * scale),
    ):
        if direction[1] >= -0.05 or opacity <= 0:
            continue  # a grazing light casts no usable shadow here
        flat = flatten_onto_floor(vertices, direction)
        if np.any((flat @ world_to_cam[:3, :3].T + world_to_cam[:3, 3])[:, 2] <= 0.05):
            continue  # the shadow reaches behind the camera: skip rather than mis-project
        mask = _soft_mask(flat, faces, K, world_to_cam, w, h, sigma)
        darken *= 1.0 - opacity * mask * floor
    out = rgb.astype(np.float32) * darken[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
