"""People followed through a video: what remove-bg adds to :func:`find_people` per frame
with a :class:`~hpt_data.perception.tracking.Tracker` running beside it.

- :func:`bridge`: the people of live tracks that the detector missed in a frame, found by
  the landmark model where their track says they are (MediaPipe's own tracking does the
  same: its detector, which needs a face, loses people who turn away);
- :func:`with_masks`: a frame's people read back from ``people.npz`` (no masks stored)
  with their masks again, from the landmark model on each one's stored region.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hpt_data.perception.anchors import box_iou
from hpt_data.perception.people import (
    PeopleOptions,
    PersonDetection,
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
        lms, presence, seg, nxt = landmarks_in_roi(rgb, roi, landmark_model(), mask=True)
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


def with_masks(rgb: np.ndarray, people: list[PersonDetection]) -> list[PersonDetection]:
    """``people`` with their masks: the landmark model on each one's ``roi`` (the region
    their landmarks came from, so the mask is the one they had)."""
    out = []
    for p in people:
        seg = landmarks_in_roi(rgb, p.roi, landmark_model(), mask=True)[2]
        out.append(dataclasses.replace(p, segmentation=seg))
    return out
