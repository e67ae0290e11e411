"""Occlusion State Accuracy (OSA, §IV-C): does a generated person show the same body part in
front wherever two parts overlap in the image?

The paper fits a body model to the generated image and compares "the occlusion states for
different body components" with the ground truth, without a precise rule. This module is
that rule (written out in ``docs/evaluation.md``):

1. **Part layers.** Each of the 6 parts (1 head, 2 torso, 3/4 left/right arm, 5/6 left/right
   leg; per-vertex labels of :mod:`hpt_data.body.parts`) is rendered *alone* with its depth,
   in the crop's frame through the camera of :mod:`hpt_data.body.weak_perspective`
   (``(s, tx, ty)`` and the fit's ``camera_distance`` about the pelvis, 0 = weak
   perspective: each body drawn the way it was fitted), at ``size`` × ``size`` pixels
   (default 256), by the
   project's exact rasteriser and z-buffer (:mod:`hpt_data.render.raster`,
   :func:`hpt_data.render.maps.zbuffer`). A face takes its vertices' majority label.
2. **Overlap.** Parts ``i < j`` overlap at a pixel centre that both silhouettes cover,
   except where the parts merely meet: for parts joined on the mesh (head–torso and
   torso–each limb), a pixel whose nearer surface point lies within ``junction_radius``
   (default 10 cm) of the seam between the two parts does not count. Every part joined to
   the torso overlaps it around the joint whatever the pose (the limb's root hides some of
   the torso behind it); without this rule that constant overlap would decide the state of
   an arm lying across the chest and of an arm hanging at the side alike. The pair
   *overlaps* when at least ``min_overlap`` pixels count (default ``MIN_OVERLAP_FRACTION``
   of the image: 8 pixels at 256).
3. **State.** An overlapping pair's state is ``+1`` when part ``i`` is nearer the camera on
   more counted pixels than ``j`` (``-1`` the other way round); an exact tie goes to the
   part with the smaller mean depth over them, then to ``i``. A pair that does not overlap
   is ``0`` ("apart").
4. **Accuracy.** OSA of a prediction against the ground truth is the fraction of the pairs
   that overlap in *either* body whose states are equal (a pair that overlaps in one body
   only counts, and disagrees). With no such pair the image has no occlusion to judge: its
   OSA is NaN and a test-set mean (:func:`summarize_osa`) leaves it out, counting it.

Library calls:

- :func:`occlusion_states` (posed vertices + camera) and :func:`occlusion_states_smpl`
  (body-model parameters + camera) → :class:`OcclusionStates`;
- :func:`occlusion_state_accuracy` (prediction, ground truth) → float;
- :func:`osa_over_set` over many (prediction, ground truth) parameter pairs, with a bar;
- :func:`mirror_smpl`: the body seen in the left↔right flipped image (the test that the
  metric can fail).

The image-level metric is :func:`pipelines.evaluate.image_osa`: it fits the generated image
in its own frame with the single-image perception and fit of ``pipelines/perceive.py`` and
compares with the target frame's ground-truth fit; the generated image is the target crop,
so both cameras live in the same normalised frame.

A generated image in which no person is found (``PerceptionError``) should score 0, not be
skipped, so that a generator cannot gain by producing unrecognisable people.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from hpt_data.body.joints import SMPL_JOINT_NAMES
from hpt_data.body.parts import PART_NAMES
from hpt_data.body.weak_perspective import from_pixels, project, to_pixels, unproject
from hpt_data.render.maps import zbuffer
from hpt_data.render.raster import rasterize
from hpt_data.render.scene import face_labels

#: Side of the square OSA render, pixels.
OSA_SIZE = 256
#: Smallest overlap that counts, as a fraction of the image's pixels (8 pixels at 256).
MIN_OVERLAP_FRACTION = 8 / 256**2
#: Overlap pixels this close (metres) to the seam of two joined parts do not count.
JUNCTION_RADIUS = 0.10
#: Body-part labels compared (DESIGN.md), background excluded.
PARTS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
#: The 15 unordered part pairs ``(i, j)``, ``i < j``, in a fixed order.
PART_PAIRS: tuple[tuple[int, int], ...] = tuple(itertools.combinations(PARTS, 2))

APART, FIRST_IN_FRONT, SECOND_IN_FRONT = 0, 1, -1


@dataclass(frozen=True)
class BodyParams:
    """One posed body in a crop: model parameters and the camera.

    Attributes
    ----------
    global_orient : (3,) axis-angle of the root in the camera frame (x right, y down)
    body_pose : (69,) axis-angle of joints 1..23
    camera : (3,) ``(s, tx, ty)``
    betas : (nb,) shape, or None for the mean shape
    camera_distance : metres from the camera to the pelvis (0 = weak perspective), as
        ``fit-smpl`` fitted it (``hpt_data.body.weak_perspective.project``)
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    camera: np.ndarray
    betas: np.ndarray | None = None
    camera_distance: float = 0.0

    @classmethod
    def from_fit(cls, fit: Any) -> BodyParams:
        """From anything with ``global_orient``, ``body_pose``, ``camera`` and ``betas``
        attributes, and ``camera_distance`` where it has one (``pipelines.perceive.
        Perception``, a fits record)."""
        return cls(
            global_orient=np.asarray(fit.global_orient, np.float64),
            body_pose=np.asarray(fit.body_pose, np.float64),
            camera=np.asarray(fit.camera, np.float64),
            betas=None if fit.betas is None else np.asarray(fit.betas, np.float64),
            camera_distance=float(getattr(fit, "camera_distance", 0.0)),
        )


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


