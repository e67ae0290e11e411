"""Step 1 of OSA: each of the 6 body parts rendered *alone* with its depth, in the crop's
frame through the body's camera, by the project's exact rasteriser and z-buffer; with the
seams where parts meet on the mesh, which step 2 needs to tell an overlap from a junction.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from hpt_data.body.weak_perspective import project, to_pixels
from hpt_data.render.maps import zbuffer
from hpt_data.render.raster import rasterize
from hpt_data.render.scene import face_labels

#: Side of the square OSA render, pixels.
OSA_SIZE = 256
#: Body-part labels compared (DESIGN.md), background excluded.
PARTS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
#: The 15 unordered part pairs ``(i, j)``, ``i < j``, in a fixed order.
PART_PAIRS: tuple[tuple[int, int], ...] = tuple(itertools.combinations(PARTS, 2))


@dataclass
class PartLayers:
    """Each part rendered alone (see :func:`part_layers`).

    Attributes
    ----------
    masks : (6, size, size) bool
        Part ``PARTS[k]``'s silhouette, whatever covers it.
    depths : (6, size, size) float32
        Its nearest surface's camera-frame z (metres), ``+inf`` off the part.
    camera : (3,) float64
        ``(s, tx, ty)`` of the render.
    seams : dict (i, j) → (K, 3) float64
        Posed positions of the vertices where parts ``i`` and ``j`` meet on the mesh (pairs
        that do not meet are absent).
    distance, ref_z : float
        The perspective about the pelvis of the render (0: weak perspective).
    """

    masks: np.ndarray
    depths: np.ndarray
    camera: np.ndarray
    seams: dict[tuple[int, int], np.ndarray]
    distance: float = 0.0
    ref_z: float = 0.0

    @property
    def size(self) -> int:
        return int(self.masks.shape[1])


def seam_vertices(faces: np.ndarray, part_labels: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """Vertex indices of the faces that touch both parts of a pair, per pair that meets.

    Parameters
    ----------
    faces : (F, 3) int
    part_labels : (V,) int, 1..6

    Returns
    -------
    dict (i, j) → (K,) int64, for ``(i, j)`` in ``PART_PAIRS`` with ``K > 0``
    """
    lab = np.asarray(part_labels)[np.asarray(faces)]
    seams = {}
    for i, j in PART_PAIRS:
        both = (lab == i).any(axis=1) & (lab == j).any(axis=1)
        if both.any():
            seams[(i, j)] = np.unique(np.asarray(faces)[both])
    return seams


def part_layers(
    vertices: np.ndarray,
    faces: np.ndarray,
    part_labels: np.ndarray,
    camera: np.ndarray,
    size: int = OSA_SIZE,
    distance: float = 0.0,
    ref_z: float | None = None,
) -> PartLayers:
    """Each part rendered alone: silhouettes and depths in the crop frame.

    Parameters
    ----------
    vertices : (V, 3) float
        Posed vertices in the camera frame (metres; x right, y down, z away).
    faces : (F, 3) int
    part_labels : (V,) int
        Label 1..6 per vertex.
    camera : (3,) float
        ``(s, tx, ty)``.
    size : int
        Side of the square render.
    distance : float
        Camera-to-pelvis distance (metres; 0 = weak perspective).
    ref_z : float, optional
        The pelvis's depth (joint 0); needed with ``distance > 0``.

    Returns
    -------
    PartLayers
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    lab = np.asarray(part_labels)
    cam = np.asarray(camera, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {v.shape}")
    if lab.shape != (v.shape[0],):
        raise ValueError(f"part_labels must have shape ({v.shape[0]},), got {lab.shape}")
    if cam.shape != (3,) or not np.isfinite(cam).all() or cam[0] <= 0:
        raise ValueError(f"camera must be a finite (s, tx, ty) with s > 0, got {cam}")
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    xy = to_pixels(project(v, cam, distance, ref_z), size)
    # back faces too: a part alone is an open surface
    frags = rasterize(xy, v[:, 2], f, size, size)
    frag_label = face_labels(f, lab)[frags.face]
    masks = np.zeros((len(PARTS), size, size), bool)
    depths = np.full((len(PARTS), size, size), np.inf, np.float32)
    for k, part in enumerate(PARTS):
        fid, depth = zbuffer(frags.subset(frag_label == part), size, size)
        masks[k] = fid >= 0
        depths[k] = depth
    seams = {pair: v[idx] for pair, idx in seam_vertices(f, lab).items()}
    rz = 0.0 if ref_z is None else float(ref_z)
    return PartLayers(masks, depths, cam, seams, float(distance), rz)
