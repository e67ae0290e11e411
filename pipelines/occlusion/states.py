"""Steps 2 and 3 of OSA: which part is in front wherever two parts overlap. Pixels near
the seam of two joined parts do not count (a limb's root always overlaps the torso), a
pair overlaps from ``min_overlap`` pixels on, and its state is the part nearer the camera
on more of them (see :mod:`pipelines.occlusion` for the whole rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hpt_data.body.parts import PART_NAMES
from hpt_data.body.weak_perspective import from_pixels, unproject
from pipelines.occlusion.body import BodyParams, posed_body
from pipelines.occlusion.part_layers import OSA_SIZE, PART_PAIRS, PARTS, PartLayers, part_layers

#: Smallest overlap that counts, as a fraction of the image's pixels (8 pixels at 256).
MIN_OVERLAP_FRACTION = 8 / 256**2
#: Overlap pixels this close (metres) to the seam of two joined parts do not count.
JUNCTION_RADIUS = 0.10

APART, FIRST_IN_FRONT, SECOND_IN_FRONT = 0, 1, -1


@dataclass
class OcclusionStates:
    """Occlusion states of the 15 part pairs of one posed body (order of ``PART_PAIRS``).

    Attributes
    ----------
    states : (15,) int8
        ``+1`` first part of the pair in front, ``-1`` second in front, ``0`` apart.
    overlap : (15,) int64
        Pixels that count (both parts cover them, outside the parts' junction).
    front_fraction : (15,) float64
        Of those pixels, the fraction where the first part is strictly nearer (NaN when
        there are none).
    size : int
        Side of the render.
    min_overlap : int
        Pixels an overlap needed to count.
    junction_radius : float
        Metres around a seam that did not count.
    """

    states: np.ndarray
    overlap: np.ndarray
    front_fraction: np.ndarray
    size: int
    min_overlap: int
    junction_radius: float

    def state(self, first: int, second: int) -> int:
        """State of the pair ``(first, second)`` in that order (labels 1..6): ``+1`` when
        ``first`` is in front."""
        if (first, second) in PART_PAIRS:
            return int(self.states[PART_PAIRS.index((first, second))])
        if (second, first) in PART_PAIRS:
            return -int(self.states[PART_PAIRS.index((second, first))])
        raise ValueError(f"no part pair ({first}, {second}); labels are 1..6 and distinct")

    def describe(self) -> list[str]:
        """One readable line per overlapping pair, e.g. ``"right_arm in front of torso"``."""
        lines = []
        for (i, j), s, n in zip(PART_PAIRS, self.states, self.overlap, strict=True):
            if s != APART:
                front, back = (i, j) if s == FIRST_IN_FRONT else (j, i)
                lines.append(f"{PART_NAMES[front]} in front of {PART_NAMES[back]} ({n} px)")
        return lines


def min_overlap_pixels(size: int) -> int:
    """The default overlap threshold at ``size``: ``MIN_OVERLAP_FRACTION`` of the pixels."""
    return max(1, round(MIN_OVERLAP_FRACTION * size * size))


def _far_from_seam(
    layers: PartLayers,
    rows: np.ndarray,
    cols: np.ndarray,
    z: np.ndarray,
    seam: np.ndarray,
    radius: float,
) -> np.ndarray:
    """Whether the surface points at pixels ``(rows, cols)`` with depths ``z`` lie farther
    than ``radius`` from every seam vertex; (N,) bool."""
    uv = from_pixels(np.stack([cols, rows], axis=1).astype(np.float64), layers.size)
    points = unproject(uv, z, layers.camera, layers.distance, layers.ref_z)
    far = np.ones(points.shape[0], bool)
    for start in range(0, points.shape[0], 4096):  # bounded memory: (chunk, K) distances
        chunk = points[start : start + 4096]
        d2 = ((chunk[:, None, :] - seam[None, :, :]) ** 2).sum(axis=-1).min(axis=1)
        far[start : start + 4096] = d2 > radius * radius
    return far


def states_from_layers(
    layers: PartLayers,
    min_overlap: int | None = None,
    junction_radius: float = JUNCTION_RADIUS,
) -> OcclusionStates:
    """Occlusion states of the part pairs from the part layers of :func:`part_layers`.

    Parameters
    ----------
    layers : PartLayers
    min_overlap : int or None
        Pixels an overlap needs to count; None for :func:`min_overlap_pixels` of the size.
    junction_radius : float
        Metres: overlap pixels whose nearer surface point lies this close to the seam of two
        parts that meet on the mesh do not count (0 counts every pixel).
    """
    masks = np.asarray(layers.masks, bool)
    depths = np.asarray(layers.depths, np.float64)
    if masks.ndim != 3 or masks.shape[0] != len(PARTS) or depths.shape != masks.shape:
        raise ValueError(
            f"masks and depths must both be (6, H, W), got {masks.shape} and {depths.shape}"
        )
    size = layers.size
    if min_overlap is None:
        min_overlap = min_overlap_pixels(size)
    if min_overlap < 1:
        raise ValueError(f"min_overlap must be at least 1 pixel, got {min_overlap}")
    if not junction_radius >= 0:
        raise ValueError(f"junction_radius must be >= 0 metres, got {junction_radius}")
    states = np.zeros(len(PART_PAIRS), np.int8)
    overlap = np.zeros(len(PART_PAIRS), np.int64)
    front = np.full(len(PART_PAIRS), np.nan)
    for p, (i, j) in enumerate(PART_PAIRS):
        rows, cols = np.nonzero(masks[i - 1] & masks[j - 1])
        di, dj = depths[i - 1][rows, cols], depths[j - 1][rows, cols]
        seam = layers.seams.get((i, j))
        if seam is not None and junction_radius > 0 and rows.size:
            keep = _far_from_seam(layers, rows, cols, np.minimum(di, dj), seam, junction_radius)
            di, dj = di[keep], dj[keep]
        n = int(di.size)
        overlap[p] = n
        if n == 0:
            continue
        i_front, j_front = int((di < dj).sum()), int((dj < di).sum())
        front[p] = i_front / n
        if n < min_overlap:
            continue
        if i_front != j_front:
            states[p] = FIRST_IN_FRONT if i_front > j_front else SECOND_IN_FRONT
        else:  # exact tie of counts: the nearer on average, then the first
            states[p] = SECOND_IN_FRONT if dj.mean() < di.mean() else FIRST_IN_FRONT
    return OcclusionStates(states, overlap, front, size, int(min_overlap), float(junction_radius))


def occlusion_states(
    vertices: np.ndarray,
    faces: np.ndarray,
    part_labels: np.ndarray,
    camera: np.ndarray,
    size: int = OSA_SIZE,
    min_overlap: int | None = None,
    junction_radius: float = JUNCTION_RADIUS,
    distance: float = 0.0,
    ref_z: float | None = None,
) -> OcclusionStates:
    """Occlusion states of a posed mesh (inputs of :func:`part_layers` and
    :func:`states_from_layers`)."""
    layers = part_layers(vertices, faces, part_labels, camera, size, distance, ref_z)
    return states_from_layers(layers, min_overlap, junction_radius)


def occlusion_states_smpl(
    body_model: Any,
    params: BodyParams,
    size: int = OSA_SIZE,
    min_overlap: int | None = None,
    junction_radius: float = JUNCTION_RADIUS,
) -> OcclusionStates:
    """Occlusion states of a body model (``hpt_data.body.BodyModel``) posed by ``params``,
    drawn with its ``camera_distance`` about its pelvis."""
    vertices, joints = posed_body(body_model, params)
    return occlusion_states(
        vertices,
        body_model.faces,
        body_model.part_labels,
        params.camera,
        size,
        min_overlap,
        junction_radius,
        params.camera_distance,
        float(joints[0, 2]),
    )