def min_overlap_pixels(size: int) -> int:
    """The default overlap threshold at ``size``: ``MIN_OVERLAP_FRACTION`` of the pixels."""
    return max(1, round(MIN_OVERLAP_FRACTION * size * size))


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


def pose_body(body_model: Any, params: BodyParams) -> np.ndarray:
    """Posed vertices (V, 3) float64 in the camera frame for ``params``."""
    return _posed(body_model, params)[0]


def _posed(body_model: Any, params: BodyParams) -> tuple[np.ndarray, np.ndarray]:
    """Posed vertices (V, 3) and joints (24, 3), float64, camera frame."""
    import torch

    go = np.asarray(params.global_orient, np.float32).reshape(1, -1)
    bp = np.asarray(params.body_pose, np.float32).reshape(1, -1)
    if go.shape != (1, 3) or bp.shape != (1, 69):
        raise ValueError(
            f"global_orient must be (3,) and body_pose (69,), got {go.shape[1:]}, {bp.shape[1:]}"
        )
    betas = None
    if params.betas is not None:
        betas = torch.as_tensor(np.asarray(params.betas, np.float32).reshape(1, -1))
    with torch.no_grad():
        out = body_model(
            betas=betas, body_pose=torch.as_tensor(bp), global_orient=torch.as_tensor(go)
        )
    return out.vertices[0].double().numpy(), out.joints[0].double().numpy()


def occlusion_states_smpl(
    body_model: Any,
    params: BodyParams,
    size: int = OSA_SIZE,
    min_overlap: int | None = None,
    junction_radius: float = JUNCTION_RADIUS,
) -> OcclusionStates:
    """Occlusion states of a body model (``hpt_data.body.BodyModel``) posed by ``params``,
    drawn with its ``camera_distance`` about its pelvis."""
    vertices, joints = _posed(body_model, params)
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


def occlusion_state_accuracy(pred: OcclusionStates, gt: OcclusionStates) -> float:
    """OSA of one prediction: the fraction of pairs overlapping in either body whose states
    agree; NaN when no pair overlaps in either."""
    mine = (pred.size, pred.min_overlap, pred.junction_radius)
    theirs = (gt.size, gt.min_overlap, gt.junction_radius)
    if mine != theirs:
        raise ValueError(
            f"states made at different settings (size, min_overlap, junction_radius): "
            f"{mine} vs {theirs}"
        )
    counted = (pred.states != APART) | (gt.states != APART)
    if not counted.any():
        return math.nan
    return float((pred.states[counted] == gt.states[counted]).mean())


@dataclass
class OsaSummary:
    """OSA over a set of images.

    Attributes
    ----------
    mean : float
        Mean of the per-image OSA over the images with at least one overlapping pair
        (NaN when none has one).
    pooled : float
        Agreeing pairs over counted pairs, all images together (weights images by their
        number of overlapping pairs).
    n_images, n_without_overlap : int
        Images given; of those, images with no overlapping pair (left out of ``mean``).
    """

    mean: float
    pooled: float
    n_images: int
    n_without_overlap: int


