"""Keypoints a dataset ships with its photos, used by ``pose2d`` as a prior on MediaPipe.

DeepFashion's annotation CSVs (``hpt_data.sources.deepfashion``) give 18 OpenPose COCO-18
points per photo, ``-1`` where a point is missing; the source puts them in the record's
``meta["openpose18"]`` (``xy`` in pixels of an ``image_size`` photo, 176x256 for PATN's
crops). A one-frame video's prior is for frame 0. ``pose2d`` compares them with what
MediaPipe finds in the crop, per frame:

- Pose found nobody: the prior's points become the frame's landmarks (``from_prior``);
- Pose found someone else, or the same person badly: the median distance between its
  landmarks and the prior's shared points (those Pose sees with visibility >= 0.5) is over
  ``prior_max_error`` of the crop side, or no shared point is seen: the prior replaces
  the detection (``replaced``);
- Pose agrees: each shared point Pose sees below visibility 0.5 takes the prior's position
  (``filled``); the others stay Pose's (``kept``).

Landmarks made from the prior have visibility and presence 1 at the 17 MediaPipe points a
COCO-18 point maps to (the neck has none) and 0 elsewhere (mouth, hands, heels, toes), z 0.
A record without a prior, or one with fewer than ``prior_min_points`` present, is left as
Pose found it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from hpt_data.keypoints import COCO18_FROM_MEDIAPIPE

PRIOR_KEY = "openpose18"  # the record meta key the prior rides in
#: (COCO-18 index, MediaPipe index) of the points the two share (COCO-18's neck is a mean)
SHARED: tuple[tuple[int, int], ...] = tuple(
    (k, src[0]) for k, src in enumerate(COCO18_FROM_MEDIAPIPE) if len(src) == 1
)
SEEN = 0.5  # a MediaPipe landmark with visibility below this is one Pose missed

Action = Literal["kept", "filled", "replaced", "from_prior"]


def prior_points(
    meta: Mapping[str, Any], frame_index: int, source_size: tuple[int, int] | list[int]
) -> np.ndarray | None:
    """The prior of one frame as (18, 3) float: x, y in the frame's source pixels and 1 where
    the point is present (0, with x = y = 0, where it is missing); None when the record carries
    none for that frame (no ``openpose18``, or not frame 0 of a one-photo record)."""
    entry = meta.get(PRIOR_KEY)
    if not entry or frame_index != 0:
        return None
    xy = np.asarray(entry["xy"], np.float64).reshape(18, 2)
    aw, ah = entry.get("image_size") or source_size
    sw, sh = source_size
    present = (xy >= 0).all(axis=1)
    out = np.zeros((18, 3))
    out[present, :2] = xy[present] * [sw / aw, sh / ah]  # annotation pixels -> this photo's
    out[present, 2] = 1.0
    return out


def from_prior(prior: np.ndarray) -> np.ndarray:
    """(33, 5) MediaPipe landmarks (x, y, z, visibility, presence) made from an (18, 3)
    prior in the same pixel frame: the shared points present, everything else 0."""
    out = np.zeros((33, 5))
    for k, m in SHARED:
        if prior[k, 2] > 0:
            out[m, :2] = prior[k, :2]
            out[m, 3:] = 1.0
    return out


def apply_prior(
    landmarks: np.ndarray | None,
    prior: np.ndarray,
    side: float,
    max_error: float,
    min_points: int,
) -> tuple[np.ndarray | None, Action | None]:
    """Pose's (33, 5) ``landmarks`` (None: nobody found) after the prior (18, 3), both in
    crop pixels of a crop ``side`` pixels wide, and what was done (module docstring); the
    landmarks unchanged and None when the prior has fewer than ``min_points`` points."""
    if int(prior[:, 2].sum()) < min_points:
        return landmarks, None
    if landmarks is None:
        return from_prior(prior), "from_prior"
    shared = [(k, m) for k, m in SHARED if prior[k, 2] > 0]
    seen = [(k, m) for k, m in shared if landmarks[m, 3] >= SEEN]
    if not seen:
        return from_prior(prior), "replaced"
    gaps = [np.linalg.norm(landmarks[m, :2] - prior[k, :2]) for k, m in seen]
    if float(np.median(gaps)) > max_error * side:
        return from_prior(prior), "replaced"
    out = landmarks.copy()
    missed = [(k, m) for k, m in shared if landmarks[m, 3] < SEEN]
    for k, m in missed:
        out[m, :2] = prior[k, :2]
        out[m, 3:] = 1.0
    return out, ("filled" if missed else "kept")
