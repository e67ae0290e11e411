"""Mesh overlay of a fit on its crop, for previews (painter's algorithm, part colours).

Plain numpy on (H, W, 3) uint8 BGR images; no GL. The faces that face the camera are
rasterised at once (:mod:`hpt_data.render.raster`, nearest surface per pixel: one vectorised
pass instead of a ``cv2.fillConvexPoly`` call per face, which cost ~95 ms per 256² tile),
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
    from hpt_data.body.weak_perspective import project, to_pixels
    from hpt_data.render.maps import zbuffer
    from hpt_data.render.raster import RasterTooLarge, rasterize

    size = image.shape[0]
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    px = to_pixels(project(v, camera, distance, ref_z), size)
    tri = v[f]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(normal, axis=1) + 1e-12
    facing = -normal[:, 2] / norm  # camera looks along +z: visible faces have n_z < 0
    keep = np.nonzero(facing > 0)[0]
    if not (np.isfinite(px).all() and keep.size):
        return image.copy()
    try:
        frags = rasterize(px, v[:, 2], f[keep], size, size)
    except RasterTooLarge:  # a camera far too close: nothing sensible to draw
        return image.copy()
    hit, _ = zbuffer(frags, size, size)
    m = hit >= 0
    face = keep[hit[m]]
    labels = np.asarray(part_labels)[f[:, 0]]
    colour = PART_COLOURS[labels[face]] * (0.35 + 0.65 * facing[face])[:, None]
    out = image.astype(np.float64)
    out[m] = out[m] * (1.0 - alpha) + np.round(colour) * alpha
    return out.astype(np.uint8)
