"""Part crop boxes of the layer generators (§III-C), in ``hpt_model``'s box format.

A box is one integer row ``[x0, y0, size]``: the top-left pixel and the side of a square
crop, in pixels of the frame (the 1024 crop for the model); it covers pixels
``x0 .. x0 + size - 1``. Boxes may reach outside the frame (crops are zero-padded there).

Sizes at the 1024 scale: face 128, arms 256, legs 512 (scaled with the frame for other
sizes). Each box is centred on the middle of the bounding box of its part's projected points:

- arms: shoulder, elbow, wrist and hand joints (SMPL 16/18/20/22 left, 17/19/21/23 right);
- legs: hip, knee, ankle and foot joints (1/4/7/10 left, 2/5/8/11 right);
- face: the projected vertices of the head part (label 1), since SMPL's head joint (15)
  sits at the skull's base, about a face's half-height below the face's centre.
"""

from __future__ import annotations

import numpy as np

#: The layer parts in ``hpt_model``'s order, and the parsing label each one covers.
LAYERS: tuple[str, ...] = ("face", "left_arm", "right_arm", "left_leg", "right_leg")
LAYER_LABEL: dict[str, int] = {
    "face": 1,
    "left_arm": 3,
    "right_arm": 4,
    "left_leg": 5,
    "right_leg": 6,
}
#: Box side in pixels of the 1024 frame.
LAYER_BOX_1024: dict[str, int] = {
    "face": 128,
    "left_arm": 256,
    "right_arm": 256,
    "left_leg": 512,
    "right_leg": 512,
}
#: SMPL joints whose projections centre each limb's box.
LAYER_JOINTS: dict[str, tuple[int, ...]] = {
    "left_arm": (16, 18, 20, 22),
    "right_arm": (17, 19, 21, 23),
    "left_leg": (1, 4, 7, 10),
    "right_leg": (2, 5, 8, 11),
}


def box_size(layer: str, frame_size: int = 1024) -> int:
    """Side of ``layer``'s box in a ``frame_size`` frame (at least 1 pixel)."""
    if layer not in LAYER_BOX_1024:
        raise ValueError(f"unknown layer {layer!r}; expected one of {LAYERS}")
    if frame_size <= 0:
        raise ValueError(f"frame_size must be positive, got {frame_size}")
    return max(1, round(LAYER_BOX_1024[layer] * frame_size / 1024))


def centred_box(points2d: np.ndarray, size: int) -> np.ndarray:
    """The ``[x0, y0, size]`` box centred on the middle of the points' bounding box.

    Parameters
    ----------
    points2d : (N, 2) float
        Pixel coordinates (pixel centres at integers); non-finite rows are ignored.
    size : int

    Returns
    -------
    (3,) int64

    Raises
    ------
    ValueError
        If no point is finite or ``size`` is not positive.
    """
    pts = np.asarray(points2d, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if pts.size == 0:
        raise ValueError("no finite point to centre the box on")
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    centre = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    # a box of side n starting at x0 has its centre at x0 + (n - 1) / 2
    corner = np.floor(centre - (size - 1) / 2.0 + 0.5).astype(np.int64)
    return np.array([corner[0], corner[1], size], dtype=np.int64)


def part_boxes(
    joints2d: np.ndarray,
    vertices2d: np.ndarray,
    vertex_labels: np.ndarray,
    frame_size: int = 1024,
) -> dict[str, np.ndarray]:
    """The five layer boxes of one frame.

    Parameters
    ----------
    joints2d : (24, 2) float
        Projected SMPL joints, pixels of the ``frame_size`` frame.
    vertices2d : (V, 2) float
        Projected vertices, same frame.
    vertex_labels : (V,) int
        Part label per vertex (1 = head).

    Returns
    -------
    dict
        Layer name → (3,) int64 ``[x0, y0, size]``.
    """
    j = np.asarray(joints2d, dtype=np.float64)
    if j.shape != (24, 2):
        raise ValueError(f"joints2d must have shape (24, 2), got {j.shape}")
    v = np.asarray(vertices2d, dtype=np.float64)
    lab = np.asarray(vertex_labels)
    if v.ndim != 2 or v.shape[1] != 2 or lab.shape != (v.shape[0],):
        raise ValueError(f"expected vertices2d (V, 2) and labels (V,), got {v.shape}, {lab.shape}")
    boxes = {"face": centred_box(v[lab == LAYER_LABEL["face"]], box_size("face", frame_size))}
    for layer, idx in LAYER_JOINTS.items():
        boxes[layer] = centred_box(j[list(idx)], box_size(layer, frame_size))
    return {name: boxes[name] for name in LAYERS}
