"""Shard landmarks (MediaPipe's 33 at the 1024 crop) as OpenPose COCO-18 points in the
256×176 frame of the pose-transfer datasets.

DeepFashion's pose-transfer images are the In-shop 256×256 photos with 40 columns cut off
each side (Pose-Transfer ``tool/generate_fashion_datasets.py``: ``img.crop((40, 0, 216,
256))``), and their keypoints live in that 176-wide frame (``tool/resize_fashion.py``).
The shard crop is square like the In-shop photo, so it is taken the same way: 1024 → 256,
then columns 40..215 (``PATN_CROP``).

Order: OpenPose's COCO_18 (``hpt_data.keypoints.COCO_18``; the neck is the shoulders'
mean). Pose-Transfer's ``LABELS`` list names 14..17 ``Leye, Reye, Lear, Rear``, but its
own ``LIMB_SEQ`` joins point 16 to the right shoulder (2) and 17 to the left (5): the
points are OpenPose's REye, LEye, REar, LEar, as written here.

A point is missing (−1, the formats' ``MISSING_VALUE``) when its MediaPipe visibility (the
smaller one, for the neck) is below ``MIN_VISIBILITY`` or it falls outside the 176×256 crop.
"""

from __future__ import annotations

import numpy as np

from hpt_data.keypoints import mediapipe_to_coco18
from hpt_data.shards.schema import CROP

MIN_VISIBILITY = 0.5  # as pose_distance and the preview drawings use it
MISSING = -1
SIDE = 256  # the In-shop photo's side
PATN_CROP = 40  # columns cut off each side of the 256 photo
PATN_SIZE = (256, 176)  # (height, width)


def coco18_patn(landmarks: np.ndarray, min_visibility: float = MIN_VISIBILITY) -> np.ndarray:
    """(18, 2) float (x, y) in the 256×176 frame, ``MISSING`` for both of a missing point.

    Parameters
    ----------
    landmarks : (33, 3) float, the shard's ``landmarks``: x, y in 1024-crop pixels (integer
        centres), visibility
    """
    pts = mediapipe_to_coco18(landmarks[:, :2], landmarks[:, 2])
    scale = SIDE / CROP
    x = (pts[:, 0] + 0.5) * scale - 0.5 - PATN_CROP  # pixel centres stay pixel centres
    y = (pts[:, 1] + 0.5) * scale - 0.5
    h, w = PATN_SIZE
    inside = (x > -0.5) & (x < w - 0.5) & (y > -0.5) & (y < h - 0.5)
    ok = inside & (pts[:, 2] >= min_visibility)
    out = np.stack([x, y], axis=1)
    out[~ok] = MISSING
    return out
