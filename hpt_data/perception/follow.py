"""People followed through a video: what remove-bg adds to :func:`find_people` per frame
with a :class:`~hpt_data.perception.tracking.Tracker` running beside it.

- :func:`follow_frame`: a frame's people, the detector run only every few frames or where
  someone is lost, the landmark model alone following the others (as MediaPipe tracks);
- :func:`bridge`: the people of live tracks that the detector missed in a frame, found by
  the landmark model where their track says they are (MediaPipe's own tracking does the
  same: its detector, which needs a face, loses people who turn away);
- :func:`landmarks_on_crop`: the kept person's landmarks again, on their crop;
  :func:`landmarks_on_frame`: the same without the look at the crop, where it would see
  what the follow look saw;
- :func:`with_masks`: a frame's people read back from ``people.npz`` (no masks stored)
  with their masks again, from the landmark model on each one's stored region.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from hpt_data.crop import CropWindow
from hpt_data.perception.anchors import box_iou
from hpt_data.perception.heatmap import LANDMARK_SIZE
from hpt_data.perception.masks import MAX_ON_PAINTED, on_painted, without_others
from hpt_data.perception.people import (
    RESCAN_ZOOM,
    PeopleOptions,
    PersonDetection,
    find_people,
    landmark_model,
    landmarks_in_roi,
)
from hpt_data.perception.tracking import Observation, Track, Tracker, oks


def observation(p: PersonDetection) -> Observation:
    """What the tracker needs of a person: box, landmarks, and the region to look in
    next (the landmarks' own when known, else the one they came from)."""
    roi = p.next_roi if p.next_roi is not None else p.roi
    return Observation(p.box, p.landmarks, roi, p.presence)


#: A region whose pose presence is below ``min_presence`` but at least this still continues
#: its track while the landmarks' box stays where the track says (IoU with the predicted box
#: of at least :data:`WEAK_MIN_IOU`), for at most ``max_gap`` frames after the last sure
#: sighting: a person half hidden or at the frame's edge scores low (dev seed: 0.14-0.20
#: for a crosser behind the performer's arm; empty background below 0.1).
WEAK_PRESENCE = 0.1
WEAK_MIN_IOU = 0.5
#: A region that overlaps someone already in the frame (IoU above ``max_overlap``) is that
#: person only when their landmarks agree too (OKS above this): a person passing behind
#: another overlaps them with other limbs (dev seed: OKS 0.71-0.77 for the crosser behind
#: the performer, 0.90-0.98 where the region had slid onto the performer).
SAME_PERSON_OKS = 0.85


def bridge(
    rgb: np.ndarray,
    people: list[PersonDetection],
    tracker: Tracker,
    pos: int,
    options: PeopleOptions | None = None,
) -> list[PersonDetection]:
    """The people of the live tracks that frame ``pos`` (already through
    ``tracker.step``) did not continue, each added to its track, the largest first, each
    looked for with the people already in the frame left out
    (:func:`~hpt_data.perception.masks.without_others`).
    A region adds no one when its pose presence is below ``min_presence`` (below it down
    to :data:`WEAK_PRESENCE` only while the box is plausible, see there), or when it finds
    someone already in the frame (landmark-box IoU above ``max_overlap`` and OKS above
    :data:`SAME_PERSON_OKS`, or a mask mostly on those left out:
    :data:`~hpt_data.perception.masks.MAX_ON_PAINTED`).
    ``rgb``: (H, W, 3) uint8."""
    opts = options or PeopleOptions()
    added: list[PersonDetection] = []
    # the largest first: the people in front, whose pixels the others' looks then leave out
    for track in sorted(tracker.missing(pos), key=lambda tr: -_height(tr.boxes[-1])):
        roi = track.predicted_roi(pos)
        if roi is None:
            continue
        img, painted = without_others(rgb, roi, people + added)
        look = landmarks_in_roi(img, roi, landmark_model(), mask=True, bgr=opts.bgr)
        lms, presence, seg, nxt, world = look
        box = np.concatenate([lms[:, :2].min(axis=0), lms[:, :2].max(axis=0)])
        gap = tracker.options.max_gap
        if presence < opts.min_presence and not _plausible(track, box, presence, pos, opts, gap):
            continue
        person = PersonDetection(box, 0.0, presence, lms, roi, seg, nxt, world)
        if someone_else(box, lms, people + added, opts.max_overlap) or (
            on_painted(person, painted) > MAX_ON_PAINTED
        ):
            track.hidden = True
            continue
        added.append(person)
        tracker.add(track, pos, len(people) + len(added) - 1, observation(person))
    return added


def _height(box: np.ndarray) -> float:
    return float(box[3] - box[1])


def wants_rescan(tracker: Tracker, pos: int, every: int) -> bool:
    """Whether frame ``pos`` should also be searched on zoomed tiles (the costly pass that
    finds small and turned-away people): every ``every`` frames from the first (0: never),
    and right after a track went unseen (someone may have left, or be hidden where only a
    closer look finds them)."""
    if every <= 0:
        return False
    return pos % every == 0 or any(tr.frames[-1] == pos - 2 for tr in tracker.live(pos))


def _plausible(
    track: Track, box: np.ndarray, presence: float, pos: int, opts: PeopleOptions, max_gap: int
) -> bool:
    """A weak sighting (presence below ``min_presence``) that still continues ``track``."""
    sure = track.last_sure(opts.min_presence)
    if presence < WEAK_PRESENCE or sure is None or pos - sure > max_gap:
        return False
    return float(box_iou(box, track.predicted(pos)[0][None])[0]) >= WEAK_MIN_IOU


def someone_else(
    box: np.ndarray, lms: np.ndarray, people: list[PersonDetection], max_overlap: float
) -> bool:
    """Whether the region found one of ``people`` (box and landmarks alike)."""
    scale = float(np.hypot(box[2] - box[0], box[3] - box[1]))
    for p in people:
        if float(box_iou(box, p.box[None])[0]) <= max_overlap:
            continue
        if not len(p.landmarks) or oks(lms, p.landmarks, scale) > SAME_PERSON_OKS:
            return True
    return False


def follow_frame(
    rgb: np.ndarray,
    tracker: Tracker,
    pos: int,
    detect_every: int,
    options: PeopleOptions,
    rescan_every: int = 0,
) -> list[PersonDetection]:
    """Every person of frame ``pos`` ((H, W, 3) uint8 RGB; BGR with ``options.bgr``), with
    masks, each added to ``tracker``. Where everyone followed was seen in the frame before
    and ``pos`` is not a multiple of ``detect_every``, the landmark model alone runs where
    each should be (MediaPipe's own tracking); the detector runs on the other frames, and
    wherever that loses someone, so that new people are found within ``detect_every``
    frames. Where :func:`wants_rescan` says so (``rescan_every``), the detector also runs
    on the zoomed tiles of :data:`~hpt_data.perception.people.RESCAN_ZOOM`."""
    live = tracker.live(pos)
    people: list[PersonDetection] = []
    rescan = wants_rescan(tracker, pos, rescan_every)
    seen = live and all(t.frames[-1] == pos - 1 for t in live)
    if not rescan and pos % max(detect_every, 1) and seen:
        tracker.step(pos, [])
        people = bridge(rgb, [], tracker, pos, options)
        if not tracker.missing(pos):
            return people
    # no free squares (find_people's look beside those found, for photos): the rescans look
    # closer, and footage with the performer off-centre would pay a detector run per detection
    opts = dataclasses.replace(
        options, free_views=False, zoom=RESCAN_ZOOM if rescan else options.zoom
    )
    look = functools.partial(tile_look, options=options)
    found = find_people(rgb, opts, masks=True, tile_look=look)
    if people:  # someone followed already: not again as a new person
        boxes = np.array([p.box for p in people])
        found = [p for p in found if box_iou(p.box, boxes).max() <= options.max_overlap]
    tracker.step(pos, [observation(p) for p in found], first=len(people))
    people += found
    if tracker.missing(pos):
        people += bridge(rgb, people, tracker, pos, options)
    if rescan:  # those the detector misses at any zoom: the landmark model, the others out
        from hpt_data.perception.peel import peel

        more = peel(rgb, people, options)
        tracker.step(pos, [observation(p) for p in more], first=len(people))
        people += more
    return people


def tile_look(
    rgb: np.ndarray,
    roi: np.ndarray,
    face: np.ndarray,
    people: list[PersonDetection],
    options: PeopleOptions,
) -> PersonDetection | None:
    """A zoomed tile's person (:func:`~hpt_data.perception.people.find_people`'s
    ``tile_look``): the landmark model on their region with ``people`` (those found so far
    in the frame) painted out, as the other looks for someone besides them (:func:`bridge`,
    :func:`~hpt_data.perception.peel.peel`); None when the detector's ``face`` box (x0, y0,
    x1, y1) is centred on the painted pixels (the face of someone found, seen again at
    another zoom: no landmark look spent on it), when its pose presence is below
    ``min_presence`` or when its mask lies mostly on the painted pixels (someone found,
    drawn again). On the frame as it is, a small person beside a bigger one is drawn with
    the bigger one's limbs (test seed 202: a bystander 147 px tall beside the performer's
    waving arm, found by zoom-4 tiles, got a landmark box matching the performer's better
    than their own in some rescans)."""
    img, painted = without_others(rgb, roi, people)
    cx, cy = np.clip(
        ((face[:2] + face[2:]) / 2).astype(int), 0, [rgb.shape[1] - 1, rgb.shape[0] - 1]
    )
    if painted is not None and painted[cy, cx]:
        return None
    look = landmarks_in_roi(img, roi, landmark_model(), mask=True, bgr=options.bgr)
    lms, presence, seg, nxt, world = look
    if presence < options.min_presence:
        return None
    box = np.concatenate([lms[:, :2].min(axis=0), lms[:, :2].max(axis=0)])
    person = PersonDetection(box, 0.0, presence, lms, roi, seg, nxt, world)
    return None if on_painted(person, painted) > MAX_ON_PAINTED else person


def with_masks(rgb: np.ndarray, people: list[PersonDetection]) -> list[PersonDetection]:
    """``people`` with their masks: the landmark model on each one's ``roi`` (the region
    their landmarks came from, and the frame as they were looked for in, so the mask is
    the one they had)."""
    out: list[PersonDetection] = []
    for p in people:
        # one the landmark model alone found (score 0) was looked for without those
        # before them in the frame's list (:func:`bridge`, :func:`tile_look`, a peel)
        img = without_others(rgb, p.roi, out)[0] if p.score == 0.0 else rgb
        look = landmarks_in_roi(img, p.roi, landmark_model(), mask=True)
        out.append(dataclasses.replace(p, segmentation=look.mask, world=look.world))
    return out


def landmarks_on_crop(
    image: np.ndarray, window: CropWindow, person: PersonDetection, mirror: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The kept person's (33, 5) landmarks in source pixels and (33, 4) world landmarks
    (metres, image axes, visibility: what Pose's ``pose_world_landmarks`` gives, read by
    fit-smpl's 3D terms), from the landmark model run again on their crop window
    (``image``: (size, size, 3) BGR, remove-bg's
    :func:`~hpt_data.stages._crop_matte.landmark_input`: the frame's window at the crop's
    size, other people removed) at the region their first landmarks came from
    (``person.roi``, in the crop). On the composite instead (the person over the
    background colour) the matte's edge and the colour move the points: a white shoe over
    white loses its outline (the fit benchmark's dev clips: ankles 4.01 px median against
    3.35 here, raw MediaPipe on the frames 3.77).

    ``mirror``: the image points are the mean of the model's look at the region and at its
    mirror image (:func:`~hpt_data.perception.people.landmarks_in_roi`; z, visibility,
    presence and the world landmarks are the first look's): the model's noise averaged and
    MediaPipe's sampling offset cancelled in x (``docs/perception.md``)."""
    roi = np.array(person.roi, np.float64)  # stored: a frame redone alone gets the same
    roi[:2] = window.to_crop(roi[None, :2])[0]
    roi[[2, 4]] *= window.scale
    found = landmarks_in_roi(image, roi, landmark_model(), bgr=True)
    lms = found.landmarks
    if mirror:
        seen = landmarks_in_roi(image, roi, landmark_model(), bgr=True, mirror=True)
        lms[:, :2] = (lms[:, :2] + seen.landmarks[:, :2]) / 2
    lms[:, :2] = window.to_source(lms[:, :2])
    lms[:, 2] /= window.scale
    return lms, found.world


def landmarks_on_frame(
    image: np.ndarray,
    window: CropWindow,
    person: PersonDetection,
    mirror: bool = False,
    centred: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`landmarks_on_crop`'s answer without a look at the crop, for a crop that
    shows the model what the follow look saw (the person alone, the window in the frame):
    the follow look's landmarks and world landmarks (``person.landmarks``, ``person.world``),
    with ``mirror`` averaged with the model's look at the mirror image of the frame
    (``image``: (H, W, 3) BGR) at the same region, and moved as the look at the crop would
    have moved them: with MediaPipe's sampling (:data:`~hpt_data.perception.people.
    MEDIAPIPE_SAMPLING`) a look at the crop, enlarged k times (``window.scale``), places
    the points ½(1 − 1/k) source pixels further right and down than a look at the frame,
    whatever the region's rotation; the mirror look's mean cancels the x part.

    ``centred`` (without ``mirror``): the follow look moved to where its mean with the
    mirror look would sit (remove-bg's ``mirror_pass: alternate``, the frames without the
    mirror look): MediaPipe's sampling puts the look ``L·(½, ½) − ½`` frame pixels off
    (``L``: the region's map, side s/256 = ``r`` frame pixels a tensor pixel, rotation θ)
    and the mirror look, flipped back, at that offset mirrored, so the plain look sits
    ``(r cos θ − 1, r sin θ) / 2`` from their mean: 0 for a region of 256 frame pixels,
    1.5 px in x for one of 1024."""
    if person.world is None:
        raise ValueError("landmarks_on_frame needs the follow look's world landmarks")
    lms = np.array(person.landmarks, np.float64)
    if mirror:
        seen = landmarks_in_roi(image, person.roi, landmark_model(), bgr=True, mirror=True)
        lms[:, :2] = (lms[:, :2] + seen.landmarks[:, :2]) / 2
    shift = 0.5 * (1.0 - 1.0 / window.scale)
    lms[:, 1] += shift
    if centred and not mirror:
        r, rot = person.roi[2] / LANDMARK_SIZE, person.roi[3]
        lms[:, :2] -= np.array([r * np.cos(rot) - 1.0, r * np.sin(rot)]) / 2
    elif not mirror:
        lms[:, 0] += shift
    return lms, np.array(person.world, np.float64)
