"""``.binvox`` files (Patrick Min's format, which BodyNet's ground truth came from).

A file is an ASCII header ::

    #binvox 1
    dim D D D
    translate tx ty tz
    scale S
    data

followed by run-length pairs of bytes ``(value, count)``, count 1..255, over the voxels in
binvox's order: x slowest, then z, then y fastest. Voxels are cubes of side ``S / D``;
voxel ``(i, j, k)`` spans ``translate + [i, i+1)·S/D`` etc.

Binvox has one scale for all axes and its readers disagree on the axis order of
non-cubic dims, so the files written here are cubic ``D³`` grids with cubic voxels of the
crop's xy pitch (:func:`cubic_grid`); the 64-bin grid of the model lives in
``voxels.npz``. Axes are the camera frame's (x right, y down, z away), metres.

With the perspective about the pelvis (``distance > 0``, ``hpt_data.body.weak_perspective``)
the grid's columns are the camera's rays, which one binvox scale cannot express: the files
then hold the body as the camera sees it, x and y measured at the pelvis's depth (a voxel
at depth z stands for a region ``1 + (z - ref_z) / distance`` times as wide), so that they
stay aligned with the maps; with ``distance = 0`` they are the metric body.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpt_data.body.parts import PART_NAMES
from hpt_data.voxel.voxelize import VoxelGrid, voxelize

_HEADER_END = b"data\n"


def cubic_grid(
    vertices: np.ndarray,
    faces: np.ndarray,
    part_labels: np.ndarray,
    camera: np.ndarray,
    size: int = 256,
    distance: float = 0.0,
    ref_z: float | None = None,
) -> VoxelGrid:
    """A ``size³`` labelled grid with cubic voxels, aligned with the crop in x and y.

    The z bins have the xy pitch ``2 / (s · size)`` (at the pelvis's depth with the
    perspective ``distance``, ``ref_z``: see the module docstring) and are centred on the
    body's depth range; a body deeper than the grid is clipped (flag ``depth_clipped``).
    """
    v = np.asarray(vertices, dtype=np.float64)
    cam = np.asarray(camera, dtype=np.float64)
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    ok = cam.shape == (3,) and np.isfinite(cam).all() and cam[0] > 0 and np.isfinite(v).all()
    if not ok or v.size == 0:
        return voxelize(v, faces, part_labels, cam, size, size, distance=distance, ref_z=ref_z)
    pitch = 2.0 / (cam[0] * size)
    zmid = 0.5 * (v[:, 2].min() + v[:, 2].max())
    z0 = zmid - 0.5 * size * pitch
    grid = voxelize(
        v, faces, part_labels, cam, size, size, (z0, pitch), distance=distance, ref_z=ref_z
    )
    if v[:, 2].min() < z0 or v[:, 2].max() > z0 + size * pitch:
        grid.flags = (*grid.flags, "depth_clipped")
    return grid


def binvox_bytes(occupancy: np.ndarray, translate: np.ndarray, scale: float) -> bytes:
    """Encode a cubic occupancy grid.

    Parameters
    ----------
    occupancy : (D, D, D) bool
        Indexed ``[z, y, x]`` (this project's layout; reordered to binvox's here).
    translate : (3,) float
        Position of the grid's corner (the low x, y, z faces of voxel 0), metres.
    scale : float
        Side of the whole grid, metres.
    """
    occ = np.asarray(occupancy, dtype=bool)
    if occ.ndim != 3 or len(set(occ.shape)) != 1:
        raise ValueError(f"occupancy must be a cubic (D, D, D) grid, got {occ.shape}")
    t = np.asarray(translate, dtype=np.float64)
    if t.shape != (3,) or not np.isfinite(t).all() or not np.isfinite(scale) or scale <= 0:
        raise ValueError("translate must be 3 finite numbers and scale positive")
    return _encode(_binvox_order(occ).view(np.uint8), occ.shape[0], t, scale)


def _binvox_order(grid: np.ndarray) -> np.ndarray:
    """A ``[z, y, x]`` grid flattened in binvox's order, ``[x, z, y]`` with y fastest.

    The transposed copy is the costly step (a strided pass over 16M voxels): do it once per
    grid, not once per part.
    """
    return np.ascontiguousarray(grid.transpose(2, 0, 1)).reshape(-1)


def _encode(flat: np.ndarray, d: int, t: np.ndarray, scale: float) -> bytes:
    header = (
        f"#binvox 1\ndim {d} {d} {d}\n"
        f"translate {t[0]:.9g} {t[1]:.9g} {t[2]:.9g}\nscale {float(scale):.9g}\n"
    ).encode() + _HEADER_END
    return header + _rle(flat).tobytes()


def _rle(flat: np.ndarray) -> np.ndarray:
    """(value, count) byte pairs, counts at most 255."""
    starts = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1])
    lengths = np.diff(np.concatenate([starts, [flat.size]]))
    values = flat[starts]
    pieces = (lengths + 254) // 255
    vals = np.repeat(values, pieces)
    counts = np.full(vals.size, 255, np.int64)
    last = np.cumsum(pieces) - 1
    counts[last] = lengths - 255 * (pieces - 1)
    return np.stack([vals, counts.astype(np.uint8)], axis=1).reshape(-1).astype(np.uint8)


def read_binvox(path: str | Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Read a ``.binvox`` file (any cubic grid) back.

    Returns
    -------
    occupancy : (D, D, D) bool
        Indexed ``[z, y, x]``.
    translate : (3,) float64
    scale : float

    Raises
    ------
    ValueError
        If the file is not a well-formed cubic binvox file.
    """
    blob = Path(path).read_bytes()
    end = blob.find(_HEADER_END)
    if not blob.startswith(b"#binvox") or end < 0:
        raise ValueError(f"{path}: not a binvox file")
    fields = {}
    for line in blob[:end].decode("ascii").splitlines()[1:]:
        key, *vals = line.split()
        fields[key] = vals
    try:
        dims = [int(x) for x in fields["dim"]]
        translate = np.array([float(x) for x in fields.get("translate", [0, 0, 0])])
        scale = float(fields.get("scale", [1])[0])
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: malformed binvox header ({exc})") from None
    if len(dims) != 3 or len(set(dims)) != 1:
        raise ValueError(f"{path}: only cubic grids are read, got dim {dims}")
    pairs = np.frombuffer(blob[end + len(_HEADER_END) :], dtype=np.uint8).reshape(-1, 2)
    flat = np.repeat(pairs[:, 0], pairs[:, 1].astype(np.int64))
    d = dims[0]
    if flat.size != d**3:
        raise ValueError(f"{path}: data holds {flat.size} voxels, header says {d**3}")
    occ = flat.reshape(d, d, d).transpose(1, 2, 0) != 0  # [x, z, y] -> [z, y, x]
    return occ, translate, scale


def write_part_binvox(folder: str | Path, grid: VoxelGrid) -> list[Path]:
    """Write ``body.binvox`` (all parts) and one ``<part>.binvox`` per body part.

    Parameters
    ----------
    grid : VoxelGrid
        A cubic grid from :func:`cubic_grid`.

    Returns
    -------
    list of Path
        The files written, body first.
    """
    d = grid.xy_size
    if grid.z_bins != d or not np.isclose(grid.dz, grid.pitch_xy, rtol=1e-9):
        raise ValueError("binvox files need a cubic grid with cubic voxels (see cubic_grid)")
    s, tx, ty = grid.camera
    translate = np.array([(-1.0 - tx) / s, (-1.0 - ty) / s, grid.z0])
    scale = d * grid.pitch_xy
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    labels = _binvox_order(grid.labels)
    for name, value in [("body", None)] + [(PART_NAMES[p], p) for p in range(1, len(PART_NAMES))]:
        occ = labels != 0 if value is None else labels == value
        path = out / f"{name}.binvox"
        path.write_bytes(_encode(occ.view(np.uint8), d, translate, scale))
        written.append(path)
    return written
