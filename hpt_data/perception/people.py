"""Find every person in a frame, offline: MediaPipe's BlazePose detector, then the Pose
landmark model on each person's region, both run directly by a TFLite interpreter.

The Pose solution of ``mediapipe==0.10.21`` runs the same two models but keeps one person;
the Tasks API (which can keep several) refuses the wheel's ``.tflite`` files for want of
normalisation metadata. So the wheel's files are run here by LiteRT (``ai-edge-litert``;
``tflite-runtime`` is taken where it is installed instead), with the steps of MediaPipe's
graphs written out (``docs/perception.md``, "Several people"):

1. letterbox the frame into 224×224 (aspect kept, black bars), values in [-1, 1];
2. decode the 2254 anchors, sigmoid scores ≥ ``min_score``, weighted NMS
   (:mod:`hpt_data.perception.anchors`), undo the letterbox;
3. per detection, the region MediaPipe's ``PoseDetectionToRoi`` builds: centred on the
   mid-hip keypoint, side 2.5 × its distance to the body-circle keypoint, rotated so the
   hip→circle direction points up;
4. the landmark model on that region (256×256, values in [0, 1]): 33 landmarks (x, y, z,
   visibility, presence) mapped back to the frame, and a pose-presence score; a region
   whose score is below ``min_presence`` is dropped (the detector's false alarms mostly
   end there);
5. people whose landmark boxes overlap by more than ``max_overlap`` IoU are one person
   (two detections of the same body): the better scoring one is kept;
6. the detector's scores compete (beside someone it is sure of, a second person scores
   low): the squares of the frame that hold no one found are looked at again.

Coordinates are pixels of the given frame with its corners at (0, 0) and (W, H) (the
convention of :mod:`hpt_data.stages.mediapipe_models`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from hpt_data.perception.anchors import (
    INPUT_SIZE,
    Detections,
    box_iou,
    decode,
    detection_rois,
    weighted_nms,
)
from hpt_data.perception.heatmap import LANDMARK_SIZE, MIRROR_ORDER, refine_from_heatmap
from hpt_data.perception.heatmap import sigmoid as _sigmoid
from hpt_data.perception.tflite import PerceptionModelError as PerceptionModelError
from hpt_data.perception.tflite import TfliteModel as TfliteModel
from hpt_data.perception.tflite import mediapipe_model_path as mediapipe_model_path
from hpt_data.perception.views import TILE_MIN_IN_FRAME, combine, free_squares, in_frame, tiles
from hpt_data.perception.views import covered as _covered
from hpt_data.perception.warp import warp_part

NUM_LANDMARKS = 33
#: Zooms of remove-bg's tile rescans (``rescan_every``): 2 finds people in profile and half
#: hidden, 3 small ones far behind, 4 some missed at 3 (147 px of 640; ``follow.tile_look``).
RESCAN_ZOOM = (2.0, 3.0, 4.0)


@dataclass(frozen=True)
class PersonDetection:
    """One person in a frame.

    Attributes
    ----------
    box : (4,) float64, x0, y0, x1, y1 in frame pixels: the box of the 33 landmarks (the
        whole body, also where parts are hidden or beyond the frame edge)
    score : the detector's score in [0, 1]
    presence : the landmark model's pose-presence score in [0, 1]
    landmarks : (33, 5) float64, x, y, z (pixels), visibility, presence, as
        :func:`hpt_data.stages.mediapipe_models.run_pose` gives them
    roi : (5,) float64, the landmark region: centre x, y, side (pixels), rotation (radians)
        and the detector's body-circle radius (pixels)
    segmentation : (256, 256) float32 in [0, 1], the landmark model's own person mask over
        ``roi`` (with ``masks=True``; :func:`person_matte` puts it in the frame), else None
    next_roi : (5,) float64, the region the landmarks themselves give (their alignment
        points, as MediaPipe's tracking uses for the next frame), or None
    world : (33, 4) float64, the same look's world landmarks (:class:`RoiLandmarks`), or
        None (read back from ``people.npz``; :func:`~hpt_data.perception.follow.with_masks`
        looks again)
    """

    box: np.ndarray
    score: float
    presence: float
    landmarks: np.ndarray
    roi: np.ndarray
    segmentation: np.ndarray | None = None
    next_roi: np.ndarray | None = None
    world: np.ndarray | None = None


DETECTOR = "modules/pose_detection/pose_detection.tflite"
LANDMARKER = "modules/pose_landmark/pose_landmark_full.tflite"
#: The landmark model's output holding the person mask (the costliest head; see
#: :func:`landmarks_in_roi`).
MASK_OUTPUT = "Identity_2"


@functools.cache
def detector_model(path: str | None = None) -> TfliteModel:
    """The person detector, loaded once per process (default: the mediapipe wheel's)."""
    return TfliteModel(Path(path) if path else mediapipe_model_path(DETECTOR), (1, 224, 224, 3))


@functools.cache
def landmark_model(path: str | None = None) -> TfliteModel:
    """The full Pose landmark model, loaded once per process."""
    p = Path(path) if path else mediapipe_model_path(LANDMARKER)
    return TfliteModel(p, (1, LANDMARK_SIZE, LANDMARK_SIZE, 3))


def letterbox(
    rgb: np.ndarray, size: int = INPUT_SIZE, bgr: bool = False
) -> tuple[np.ndarray, float, np.ndarray]:
    """Fit an (H, W, 3) uint8 image into ``size``² with black bars, as float in [-1, 1]
    (RGB; from a BGR image with ``bgr``: the channels of the small image swapped).

    Returns the (1, size, size, 3) tensor, the scale (tensor pixels per image pixel) and
    the (2,) offset of the image in the tensor, so ``image = (tensor - offset) / scale``.
    """
    import cv2

    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((size, size, 3), np.uint8)
    ox, oy = (size - nw) // 2, (size - nh) // 2
    canvas[oy : oy + nh, ox : ox + nw] = (
        cv2.cvtColor(resized, cv2.COLOR_BGR2RGB) if bgr else resized
    )
    tensor = canvas.astype(np.float32) / 127.5 - 1.0
    return tensor[None], scale, np.array([ox, oy], np.float64)


def roi_matrix(roi: np.ndarray, size: int = LANDMARK_SIZE) -> np.ndarray:
    """(2, 3) affine map from crop pixels (corners at 0 and ``size``) to frame pixels."""
    cx, cy, side, rot = roi[:4]
    s = side / size
    c, n = np.cos(rot) * s, np.sin(rot) * s
    lin = np.array([[c, -n], [n, c]])
    off = np.array([cx, cy]) - lin @ np.array([size / 2, size / 2])
    return np.concatenate([lin, off[:, None]], axis=1)


#: Sample the region as MediaPipe's ``ImageToTensorCalculator`` does (True): its warp maps
#: the region's corners to the tensor's pixel indices 0 and 256, which puts each tensor
#: pixel half a step (of the region's pixels, about 2 frame pixels for a standing person
#: at 1024) from the pixel centres; the model, trained behind that warp, places its points
#: accordingly (Pose's own points on the same crops differ from centre sampling's by that
#: half step). False: pixel centre to pixel centre.
MEDIAPIPE_SAMPLING = True


def _sampling(roi: np.ndarray) -> np.ndarray:
    """(2, 3) warpAffine map from tensor pixel indices to frame pixel indices (the
    region's sampling; see :data:`MEDIAPIPE_SAMPLING`)."""
    m = roi_matrix(roi)
    if MEDIAPIPE_SAMPLING:
        return m
    # dst index u sits at u + 0.5, src at index + 0.5
    shift = m[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return np.concatenate([m[:, :2], (m[:, 2] + shift)[:, None]], axis=1)


def _crop(rgb: np.ndarray, roi: np.ndarray, bgr: bool = False) -> np.ndarray:
    """The rotated square region as a (1, 256, 256, 3) float tensor in [0, 1] (RGB; from
    a BGR image with ``bgr``: the warp takes each channel alone, so the region's channels
    are swapped instead of the whole image's)."""
    import cv2

    crop = cv2.warpAffine(
        rgb,
        _sampling(roi),
        (LANDMARK_SIZE, LANDMARK_SIZE),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if bgr:  # a contiguous copy: numpy converts the reversed view ten times slower
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
    return (crop.astype(np.float32) / 255.0)[None]


class RoiLandmarks(NamedTuple):
    """The landmark model's answer on one region (:func:`landmarks_in_roi`)."""

    landmarks: np.ndarray  # (33, 5) x, y, z in frame pixels, visibility, presence
    presence: float  # pose presence, a probability
    mask: np.ndarray | None  # (256, 256) float32 person mask over the region, or None
    next_roi: np.ndarray  # (5,) the region the landmarks' alignment points give
    world: np.ndarray  # (33, 4) x, y, z metres about the hips' centre (image axes), visibility


def landmarks_in_roi(
    rgb: np.ndarray,
    roi: np.ndarray,
    model: TfliteModel,
    mask: bool = False,
    bgr: bool = False,
    mirror: bool = False,
) -> RoiLandmarks:
    """Run the landmark model on one region of ``rgb`` ((H, W, 3) uint8; BGR with ``bgr``)
    (the person mask only with ``mask``). The
    world points are turned by the region's rotation into the image's axes, with the
    image landmarks' visibility, as MediaPipe's graph does for ``pose_world_landmarks``.

    ``mirror``: the model looks at the region's mirror image (the image flipped left to
    right, the region with it) and its answer is flipped back, the person's left and right
    swapped: the same landmarks seen once more, with other pixels and another sub-pixel
    phase of the sampling, and MediaPipe's sampling offset (:data:`MEDIAPIPE_SAMPLING`)
    the other way in x (remove-bg's crop pass averages the two: ``mirror_pass``)."""
    if mirror and mask:
        raise ValueError("landmarks_in_roi: no person mask from a mirrored look")
    width = rgb.shape[1]
    if mirror:  # the flipped image (a copy: OpenCV's warp of the image itself with a
        # flipping map rounds otherwise, up to 2 grey levels) and the region in it
        import cv2

        rgb = cv2.flip(rgb, 1)
        roi = np.array(roi, np.float64)
        roi[0], roi[3] = width - roi[0], -roi[3]
    # Identity (1, 195): 39 points x (x, y, z, visibility, presence logits) in crop pixels
    # (33 landmarks, then alignment points: 33 hip centre, 34 body-circle point);
    # Identity_1 (1, 1): pose presence, a probability; Identity_2 (1, 256, 256, 1): the
    # person mask's logits over the region; Identity_3 (1, 64, 64, 39): the points'
    # heatmap logits (refine_from_heatmap); Identity_4 (1, 117): 39 world points, metres.
    # Without ``mask`` the model runs without the mask's decoder (TfliteModel.without:
    # the other outputs the same to the bit, a third of the time saved).
    out = (model if mask else model.without(MASK_OUTPUT)).run_named(_crop(rgb, roi, bgr))
    raw = out["Identity"].reshape(39, 5).astype(np.float64)
    heatmap = out["Identity_3"]
    raw[:, :2] = refine_from_heatmap(raw[:, :2], heatmap.reshape(heatmap.shape[-3:]))
    presence = float(np.clip(out["Identity_1"].reshape(-1)[0], 0.0, 1.0))
    m = roi_matrix(roi)
    xy = raw[:, :2] @ m[:, :2].T + m[:, 2]
    z = raw[:NUM_LANDMARKS, 2] * roi[2] / LANDMARK_SIZE
    lms = np.column_stack(
        [xy[:NUM_LANDMARKS], z, _sigmoid(raw[:NUM_LANDMARKS, 3]), _sigmoid(raw[:NUM_LANDMARKS, 4])]
    )
    seg = None
    if mask:
        seg = _sigmoid(out[MASK_OUTPUT].reshape(LANDMARK_SIZE, LANDMARK_SIZE)).astype(np.float32)
    world = out["Identity_4"].reshape(39, 3)[:NUM_LANDMARKS].astype(np.float64)
    world[:, :2] = world[:, :2] @ (m[:, :2] / (roi[2] / LANDMARK_SIZE)).T  # rotation only
    world = np.column_stack([world, lms[:, 3]])
    if mirror:  # back into the image as it is: x flipped, left and right swapped
        xy[:, 0] = width - xy[:, 0]
        lms, world = lms[MIRROR_ORDER[:NUM_LANDMARKS]], world[MIRROR_ORDER[:NUM_LANDMARKS]]
        lms[:, 0], world[:, 0] = width - lms[:, 0], -world[:, 0]
    return RoiLandmarks(lms, presence, seg, detection_rois(xy[None, 33:35])[0], world)


def region_window(person: PersonDetection, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the bounding window in a ``width`` × ``height`` frame of the
    person's rotated region, clipped to the frame (their mask is 0 outside it; empty
    when the region lies outside the frame)."""
    m = roi_matrix(person.roi)
    corners = np.array([[0, 0], [LANDMARK_SIZE, 0], [0, LANDMARK_SIZE], [LANDMARK_SIZE] * 2])
    pts = corners @ m[:, :2].T + m[:, 2]
    x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 1, [width, height])
    return int(x0), int(y0), int(max(x1, x0)), int(max(y1, y0))


def person_matte(
    person: PersonDetection,
    width: int,
    height: int,
    window: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """The person's mask from the landmark model ((256, 256) over their rotated region)
    in frame pixels: (height, width) float32 in [0, 1], 0 outside the region; with
    ``window`` (x0, y0, x1, y1) only that part of the frame, (y1 - y0, x1 - x0): the same
    values for :func:`region_window`'s (a window cutting the region may differ by
    OpenCV's interpolation steps)."""
    import cv2

    wx0, wy0, wx1, wy1 = window if window is not None else (0, 0, width, height)
    out = np.zeros((wy1 - wy0, wx1 - wx0), np.float32)
    if person.segmentation is None:
        raise ValueError("person_matte needs a detection found with masks=True")
    x0, y0, x1, y1 = region_window(person, width, height)
    x0, y0, x1, y1 = max(x0, wx0), max(y0, wy0), min(x1, wx1), min(y1, wy1)
    if x1 <= x0 or y1 <= y0:
        return out
    fwd = _sampling(person.roi)  # each mask pixel goes where its input pixel came from
    fwd[:, 2] -= (x0, y0)  # warp only the region's bounding window of the frame
    out[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0] = cv2.warpAffine(
        person.segmentation,
        fwd,
        (int(x1 - x0), int(y1 - y0)),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    return out


def mask_reach(
    person: PersonDetection, width: int, height: int, level: float = 0.5, pad: int = 3
) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the part of :func:`region_window` outside which the person's
    matte stays below ``level``, widened by ``pad`` pixels (empty when the mask reaches
    ``level`` nowhere). Why: the region's window is mostly background (a standing person
    fills a third of their square region), and the mask's warp into it is a frame's
    costliest step after the models. A bilinear sample reaches ``level`` only within one
    tensor pixel of one that does: the bound is those pixels' box, one wider, mapped."""
    import cv2

    if person.segmentation is None:
        raise ValueError("mask_reach needs a detection found with masks=True")
    rx0, ry0, rx1, ry1 = region_window(person, width, height)
    u, v, du, dv = cv2.boundingRect((person.segmentation >= level).view(np.uint8))
    if du == 0:
        return rx0, ry0, rx0, ry0
    corners = np.array([[u - 1, v - 1], [u + du, v - 1], [u - 1, v + dv], [u + du, v + dv]])
    fwd = _sampling(person.roi)
    pts = corners @ fwd[:, :2].T + fwd[:, 2]
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 1 + pad
    x0, y0, x1, y1 = max(x0, rx0), max(y0, ry0), min(x1, rx1), min(y1, ry1)
    return int(x0), int(y0), int(max(x1, x0)), int(max(y1, y0))


def region_matte_part(
    person: PersonDetection, width: int, height: int, part: tuple[int, int, int, int]
) -> np.ndarray:
    """:func:`person_matte` in :func:`region_window`'s window, on ``part`` (x0, y0, x1,
    y1) of the frame inside that window: (y1 - y0, x1 - x0) float32, the same values to
    the bit (:func:`~hpt_data.perception.warp.warp_part`) at the cost of the part alone
    (:func:`person_matte` with a smaller window moves OpenCV's sampling grid)."""
    if person.segmentation is None:
        raise ValueError("region_matte_part needs a detection found with masks=True")
    rx0, ry0, rx1, ry1 = region_window(person, width, height)
    x0, y0, x1, y1 = part
    if not (rx0 <= x0 <= x1 <= rx1 and ry0 <= y0 <= y1 <= ry1):
        raise ValueError(f"region_matte_part: {part} is not inside the region's window")
    fwd = _sampling(person.roi)
    fwd[:, 2] -= (rx0, ry0)  # as person_matte warps the region's window
    return warp_part(person.segmentation, fwd, (x0 - rx0, y0 - ry0, x1 - rx0, y1 - ry0))


#: A tile's person looked at (frame, region, face box, people so far): ``follow.tile_look``
TileLook = Callable[[np.ndarray, np.ndarray, np.ndarray, list], PersonDetection | None]


@dataclass(frozen=True)
class PeopleOptions:
    """Thresholds of :func:`find_people` (chosen on people_detection.py's dev seeds)."""

    min_score: float = 0.5  # detector score (MediaPipe's own threshold)
    min_presence: float = 0.5  # landmark model's pose presence
    max_overlap: float = 0.6  # landmark-box IoU above which two people are one
    max_people: int = 8  # the landmark model runs at most this many times per frame
    zoom: tuple[float, ...] = ()  # also detect on overlapping tiles of 1/zoom the longer side
    free_views: bool = True  # also detect on the squares holding no one found (free_squares)
    bgr: bool = False  # frames in OpenCV's BGR order (the models' inputs swapped, not the frame)


def find_people(
    rgb: np.ndarray,
    options: PeopleOptions | None = None,
    landmarks: bool = True,
    masks: bool = False,
    tile_look: TileLook | None = None,
) -> list[PersonDetection]:
    """Every person in an (H, W, 3) uint8 RGB frame (BGR with ``options.bgr``), best score
    first.

    With ``landmarks=False`` only the detector runs: boxes are the region squares, the
    presence is the score and the landmarks are empty (0, 5). With ``masks`` each person
    also carries the landmark model's person mask (:func:`person_matte`). ``tile_look``:
    how a zoomed tile's person is looked at (:data:`TileLook`), after the whole frame's.
    With ``free_views`` (and landmarks), once someone is found the detector also runs on
    the squares of the frame's shorter side that hold none of them
    (:func:`~hpt_data.perception.views.free_squares`), their people held to the tile rules.
    """
    opts = options or PeopleOptions()
    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {img.shape} {img.dtype}")
    views = tiles(img, opts.zoom)
    found = [_detect(img, *view, opts.min_score, opts.bgr) for view in views]
    dets = combine(found[0], found[1:], views[1:])
    look = functools.partial(
        _look, img, opts=opts, landmarks=landmarks, masks=masks, tile=tile_look
    )
    first = min(len(dets), opts.max_people)  # the landmark model's runs on these
    people = look(dets, len(found[0]), [], first)  # dets[:whole]: the whole frame's, then tiles'
    if not (people and landmarks and opts.free_views and first < opts.max_people):
        return _merge_same_person(people, opts.max_overlap)
    # the detector's scores compete: beside someone it is sure of, a second person often
    # scores below any threshold; the frame's squares that hold none of the people found
    # are looked at again (tiles that are not among the views already run)
    h, w = img.shape[:2]
    free = [v for v in free_squares(w, h, [p.box for p in people]) if v not in views]
    if free:
        more = combine(dets, [_detect(img, *v, opts.min_score, opts.bgr) for v in free], free)
        people = look(
            more.take(np.arange(len(dets), len(more))), 0, people, opts.max_people - first
        )
    return _merge_same_person(people, opts.max_overlap)


def _look(
    img: np.ndarray,
    dets: Detections,
    whole: int,
    people: list[PersonDetection],
    runs: int,
    opts: PeopleOptions,
    landmarks: bool,
    masks: bool,
    tile: TileLook | None,
) -> list[PersonDetection]:
    """``people`` and the people of the first ``runs`` of ``dets`` (one landmark look each;
    the first ``whole`` the whole frame's, the others a tile's, held to the tile rules)."""
    people = list(people)
    dets = dets.take(np.arange(min(len(dets), max(runs, 0))))
    for i, roi in enumerate(detection_rois(dets.keypoints) if len(dets) else []):
        score = float(dets.scores[i])
        if not landmarks:
            half = roi[2] / 2
            box = np.array([roi[0] - half, roi[1] - half, roi[0] + half, roi[1] + half])
            people.append(PersonDetection(box, score, score, np.zeros((0, 5)), roi))
            continue
        if i >= whole and tile is not None:
            if i == whole:  # the whole frame's people, as the tile's look paints them
                people = _merge_same_person(people, opts.max_overlap)
            person = tile(img, roi, dets.boxes[i], people)
            if person is None or _known(person.box, people, opts.max_overlap):
                continue
        else:
            lms, presence, seg, nxt, world = landmarks_in_roi(
                img, roi, landmark_model(), masks, opts.bgr
            )
            if presence < opts.min_presence:
                continue
            box = np.concatenate([lms[:, :2].min(axis=0), lms[:, :2].max(axis=0)])
            person = PersonDetection(box, score, presence, lms, roi, seg, nxt, world)
        if i >= whole and (
            _covered(person.box, [p.box for p in people])
            or in_frame(person.box, img.shape[1], img.shape[0]) < TILE_MIN_IN_FRAME
        ):
            continue
        people.append(person)
    return people


def _detect(
    image: np.ndarray, x0: int, y0: int, side: int, min_score: float, bgr: bool = False
) -> Detections:
    """The detector on ``image[y0:y0+side, x0:x0+side]`` (BGR with ``bgr``): detections in
    frame pixels."""
    view = image[y0 : y0 + side, x0 : x0 + side]
    tensor, scale, offset = letterbox(view, bgr=bgr)
    raw = sorted(detector_model().run(tensor), key=lambda a: a.shape[-1], reverse=True)
    d = weighted_nms(decode(raw[0], raw[1], min_score))
    origin = np.array([x0, y0], np.float64)
    kps = (d.keypoints * INPUT_SIZE - offset) / scale + origin
    boxes = (d.boxes.reshape(-1, 2, 2) * INPUT_SIZE - offset) / scale + origin
    return Detections(d.scores, boxes.reshape(-1, 4), kps)


def _merge_same_person(people: list[PersonDetection], max_overlap: float) -> list[PersonDetection]:
    kept: list[PersonDetection] = []
    for p in sorted(people, key=lambda q: -q.score * q.presence):
        if not _known(p.box, kept, max_overlap):
            kept.append(p)
    return kept


def _known(box: np.ndarray, people: list[PersonDetection], max_overlap: float) -> bool:
    return bool(people) and box_iou(box, np.array([p.box for p in people])).max() > max_overlap
