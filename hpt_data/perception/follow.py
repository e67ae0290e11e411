"""People followed through a video: what remove-bg adds to :func:`find_people` per frame
with a :class:`~hpt_data.perception.tracking.Tracker` running beside it.

- :func:`follow_frame`: a frame's people, the detector run only every few frames or where
  someone is lost, the landmark model alone following the others (as MediaPipe tracks);
- :func:`bridge`: the people of live tracks that the detector missed in a frame, found by
  the landmark model where their track says they are (MediaPipe's own tracking does the
  same: its detector, which needs a face, loses people who turn away);
- :func:`landmarks_on_crop`: the kept person's landmarks again, on their crop;
- :func:`with_masks`: a frame's people read back from ``people.npz`` (no masks stored)
  with their masks again, from the landmark model on each one's stored region.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hpt_data.crop import CropWindow
from hpt_data.perception.anchors import box_iou
from hpt_data.perception.people import (
    PeopleOptions,
    PersonDetection,
    find_people,
    landmark_model,
    landmarks_in_roi,
)
from hpt_data.perception.tracking import Observation, Tracker


def observation(p: PersonDetection) -> Observation:
    """What the tracker needs of a person: box, landmarks, and the region to look in
    next (the landmarks' own when known, else the one they came from)."""
    return Observation(p.box, p.landmarks, p.next_roi if p.next_roi is not None else p.roi)


def bridge(
    rgb: np.ndarray,
    people: list[PersonDetection],
    tracker: Tracker,
    pos: int,
    options: PeopleOptions | None = None,
) -> list[PersonDetection]:
    """The people of the live tracks that frame ``pos`` (already through
    ``tracker.step``) did not continue, each added to its track. A region whose pose
    presence is below ``min_presence``, or that finds someone already in the frame
    (landmark-box IoU above ``max_overlap``), adds no one. ``rgb``: (H, W, 3) uint8."""
    opts = options or PeopleOptions()
    added: list[PersonDetection] = []
    for track in tracker.missing(pos):
        roi = track.predicted_roi(pos)
        if roi is None:
            continue
        lms, presence, seg, nxt, _ = landmarks_in_roi(rgb, roi, landmark_model(), mask=True)
        if presence < opts.min_presence:
            continue
        box = np.concatenate([lms[:, :2].min(axis=0), lms[:, :2].max(axis=0)])
        others = np.array([p.box for p in people + added]).reshape(-1, 4)
        if len(others) and box_iou(box, others).max() > opts.max_overlap:
            continue
        person = PersonDetection(box, 0.0, presence, lms, roi, seg, nxt)
        added.append(person)
        tracker.add(track, pos, len(people) + len(added) - 1, observation(person))
    return added


def follow_frame(
    rgb: np.ndarray, tracker: Tracker, pos: int, detect_every: int, options: PeopleOptions
) -> list[PersonDetection]:
    """Every person of frame ``pos`` ((H, W, 3) uint8 RGB), with masks, each added to
    ``tracker``. Where everyone followed was seen in the frame before and ``pos`` is not a
    multiple of ``detect_every``, the landmark model alone runs where each should be
    (MediaPipe's own tracking); the detector runs on the other frames, and wherever that
    loses someone, so that new people are found within ``detect_every`` frames."""
    live = tracker.live(pos)
    people: list[PersonDetection] = []
    if pos % max(detect_every, 1) and live and all(t.frames[-1] == pos - 1 for t in live):
        tracker.step(pos, [])
        people = bridge(rgb, [], tracker, pos, options)
        if not tracker.missing(pos):
            return people
    found = find_people(rgb, options, masks=True)
    if people:  # someone followed already: not again as a new person
        boxes = np.array([p.box for p in people])
        found = [p for p in found if box_iou(p.box, boxes).max() <= options.max_overlap]
    tracker.step(pos, [observation(p) for p in found], first=len(people))
    people += found
    if tracker.missing(pos):
        people += bridge(rgb, people, tracker, pos, options)
    return people


def with_masks(rgb: np.ndarray, people: list[PersonDetection]) -> list[PersonDetection]:
    """``people`` with their masks: the landmark model on each one's ``roi`` (the region
    their landmarks came from, so the mask is the one they had)."""
    out = []
    for p in people:
        seg = landmarks_in_roi(rgb, p.roi, landmark_model(), mask=True).mask
        out.append(dataclasses.replace(p, segmentation=seg))
    return out


def landmarks_on_crop(
    composite: np.ndarray, window: CropWindow, person: PersonDetection
) -> tuple[np.ndarray, np.ndarray]:
    """The kept person's (33, 5) landmarks in source pixels and (33, 4) world landmarks
    (metres, image axes, visibility: what Pose's ``pose_world_landmarks`` gives, read by
    fit-smpl's 3D terms), from the landmark model run
    again on their crop ((size, size, 3) BGR: the person alone over the background) at
    the region their first landmarks came from (``person.roi``, in the crop). On the
    frame, the background and the other people put the points a few pixels off; on the
    crop they land where a second Pose pass on it puts them, so pose2d need not run one
    (``landmarks: remove-bg``)."""
    import cv2

    roi = np.array(person.roi, np.float64)  # stored: a frame redone alone gets the same
    roi[:2] = window.to_crop(roi[None, :2])[0]
    roi[[2, 4]] *= window.scale
    rgb = cv2.cvtColor(composite, cv2.COLOR_BGR2RGB)
    found = landmarks_in_roi(rgb, roi, landmark_model())
    lms = found.landmarks
    lms[:, :2] = window.to_source(lms[:, :2])
    lms[:, 2] /= window.scale
    return lms, found.world
