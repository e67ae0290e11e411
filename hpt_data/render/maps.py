"""The informative maps of a posed body (§III-A/B/C): parsing S, depth D, pose heatmaps H,
and the complete part maps and crop boxes of the layer generators.

The library call for both ``render-maps`` and pose transfer: :func:`render_target_maps`
poses the body model with a person's shape (``betas``) and any pose, and renders under the
camera of :mod:`hpt_data.body.weak_perspective`: ``(s, tx, ty)`` and, as ``fit-smpl``
fits it, a ``distance`` for the perspective about the pelvis (the root joint's depth;
0 = weak perspective). :func:`render_maps` does the same from a posed mesh.

Rendering is this package's exact vectorised rasteriser (:mod:`hpt_data.render.raster`):
each pixel centre takes the nearest surface (smallest camera-frame z); no antialiasing, so
every pixel has exactly one label. A test compares it with pyrender (orthographic, SEG).
Depth is interpolated linearly over each projected triangle: exact under weak
perspective; with the perspective about the pelvis the error is of order ``Δz² / (4 Z)``
for a triangle spanning ``Δz`` in depth (under 0.2 mm for the body's centimetre triangles
at ``Z = 3 m``, below float16's steps), and ``z`` keeps its metric meaning.

- ``parsing`` (size, size) uint8: 0 background, 1 head, 2 torso, 3/4 left/right arm,
  5/6 left/right leg; a face takes its vertices' majority label.
- ``depth`` (size, size) float32: camera-frame z in metres of the visible surface, ``+inf``
  on the background (where ``parsing == 0``).
- ``joints2d`` (24, 2): SMPL joints in pixels; H is :func:`hpt_data.render.heatmaps.
  render_heatmaps` of them with ``sigma`` (``Maps.heatmaps()``).
- ``keypoints`` (K, 3): every point given as ``joints`` (SMPL's 24, then any extra such as
  the face points of :func:`face_points`): x, y pixels and camera-frame z in metres, the
  target 3D pose the model's volume network and heatmaps read.
- ``boxes``: layer → ``[x0, y0, size]`` (:mod:`hpt_data.render.boxes`), and per layer the
  *complete* part map: the part rendered alone (whatever occludes it), inside its box —
  ``part_masks`` (n, n) bool and ``part_depths`` (n, n) float32 (``+inf`` off the part).
  Box pixels outside the frame are empty, as the model's zero-padded crops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpt_data.body.weak_perspective import project, to_pixels
from hpt_data.render.boxes import LAYER_LABEL, LAYERS, part_boxes
from hpt_data.render.heatmaps import heatmap_sigma, render_heatmaps
from hpt_data.render.mesh_checks import FATAL_FLAGS, frame_flags, mesh_flags
from hpt_data.render.raster import (
    Fragments,
    RasterTooLarge,
    compiled,
    nearest_surfaces,
    rasterize,
)
from hpt_data.render.scene import face_labels


@dataclass
class Maps:
    """The maps of one posed body at one resolution (see the module docstring)."""

    size: int
    parsing: np.ndarray
    depth: np.ndarray
    joints2d: np.ndarray
    sigma: float
    keypoints: np.ndarray  # (K, 3): x, y pixels, camera-frame z metres
    z_range: tuple[float, float]
    boxes: dict[str, np.ndarray] = field(default_factory=dict)
    part_masks: dict[str, np.ndarray] = field(default_factory=dict)
    part_depths: dict[str, np.ndarray] = field(default_factory=dict)
    flags: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """False when a fatal flag left the maps empty."""
        return not FATAL_FLAGS.intersection(self.flags)

    def heatmaps(self, size: int | None = None) -> np.ndarray:
        """H: (24, size, size) float32 Gaussians at ``joints2d`` with ``sigma``. A smaller
        ``size`` (a divisor of the maps' size, for previews) gives every k-th pixel of the
        full maps: the same Gaussians sampled k times coarser, without making the full
        ones."""
        if size is None or size == self.size:
            return render_heatmaps(self.joints2d, self.size, self.sigma)
        if self.size % size:
            raise ValueError(f"size {size} does not divide the maps' size {self.size}")
        k = self.size // size
        return render_heatmaps(np.asarray(self.joints2d) / k, size, self.sigma / k)


def face_points(body_model: Any, vertices: np.ndarray) -> np.ndarray:
    """(5, 3) the posed ``vertices`` (V, 3) at the body model's nose, eye and ear landmark
    vertices (``landmark_vertex_ids``: smplx's for SMPL's own 6,890-vertex files, derived
    for the built-in model and saved with it), in ``FACE_KEYPOINTS`` order."""
    from hpt_data.shards.schema import FACE_KEYPOINTS

    ids = getattr(body_model, "landmark_vertex_ids", {})
    missing = [n for n in FACE_KEYPOINTS if n not in ids]
    if missing:
        raise ValueError(f"the body model has no landmark vertex for {', '.join(missing)}")
    return np.asarray(vertices, np.float64)[[ids[n] for n in FACE_KEYPOINTS]]


def _empty(
    size: int, flags: list[str], joints2d: np.ndarray | None = None, num_points: int = 24
) -> Maps:
    return Maps(
        size=size,
        parsing=np.zeros((size, size), np.uint8),
        depth=np.full((size, size), np.inf, np.float32),
        joints2d=np.full((24, 2), np.nan) if joints2d is None else joints2d,
        keypoints=np.full((num_points, 3), np.nan),
        sigma=heatmap_sigma(size),
        z_range=(float("nan"), float("nan")),
        flags=tuple(flags),
    )


def zbuffer(
    frags: Fragments, width: int, height: int, origin: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest surface per pixel centre among rasterised fragments.

    Parameters
    ----------
    frags : Fragments
        From :func:`hpt_data.render.raster.rasterize` on a grid containing this one.
    width, height : int
        Size of the output grid.
    origin : (int, int)
        The output grid's top-left pixel in the fragments' grid; fragments outside it are
        ignored.

    Returns
    -------
    face : (height, width) int64
        Index of the visible triangle, -1 on the background.
    depth : (height, width) float32
        Its depth, ``+inf`` on the background.
    """
    x = frags.x - origin[0]
    y = frags.y - origin[1]
    keep = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    if not keep.all():
        x, y = x[keep], y[keep]
        z, fid = frags.z[keep], frags.face[keep]
    else:
        z, fid = frags.z, frags.face
    pix = y * width + x
    zbuf = np.full(width * height, np.inf)
    np.minimum.at(zbuf, pix, z)
    win = z == zbuf[pix]
    face = np.full(width * height, -1, np.int64)
    face[pix[win]] = fid[win]
    return face.reshape(height, width), zbuf.reshape(height, width).astype(np.float32)


def render_maps(
    vertices: np.ndarray,
    faces: np.ndarray,
    part_labels: np.ndarray,
    joints: np.ndarray,
    camera: np.ndarray,
    size: int = 1024,
    layers: bool = True,
    distance: float = 0.0,
) -> Maps:
    """S, D, projected joints and (optionally) the layer boxes and complete part maps.

    Parameters
    ----------
    vertices : (V, 3) float
        Posed vertices in the camera frame (metres).
    faces : (F, 3) int
        Triangles, outward-oriented.
    part_labels : (V,) int
        Part label 1..6 per vertex.
    joints : (K, 3) float, K ≥ 24
        Posed SMPL joints, same frame, optionally followed by extra points (the face
        points); joint 0 (the pelvis) is the perspective's ``ref_z``.
    camera : (3,) float
        ``(s, tx, ty)``.
    size : int
        Side of the square maps; boxes scale with it (their paper sizes are at 1024).
    layers : bool
        Also make the boxes and complete part maps.
    distance : float
        Camera-to-pelvis distance in metres (``fits.npz``'s ``camera_distance``); 0 = weak
        perspective. Non-finite or negative: ``bad_camera``.

    Returns
    -------
    Maps
        With ``flags`` for bad input (never an exception): ``degenerate_mesh``,
        ``bad_camera`` and ``out_of_frame`` leave the maps empty; ``partly_out_of_frame``
        and ``not_watertight`` are informative.

    Raises
    ------
    ValueError
        On bad shapes or a non-positive size.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    lab = np.asarray(part_labels)
    jts = np.asarray(joints, dtype=np.float64)
    cam = np.asarray(camera, dtype=np.float64)
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if lab.shape != (v.shape[0],):
        raise ValueError(f"part_labels must have shape ({v.shape[0]},), got {lab.shape}")
    if jts.ndim != 2 or jts.shape[0] < 24 or jts.shape[1] != 3:
        raise ValueError(f"joints must have shape (K >= 24, 3), got {jts.shape}")
    flags = mesh_flags(v, f, cam)
    dist = float(distance)
    if not (np.isfinite(dist) and dist >= 0) and "bad_camera" not in flags:
        flags.append("bad_camera")
    if FATAL_FLAGS.intersection(flags):
        return _empty(size, flags, num_points=len(jts))
    ref_z = float(jts[0, 2])
    xy = to_pixels(project(v, cam, dist, ref_z), size)
    points = to_pixels(project(jts, cam, dist, ref_z), size)
    keypoints = np.concatenate([points, jts[:, 2:3]], axis=1)
    j2d = points[:24]
    flags += frame_flags(xy, size)
    if FATAL_FLAGS.intersection(flags):
        return _empty(size, flags, j2d, len(jts))
    flab = face_labels(f, lab)
    closed = "not_watertight" not in flags
    # one pass: with the layers, back faces are needed too (a part alone is open)
    front_only = closed and not layers
    boxes = part_boxes(j2d, xy, lab, size) if layers else {}
    parts = None
    try:
        if compiled():  # the same maps (tests/test_raster_compiled.py), no fragments made
            layer_of, table = _part_layout(flab, boxes) if layers else (None, None)
            layer = None if layer_of is None else layer_of[flab]
            parsing, zbuf, hit, pbuf = nearest_surfaces(
                xy, v[:, 2], f, size, front_only, layer, table, flab.astype(np.uint8)
            )
            depth = zbuf.astype(np.float32)
            parts = _part_maps(hit, pbuf, table) if layers else None
        else:
            frags = rasterize(xy, v[:, 2], f, size, size, front_only=front_only)
            fid, depth = zbuffer(frags, size, size)
            parts = part_zbuffers(frags, flab, boxes) if layers else None
            parsing = np.concatenate([[0], flab]).astype(np.uint8)[fid + 1]  # -1: background
    except RasterTooLarge:
        return _empty(size, [*flags, "bad_camera"], j2d, len(jts))
    z_lo, z_hi = float(v[:, 2].min()), float(v[:, 2].max())
    maps = Maps(
        size=size,
        parsing=parsing,
        depth=depth,
        joints2d=j2d,
        keypoints=keypoints,
        sigma=heatmap_sigma(size),
        z_range=(z_lo, z_hi),
        flags=tuple(flags),
    )
    if parts is not None:
        maps.boxes = boxes
        maps.part_masks, maps.part_depths = parts
    return maps


def part_zbuffers(
    frags: Fragments, flab: np.ndarray, boxes: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The complete part maps: per layer, :func:`zbuffer` of the fragments of its part in
    its box (mask: a fragment won the pixel; depth float32, ``+inf`` elsewhere), all
    layers in one pass over the fragments: one buffer holds the boxes one after the other
    (the same minima and winners as one z-buffer per layer: a pixel belongs to one box)."""
    layer_of, table = _part_layout(flab, boxes)
    x0, y0, side, offset = table.T
    li = layer_of[flab[frags.face]]
    sel = np.flatnonzero(li >= 0)
    li = li[sel]
    x, y, n = frags.x[sel] - x0[li], frags.y[sel] - y0[li], side[li]
    keep = (x >= 0) & (x < n) & (y >= 0) & (y < n)
    pix = (offset[li] + y * n + x)[keep]
    z = frags.z[sel][keep]
    zbuf = np.full(int(offset[-1] + side[-1] ** 2), np.inf)
    np.minimum.at(zbuf, pix, z)
    hit = np.zeros(zbuf.size, bool)
    hit[pix[z == zbuf[pix]]] = True
    return _part_maps(hit, zbuf, table)


def _part_layout(flab: np.ndarray, boxes: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per face label, its layer's index in ``LAYERS`` (-1: none), and per layer ``(x0,
    y0, side, offset)`` (n, 4) int64: its box, and where it starts in the boxes' buffer."""
    names = list(LAYERS)
    side = np.array([int(boxes[n][2]) for n in names], np.int64)
    x0 = np.array([int(boxes[n][0]) for n in names], np.int64)
    y0 = np.array([int(boxes[n][1]) for n in names], np.int64)
    offset = np.concatenate([[0], np.cumsum(side * side)[:-1]]).astype(np.int64)
    layer_of = np.full(max(int(flab.max(initial=0)), max(LAYER_LABEL.values())) + 1, -1)
    for i, n in enumerate(names):
        layer_of[LAYER_LABEL[n]] = i
    return layer_of, np.stack([x0, y0, side, offset], axis=1)


def _part_maps(
    hit: np.ndarray, zbuf: np.ndarray, table: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The boxes' buffer (M,) cut into per-layer masks and float32 depths (side, side)."""
    depth = zbuf.astype(np.float32)
    masks, depths = {}, {}
    for name, (_, _, k, a) in zip(LAYERS, table.tolist(), strict=True):
        masks[name], depths[name] = (
            hit[a : a + k * k].reshape(k, k),
            depth[a : a + k * k].reshape(k, k),
        )
    return masks, depths


def render_target_maps(
    body_model: Any,
    betas: np.ndarray | None,
    global_orient: np.ndarray,
    body_pose: np.ndarray,
    camera: np.ndarray,
    size: int = 1024,
    layers: bool = True,
    distance: float = 0.0,
) -> Maps:
    """Maps of a body model in any pose with any shape: pose transfer's target maps
    (the source person's ``betas`` with a target pose, §III-B) and ``render-maps``'s own.

    Parameters
    ----------
    body_model : hpt_data.body.BodyModel
    betas : (nb,) float or None
        Shape; None for the mean shape.
    global_orient : (3,) float
        Root orientation, axis-angle, in the camera frame (x right, y down, z away;
        ``(π, 0, 0)`` is upright facing the camera).
    body_pose : (69,) float
        Axis-angle of joints 1..23.
    camera : (3,) float
        ``(s, tx, ty)``.
    size : int
    layers : bool
        Also make the layer boxes and complete part maps.
    distance : float
        Camera-to-pelvis distance (metres; 0 = weak perspective), about this body's pelvis.

    Returns
    -------
    Maps
    """
    import torch

    go = np.asarray(global_orient, dtype=np.float32).reshape(1, -1)
    bp = np.asarray(body_pose, dtype=np.float32).reshape(1, -1)
    if go.shape != (1, 3) or bp.shape != (1, 69):
        raise ValueError(
            f"global_orient must be (3,) and body_pose (69,), got {go.shape}, {bp.shape}"
        )
    b = None if betas is None else torch.as_tensor(np.asarray(betas, np.float32).reshape(1, -1))
    with torch.no_grad():
        out = body_model(betas=b, body_pose=torch.as_tensor(bp), global_orient=torch.as_tensor(go))
    vertices = out.vertices[0].double().numpy()
    return render_maps(
        vertices,
        body_model.faces,
        body_model.part_labels,
        np.concatenate([out.joints[0].double().numpy(), face_points(body_model, vertices)]),
        camera,
        size,
        layers,
        distance,
    )
