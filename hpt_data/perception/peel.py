"""People the detector misses, found by the landmark model alone with everyone found so far
painted out (remove-bg's rescans, ``person: all``).

BlazePose's detector needs a face: someone walking across the view in profile, a few
metres behind the performer, is found in few frames or none at any zoom
(``docs/perception.md``). The landmark model needs no face; it finds the most prominent
person in its region. So with the people already found painted out
(:func:`hpt_data.perception.masks.without_others`) it runs on a fixed grid of square
regions (:func:`regions`), and again on the region its landmarks give; a person found so
counts when both looks are sure (pose presence at least :data:`PEEL_MIN_PRESENCE`) and
agree (landmark-box IoU at least :data:`PEEL_MIN_AGREEMENT`), when at least half their
landmark box lies in the frame (as for a zoomed tile's person), their mask lies mostly off
the painted pixels (:data:`~hpt_data.perception.masks.MAX_ON_PAINTED`: a person found, or
a part of them, drawn again over their painted pixels is no one new), and their box is no
one's found (IoU at most ``max_overlap``). A box lying inside someone else's is no reason
to drop them here, unlike a zoomed tile's person
(:data:`~hpt_data.perception.views.TILE_MAX_COVER`): those looked for stand half behind
the people found (dev seed 104: a crosser beside the performer, more than 60 % of their
box inside the performer's).
"""

from __future__ import annotations

import numpy as np

from hpt_data.perception.anchors import box_iou
from hpt_data.perception.masks import MAX_ON_PAINTED, on_painted, without_others
from hpt_data.perception.people import (
    PeopleOptions,
    PersonDetection,
    landmark_model,
    landmarks_in_roi,
)
from hpt_data.perception.views import TILE_MIN_IN_FRAME, in_frame

#: The regions' sides as shares of the frame's longer side; neighbours overlap by half.
PEEL_SIDES = (1.0, 0.75, 0.5)
#: Both looks (the grid's region and the landmarks' own) at least this sure ...
PEEL_MIN_PRESENCE = 0.9
#: ... and their landmark boxes overlapping by at least this IoU.
PEEL_MIN_AGREEMENT = 0.5


def regions(width: int, height: int) -> list[np.ndarray]:
    """The grid of upright square regions (centre x, y, side, rotation 0, radius), for
    each share of :data:`PEEL_SIDES` of the longer side, overlapping by half."""
    longer = max(width, height)
    out = []
    for share in PEEL_SIDES:
        side = share * longer

        def centres(length: int, side: float = side) -> np.ndarray:
            if length <= side:
                return np.array([length / 2])
            n = int(np.ceil((length - side) / (side / 2))) + 1
            return np.linspace(side / 2, length - side / 2, n)

        for cy in centres(height):
            for cx in centres(width):
                out.append(np.array([cx, cy, side, 0.0, side / 2.5]))
    return out


def _box(lms: np.ndarray) -> np.ndarray:
    return np.concatenate([lms[:, :2].min(axis=0), lms[:, :2].max(axis=0)])


def peel(
    rgb: np.ndarray, people: list[PersonDetection], options: PeopleOptions
) -> list[PersonDetection]:
    """The people in an (H, W, 3) uint8 RGB frame (BGR with ``options.bgr``) besides
    ``people`` (with masks) that the landmark model finds with those painted out (see the
    module doc), each with their mask, score 0 (no detector), in the order found; each
    found one is painted out for the next regions too."""
    h, w = rgb.shape[:2]
    known = list(people)
    added: list[PersonDetection] = []
    model = landmark_model()
    for roi in regions(w, h):
        img, _ = without_others(rgb, roi, known)
        first = landmarks_in_roi(img, roi, model, bgr=options.bgr)
        if first.presence < PEEL_MIN_PRESENCE:
            continue
        again = first.next_roi
        img, painted = without_others(rgb, again, known)
        look = landmarks_in_roi(img, again, model, mask=True, bgr=options.bgr)
        lms, presence, seg, nxt, world = look
        box = _box(lms)
        if presence < PEEL_MIN_PRESENCE:
            continue
        if float(box_iou(box, _box(first.landmarks)[None])[0]) < PEEL_MIN_AGREEMENT:
            continue
        if in_frame(box, w, h) < TILE_MIN_IN_FRAME:
            continue
        if known and box_iou(box, np.array([p.box for p in known])).max() > options.max_overlap:
            continue
        person = PersonDetection(box, 0.0, presence, lms, again, seg, nxt, world)
        if on_painted(person, painted) > MAX_ON_PAINTED:
            continue
        if len(added) >= options.max_people:
            break
        known.append(person)
        added.append(person)
    return added
