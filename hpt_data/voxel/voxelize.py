"""Solid voxelization of a posed body mesh into a grid of part labels (BodyNet's ground truth).

Frame (``docs/maps_and_volumes.md``): the grid is ``labels[z, y, x]`` of shape
``(z_bins, xy_size, xy_size)`` — (64, 256, 256) by default, the layout of ``hpt_model``'s
volume network. Voxel column ``(x, y)`` is pixel ``(x, y)`` of the crop rendered at
``xy_size`` pixels: its centre is the pixel centre, so at the 1024 crop voxel ``(x, y)``
covers pixels ``4x .. 4x+3`` and ``4y .. 4y+3``. Along z, bin ``k`` spans the camera-frame
depths ``z0 + [k, k+1)·dz``; by default ``z0`` and ``dz`` split the body's own depth range
into the bins (:func:`depth_range`). Columns follow the camera of
:mod:`hpt_data.body.weak_perspective` exactly as ``render-maps``' pixels do, the
perspective about the pelvis included (``distance > 0``): a column is then a ray through a
pixel centre, and the grid a frustum in metres, so volume and maps stay aligned pixel for
pixel while z keeps metric camera-frame depth.

Algorithm: every triangle is rasterised at the column centres (exactly, with a consistent
tie rule, :mod:`hpt_data.render.raster`); each crossing adds +1 (a triangle facing the
camera: the ray enters) or -1 (it leaves) to the first voxel centre behind it, and a
cumulative sum along z gives each voxel centre's winding number. Voxels with a non-zero
winding number are inside. Unlike a parity fill, this takes the union where limbs
interpenetrate. Each inside voxel takes the part label of the nearest crossing along its
column (the surface in front of it or behind it, whichever is closer in z).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hpt_data.body.weak_perspective import from_pixels, project, to_pixels, unproject
from hpt_data.render.mesh_checks import FATAL_FLAGS, frame_flags, mesh_flags
from hpt_data.render.raster import Fragments, RasterTooLarge, compiled, rasterize
from hpt_data.render.scene import face_labels
from hpt_data.voxel import _fill_jit

XY_SIZE = 256
Z_BINS = 64


@dataclass
class VoxelGrid:
    """A labelled voxel grid in the crop's frame.

    Attributes
    ----------
    labels : (Z, X, X) uint8
        ``labels[z, y, x]``: 0 background, 1..6 the body parts (DESIGN.md).
    z0, dz : float
        Camera-frame depth (metres) of the front face of bin 0, and the bins' depth.
    camera : (3,) float64
        The camera ``(s, tx, ty)`` the grid is aligned with.
    flags : tuple of str
        See :mod:`hpt_data.render.mesh_checks`.
    distance : float
        Camera-to-pelvis distance of the perspective (metres; 0 = weak perspective).
    ref_z : float
        The pelvis's depth, the perspective's reference (unused when ``distance`` is 0).
    """

    labels: np.ndarray
    z0: float
    dz: float
    camera: np.ndarray
    flags: tuple[str, ...] = field(default=())
    distance: float = 0.0
    ref_z: float = 0.0

    @property
    def xy_size(self) -> int:
        return int(self.labels.shape[1])

    @property
    def z_bins(self) -> int:
        return int(self.labels.shape[0])

    @property
    def pitch_xy(self) -> float:
        """Side of a voxel in x and y, metres (``2 / (s · xy_size)``; with the perspective,
        at the pelvis's depth: nearer voxels are narrower by the divisor)."""
        return float(2.0 / (self.camera[0] * self.xy_size))

    def centres(self, index: np.ndarray) -> np.ndarray:
        """Camera-frame centres (metres) of voxels given as ``(N, 3)`` rows ``(z, y, x)``:
        the points the camera projects to the column's pixel centre, at the bin's depth."""
        idx = np.asarray(index, dtype=np.float64).reshape(-1, 3)
        uv = from_pixels(idx[:, [2, 1]], self.xy_size)
        z = self.z0 + (idx[:, 0] + 0.5) * self.dz
        return unproject(uv, z, self.camera, self.distance, self.ref_z)


def depth_range(vertices: np.ndarray, z_bins: int = Z_BINS) -> tuple[float, float]:
    """The default z frame: ``z_bins`` bins over the mesh's depth range.

    The one convention shared by ``voxelize`` and ``render-maps`` (which stores depth as
    camera-frame z, and records this range so that D and the volume can be compared).

    Parameters
    ----------
    vertices : (V, 3) float
        Posed vertices in the camera frame.

    Returns
    -------
    z0, dz : float
        ``z0 = min z``; ``dz = (max z - min z) / z_bins``.
    """
    z = np.asarray(vertices, dtype=np.float64)[:, 2]
    if z.size == 0 or not np.isfinite(z).all():
        raise ValueError("vertices must be non-empty and finite")
    if z_bins <= 0:
        raise ValueError(f"z_bins must be positive, got {z_bins}")
    lo, hi = float(z.min()), float(z.max())
    return lo, (hi - lo) / z_bins


def voxelize(
    vertices: np.ndarray,
    faces: np.ndarray,
    part_labels: np.ndarray,
    camera: np.ndarray,
    xy_size: int = XY_SIZE,
    z_bins: int = Z_BINS,
    z_frame: tuple[float, float] | None = None,
    surface: bool = True,
    distance: float = 0.0,
    ref_z: float | None = None,
) -> VoxelGrid:
    """Solid, part-labelled voxel grid of a closed mesh.

    Parameters
    ----------
    vertices : (V, 3) float
        Posed vertices in the camera frame (metres; x right, y down, z away).
    faces : (F, 3) int
        Outward-oriented triangles (either orientation works: only the winding's being
        non-zero counts).
    part_labels : (V,) int
        Part label 1..6 of each vertex; a face takes its vertices' majority label.
    camera : (3,) float
        ``(s, tx, ty)``.
    xy_size, z_bins : int
        Grid size: ``(z_bins, xy_size, xy_size)``.
    z_frame : (z0, dz), optional
        Depth of the front of bin 0 and the bins' depth; default :func:`depth_range`.
    surface : bool
        Also fill the voxels in which a column's centre ray crosses the surface (labelled
        by the front-most crossing there), as binvox keeps the voxels the surface passes
        through. Then every column the renderer sees at ``xy_size`` has a voxel and the
        front-most one carries the rendered label, however thin the part (fingers thinner
        than a bin hold no voxel centre). False: voxels whose centre is inside, only.
    distance : float
        Camera-to-pelvis distance (metres; 0 = weak perspective), as ``render_maps``'.
    ref_z : float, optional
        The pelvis's (root joint's) depth; needed with ``distance > 0``.

    Returns
    -------
    VoxelGrid
        Flags (never an exception) for bad input: a degenerate mesh or camera, a mesh
        outside the frame (empty grid), part of it outside (clipped), an open mesh (filled
        as far as the winding numbers say; columns through a hole may be wrong).

    Raises
    ------
    ValueError
        On bad shapes or sizes.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    lab = np.asarray(part_labels)
    cam = np.asarray(camera, dtype=np.float64)
    if xy_size <= 0 or z_bins <= 0:
        raise ValueError(f"grid sizes must be positive, got {xy_size} and {z_bins}")
    if lab.shape != (v.shape[0],):
        raise ValueError(f"part_labels must have shape ({v.shape[0]},), got {lab.shape}")
    dist = float(distance)
    if dist > 0 and ref_z is None:
        raise ValueError("a distance > 0 needs ref_z, the pelvis's depth")
    rz = float(ref_z) if ref_z is not None else 0.0
    flags = mesh_flags(v, f, cam)
    if not (np.isfinite(dist) and dist >= 0 and np.isfinite(rz)) and "bad_camera" not in flags:
        flags.append("bad_camera")
    empty = np.zeros((z_bins, xy_size, xy_size), np.uint8)

    def grid(labels: np.ndarray, z0: float, dz: float, found: list[str]) -> VoxelGrid:
        return VoxelGrid(labels, float(z0), float(dz), cam, tuple(found), dist, rz)

    if FATAL_FLAGS.intersection(flags):
        return grid(empty, 0.0, 0.0, flags)
    z0, dz = depth_range(v, z_bins) if z_frame is None else z_frame
    if not (np.isfinite(z0) and np.isfinite(dz) and dz > 0):
        return grid(empty, 0.0, 0.0, [*flags, "degenerate_mesh"])
    xy = to_pixels(project(v, cam, dist, rz), xy_size)
    flags += frame_flags(xy, xy_size)
    if FATAL_FLAGS.intersection(flags):
        return grid(empty, z0, dz, flags)
    try:
        frags = rasterize(xy, v[:, 2], f, xy_size, xy_size)
    except RasterTooLarge:
        return grid(empty, z0, dz, [*flags, "bad_camera"])
    labels, unbalanced = _fill(frags, face_labels(f, lab), xy_size, z_bins, z0, dz, surface)
    if unbalanced and "not_watertight" not in flags:
        flags.append("not_watertight")
    return grid(labels, z0, dz, flags)


def _fill(
    frags: Fragments,
    flab: np.ndarray,
    xy_size: int,
    z_bins: int,
    z0: float,
    dz: float,
    surface: bool,
) -> tuple[np.ndarray, bool]:
    """Winding-number fill and nearest-crossing labels from the column crossings: compiled
    (:mod:`hpt_data.voxel._fill_jit`, the same bytes) when it can be, else in numpy."""
    labels = np.zeros((z_bins, xy_size, xy_size), np.uint8)
    if len(frags) == 0:
        return labels, False
    if compiled() and np.isfinite(frags.z).all():
        lab = flab[frags.face].astype(np.uint8)
        args = (frags.x, frags.y, frags.z, frags.front, lab, xy_size, z_bins)
        return labels, bool(_fill_jit.fill(*args, float(z0), float(dz), surface, labels))
    col = frags.y * xy_size + frags.x
    zc = frags.z
    cols, inv = np.unique(col, return_inverse=True)
    ncol = cols.size
    # first voxel centre strictly behind each crossing: z0 + (k + 0.5) dz > z
    k = np.floor((zc - z0) / dz - 0.5).astype(np.int64) + 1
    k = np.clip(k, 0, z_bins)
    delta = np.where(frags.front, 1.0, -1.0)
    wind = np.bincount(inv * (z_bins + 1) + k, weights=delta, minlength=ncol * (z_bins + 1))
    wind = np.cumsum(wind.reshape(ncol, z_bins + 1), axis=1)
    unbalanced = bool(np.any(wind[:, -1] != 0))
    ci, ki = np.nonzero(wind[:, :z_bins] != 0)
    # nearest crossing along the column: sort crossings by (column, depth) on one key
    span = float(z_bins * dz)
    zn = np.clip((zc - z0) / span, -1.0, 2.0)
    key = inv * 8.0 + zn
    order = np.argsort(key, kind="stable")
    key = key[order]
    clab = flab[frags.face[order]]
    vkey = ci * 8.0 + (ki + 0.5) / z_bins
    nxt = np.searchsorted(key, vkey)
    prv = np.maximum(nxt - 1, 0)
    nxt_c = np.minimum(nxt, key.size - 1)
    d_prev = np.where((nxt > 0) & (key[prv] > ci * 8.0 - 4.0), vkey - key[prv], np.inf)
    d_next = np.where(nxt < key.size, key[nxt_c] - vkey, np.inf)
    d_next = np.where(key[nxt_c] >= ci * 8.0 + 4.0, np.inf, d_next)  # next column: unusable
    pick = np.where(d_next < d_prev, nxt_c, prv)
    yy, xx = np.divmod(cols[ci], xy_size)
    labels[ki, yy, xx] = clab[pick]
    if surface:
        # the voxel holding each crossing, labelled by its front-most crossing
        cs = inv[order]
        kc = np.floor((zc[order] - z0) / dz).astype(np.int64)
        ok = (kc >= 0) & (kc < z_bins)
        cs, kc, lab = cs[ok], kc[ok], clab[ok]
        first = np.ones(cs.size, bool)
        first[1:] = (cs[1:] != cs[:-1]) | (kc[1:] != kc[:-1])
        yy, xx = np.divmod(cols[cs[first]], xy_size)
        labels[kc[first], yy, xx] = lab[first]
    return labels, unbalanced
