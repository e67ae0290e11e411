"""iPER's per-frame SMPL fits: ``smpls/<person>/<outfit>/<action>/pose_shape.pkl``.

The release ships, beside ``images_HD/``, one pickle per video holding a dict of arrays
with one row per frame of the sorted frame folder: ``pose`` (N, 72) SMPL axis-angle pose
(global orientation first), ``shape`` (N, 10) betas and ``cams`` (N, 3) HMR's
weak-perspective camera ``(s, tx, ty)`` (svip-lab/impersonator ``data/imper_dataset.py``
reads exactly these keys and asserts one row per image). The ``iper`` source records the
file in each video's ``meta["smpl"]``; :func:`read_pose_shape` reads it. A pickle can run
code when loaded, so it goes through the restricted unpickler of the SMPL model files
(``hpt_data.body.smpl_files``: numpy arrays and plain containers only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpt_data.body.smpl_files import read_smpl_pkl
from hpt_data.errors import HptError

POSE_SHAPE = "pose_shape.pkl"
#: key -> columns of each per-frame array
COLUMNS = {"pose": 72, "shape": 10, "cams": 3}


@dataclass(frozen=True)
class PoseShape:
    """One video's fits: ``pose`` (N, 72), ``shape`` (N, 10), ``cams`` (N, 3), float64."""

    pose: np.ndarray
    shape: np.ndarray
    cams: np.ndarray

    def __len__(self) -> int:
        return len(self.pose)


def read_pose_shape(path: Path, frames: int | None = None) -> PoseShape:
    """The fits of ``path``, checked: the three keys, 2-D arrays of 72, 10 and 3 columns,
    one row count (``frames`` where given: the video's frame count). Any problem is one
    ``HptError`` naming the file; a pickle reaching for code is refused before it runs."""
    path = Path(path)
    data = read_smpl_pkl(path)
    arrays = {}
    for key, width in COLUMNS.items():
        if key not in data:
            raise HptError(
                f"{path}: no '{key}' array (an iPER pose_shape.pkl has pose, shape, cams)"
            )
        value = np.asarray(data[key])
        if value.ndim != 2 or value.shape[1] != width or not np.issubdtype(value.dtype, np.number):
            raise HptError(f"{path}: '{key}' is {value.dtype} {value.shape}, expected (N, {width})")
        arrays[key] = value.astype(np.float64)
    rows = {k: len(v) for k, v in arrays.items()}
    if len(set(rows.values())) != 1:
        raise HptError(f"{path}: the arrays' row counts differ ({rows})")
    if frames is not None and rows["pose"] != frames:
        raise HptError(f"{path}: {rows['pose']} rows, the video has {frames} frames")
    return PoseShape(**arrays)
