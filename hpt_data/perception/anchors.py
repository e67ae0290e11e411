"""SSD anchors, box decoding and weighted non-maximum suppression of MediaPipe's BlazePose
person detector (``mediapipe/modules/pose_detection/pose_detection.tflite``).

The model emits one row per anchor in a fixed order, so the anchor layout is a property of
the file, not a setting. The values below are the options of ``SsdAnchorsCalculator``,
``TensorsToDetectionsCalculator`` and ``NonMaxSuppressionCalculator`` in MediaPipe's
``pose_detection_cpu.pbtxt``: 5 layers, strides 8, 16, 32, 32, 32 over a 224×224 input,
anchor offset 0.5, one aspect ratio (1.0) plus the interpolated one (default 1.0, so two
anchors per cell and layer), fixed anchor size (every anchor's width and height is 1);
12 values per anchor (box x, y, w, h then 4 keypoints' x, y, scaled by 224), a sigmoid score
with raw values clipped to ±100; weighted NMS at IoU 0.3. Layers of equal stride share one
feature map: 28²·2 + 14²·2 + 7²·6 = 2254 anchors, the model's row count.

The detector's box is the *face* (BlazePose is trained with a face box as its proxy); its
keypoints are 0 the mid-hip point, 1 a point on the circle round the whole body, 2 the
mid-shoulder point, 3 a point on the circle round the upper body. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUT_SIZE = 224
NUM_LAYERS = 5
STRIDES = (8, 16, 32, 32, 32)
ANCHOR_OFFSET = 0.5
NUM_KEYPOINTS = 4
SCORE_CLIP = 100.0
NMS_IOU = 0.3


def ssd_anchors(
    input_size: int = INPUT_SIZE,
    strides: tuple[int, ...] = STRIDES,
    anchors_per_layer: int = 2,
    offset: float = ANCHOR_OFFSET,
) -> np.ndarray:
    """Anchor centres as MediaPipe's ``SsdAnchorsCalculator`` lays them out with
    ``fixed_anchor_size: true`` (sizes are all 1, so only centres are kept).

    Consecutive layers with the same stride are merged: each cell of that feature map gets
    ``anchors_per_layer`` anchors per layer, in row-major cell order.

    Returns
    -------
    (N, 2) float64, x and y centres in [0, 1] of the model input
    """
    out: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = anchors_per_layer * (last - layer)
        side = int(np.ceil(input_size / strides[layer]))
        ys, xs = np.mgrid[0:side, 0:side]
        centres = np.stack([(xs + offset) / side, (ys + offset) / side], axis=-1).reshape(-1, 2)
        out.append(np.repeat(centres, per_cell, axis=0))
        layer = last
    return np.concatenate(out, axis=0)


ANCHORS = ssd_anchors()


@dataclass(frozen=True)
class Detections:
    """Decoded detections in normalised coordinates of the model input (letterboxed).

    scores (N,); boxes (N, 4) as x0, y0, x1, y1 (the face box); keypoints (N, 4, 2).
    """

    scores: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray) -> Detections:
        return Detections(self.scores[index], self.boxes[index], self.keypoints[index])


def decode(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    min_score: float,
    anchors: np.ndarray = ANCHORS,
    scale: float = float(INPUT_SIZE),
) -> Detections:
    """The model's two outputs to detections scoring at least ``min_score``.

    Parameters
    ----------
    raw_boxes : (N, 12) or (1, N, 12) float; raw_scores : (N,), (N, 1) or (1, N, 1) logits
    min_score : keep detections whose sigmoid score is at least this
    anchors : (N, 2) anchor centres (see :func:`ssd_anchors`)

    Raises
    ------
    ValueError
        When the outputs do not have one row per anchor.
    """
    boxes = np.asarray(raw_boxes, dtype=np.float64).reshape(-1, 4 + 2 * NUM_KEYPOINTS)
    logits = np.asarray(raw_scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(anchors) or len(logits) != len(anchors):
        raise ValueError(
            f"detector output has {len(boxes)} boxes and {len(logits)} scores, "
            f"the anchors {len(anchors)}"
        )
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -SCORE_CLIP, SCORE_CLIP)))
    keep = np.flatnonzero(scores >= min_score)
    b, a = boxes[keep] / scale, anchors[keep]
    cx, cy = b[:, 0] + a[:, 0], b[:, 1] + a[:, 1]
    half_w, half_h = b[:, 2] / 2, b[:, 3] / 2
    xyxy = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    kps = b[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + a[:, None, :]
    return Detections(scores[keep], xyxy, kps)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) x0, y0, x1, y1 box with each of (N, 4) boxes: (N,)."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def weighted_nms(dets: Detections, iou: float = NMS_IOU) -> Detections:
    """MediaPipe's ``WEIGHTED`` non-maximum suppression.

    In order of score, each remaining detection takes every other one overlapping it by
    more than ``iou`` (box IoU) and becomes their score-weighted mean box and keypoints,
    keeping its own score. Returns the merged detections, best first.
    """
    order = np.argsort(-dets.scores, kind="stable")
    remaining = order
    scores, boxes, kps = [], [], []
    while len(remaining):
        top = remaining[0]
        overlap = box_iou(dets.boxes[top], dets.boxes[remaining]) > iou
        overlap[0] = True
        group = remaining[overlap]
        w = dets.scores[group]
        w = w / w.sum()
        scores.append(dets.scores[top])
        boxes.append((dets.boxes[group] * w[:, None]).sum(axis=0))
        kps.append((dets.keypoints[group] * w[:, None, None]).sum(axis=0))
        remaining = remaining[~overlap]
    if not scores:
        return dets
    return Detections(np.array(scores), np.array(boxes), np.array(kps))


#: ``PoseDetectionToRoi``: the region's side is this times the body circle's diameter.
ROI_SCALE = 1.25


def detection_rois(keypoints: np.ndarray) -> np.ndarray:
    """``PoseDetectionToRoi`` for (N, 4, 2) detector keypoints in frame pixels.

    Returns (N, 5): centre x, y, side, rotation (radians; the image is turned by it so
    that the body stands upright) and the body-circle radius.
    """
    hip, circle = keypoints[:, 0], keypoints[:, 1]
    d = circle - hip
    radius = np.hypot(d[:, 0], d[:, 1])
    rotation = np.pi / 2 - np.arctan2(-d[:, 1], d[:, 0])
    rotation = (rotation + np.pi) % (2 * np.pi) - np.pi
    side = 2.0 * radius * ROI_SCALE
    return np.stack([hip[:, 0], hip[:, 1], side, rotation, radius], axis=1)