def summarize_osa(pairs: Iterable[tuple[OcclusionStates, OcclusionStates]]) -> OsaSummary:
    """Per-image OSA of (prediction, ground truth) state pairs, averaged (see
    :class:`OsaSummary`)."""
    per_image: list[float] = []
    agree = counted_total = 0
    for pred, gt in pairs:
        osa = occlusion_state_accuracy(pred, gt)
        per_image.append(osa)
        counted = (pred.states != APART) | (gt.states != APART)
        agree += int((pred.states[counted] == gt.states[counted]).sum())
        counted_total += int(counted.sum())
    scored = [a for a in per_image if not math.isnan(a)]
    return OsaSummary(
        mean=float(np.mean(scored)) if scored else math.nan,
        pooled=agree / counted_total if counted_total else math.nan,
        n_images=len(per_image),
        n_without_overlap=len(per_image) - len(scored),
    )


def osa_over_set(
    body_model: Any,
    predictions: Sequence[BodyParams],
    ground_truth: Sequence[BodyParams],
    size: int = OSA_SIZE,
    min_overlap: int | None = None,
    junction_radius: float = JUNCTION_RADIUS,
    progress: bool = True,
) -> tuple[list[float], OsaSummary]:
    """OSA of each prediction against its ground truth, and their summary.

    Returns
    -------
    per_image : list of float
        NaN for an image with no overlapping pair in either body.
    summary : OsaSummary
    """
    if len(predictions) != len(ground_truth):
        raise ValueError(
            f"{len(predictions)} predictions but {len(ground_truth)} ground-truth bodies"
        )
    pairs = []
    for pred, gt in tqdm(
        zip(predictions, ground_truth, strict=True),
        total=len(predictions),
        desc="OSA",
        unit="img",
        disable=not progress,
    ):
        pairs.append(
            (
                occlusion_states_smpl(body_model, pred, size, min_overlap, junction_radius),
                occlusion_states_smpl(body_model, gt, size, min_overlap, junction_radius),
            )
        )
    return [occlusion_state_accuracy(p, g) for p, g in pairs], summarize_osa(pairs)


# ------------------------------------------------------------------ the mirrored body

#: SMPL joint index of each joint's mirror image (left ↔ right).
MIRROR_JOINT: tuple[int, ...] = tuple(
    SMPL_JOINT_NAMES.index(
        n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
    )
    for n in SMPL_JOINT_NAMES
)


def mirror_axis_angle(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) of ``M R M`` for the reflection ``M = diag(-1, 1, 1)``.

    A reflection maps a rotation by θ about ``a`` to a rotation by -θ about ``M a``, i.e. by
    θ about ``-M a = (a_x, -a_y, -a_z)``: the y and z components change sign.
    """
    r = np.array(rotvec, dtype=np.float64, copy=True)
    r[..., 1:] *= -1
    return r


def mirror_smpl(params: BodyParams) -> BodyParams:
    """The body seen in the left↔right flipped crop (image column ``c`` → ``size - 1 - c``).

    The flip is ``x → -x`` in the camera frame and ``u → -u`` in the image, so: every joint's
    rotation becomes its mirror's (left and right joints swap places), each rotation is
    reflected (:func:`mirror_axis_angle`, which also holds for ``global_orient`` since the
    mirror plane is x = 0 in the camera frame as well as the body's sagittal plane), and
    ``tx`` changes sign. Exact for a left-right symmetric template; betas are kept.
    """
    pose = np.asarray(params.body_pose, np.float64).reshape(23, 3)
    full = np.concatenate([np.asarray(params.global_orient, np.float64).reshape(1, 3), pose])
    mirrored = mirror_axis_angle(full[list(MIRROR_JOINT)])
    cam = np.asarray(params.camera, np.float64).copy()
    cam[1] = -cam[1]
    return BodyParams(
        global_orient=mirrored[0],
        body_pose=mirrored[1:].reshape(69),
        camera=cam,
        betas=None if params.betas is None else np.asarray(params.betas).copy(),
        camera_distance=params.camera_distance,
    )
