"""Mesh overlay of a fit on its crop, for previews (painter's algorithm, part colours).

Plain numpy/OpenCV on (H, W, 3) uint8 BGR images; no GL. Faces are drawn far to near,
shaded by how squarely they face the camera, and blended over the image.
"""

from __future__ import annotations

import numpy as np

#: BGR colour per body part label (0 background .. 6 right leg).
PART_COLOURS = np.array(
    [
        [0, 0, 0],
        [170, 200, 240],  # head
        [200, 200, 200],  # torso
        [80, 200, 80],  # left arm
        [240, 120, 60],  # right arm
        [60, 170, 250],  # left leg
        [200, 80, 200],  # right leg
    ],
    np.float64,
)


def draw_mesh(
    image: np.ndarray,
    vertices: np.ndarray,
    camera: np.ndarray,
    faces: np.ndarray,
    part_labels: np.ndarray,
    alpha: float = 0.6,
    distance: float = 0.0,
    ref_z: float | None = None,
) -> np.ndarray:
    """The mesh projected by ``camera`` (and ``distance`` about the pelvis depth ``ref_z``,
    :func:`hpt_data.body.weak_perspective.project`) over ``image``.

    Parameters
    ----------
    image : (N, N, 3) uint8 BGR, the square crop (any size: the camera is normalised)
    vertices : (V, 3) camera-frame vertices; camera : (3,) (s, tx, ty)
    faces : (F, 3) int; part_labels : (V,) uint8 1..6
    alpha : opacity of the mesh
    distance, ref_z : the perspective about the pelvis (0: weak perspective)

    Returns
    -------
    (N, N, 3) uint8, a copy
    """
    import cv2

    from hpt_data.body.weak_perspective import project, to_pixels

    size = image.shape[0]
    v = np.asarray(vertices, dtype=np.float64)
    px = to_pixels(project(v, camera, distance, ref_z), size)
    tri = v[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(normal, axis=1) + 1e-12
    facing = -normal[:, 2] / norm  # camera looks along +z: visible faces have n_z < 0
    keep = np.nonzero(facing > 0)[0]
    order = keep[np.argsort(-tri[keep, :, 2].mean(1))]  # far first
    labels = np.asarray(part_labels)[faces[:, 0]]
    shade = 0.35 + 0.65 * facing
    layer = image.copy()
    cover = np.zeros(image.shape[:2], np.uint8)
    pts = np.round(px[faces] * 4).astype(np.int32)  # 2 bits of sub-pixel precision
    for f in order:
        colour = (PART_COLOURS[labels[f]] * shade[f]).tolist()
        cv2.fillConvexPoly(layer, pts[f], colour, cv2.LINE_8, 2)
        cv2.fillConvexPoly(cover, pts[f], 255, cv2.LINE_8, 2)
    m = (cover > 0)[..., None]
    blended = np.where(m, image * (1.0 - alpha) + layer * alpha, image)
    return blended.astype(np.uint8)
