"""Tracks mended once remove-bg's forward pass over a video is done (offline, before any
crop is made):

- :func:`extend_back`: each track followed backwards from its first sighting by the
  landmark model, where its own motion says the person was (the detector finds people
  late: a small bystander at the first zoomed rescan, a crosser in profile once they turn;
  they were in view before);
- :func:`stitch`: a track that ends and a later one that begins joined into one when the
  later one starts where the first one's motion leads, at the same size, in the same
  clothes (a person crossing behind another is out of sight longer than a track lives,
  and comes back as a new track);
- :func:`renumber`: ids again 1, 2, ... in order of first sight (as a rerun that restores
  the tracks by their recorded ids needs them).

:func:`mend` runs the three on a :class:`~hpt_data.perception.tracking.Tracker`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hpt_data.perception.anchors import box_iou
from hpt_data.perception.people import (
    PeopleOptions,
    PersonDetection,
    landmark_model,
    landmarks_in_roi,
)
from hpt_data.perception.tracking import MAX_SCALE_CHANGE, Observation, Track, Tracker

#: A sighting found backwards counts when the landmarks' box overlaps the box the track's
#: motion predicts by at least this IoU (the region must not slide onto something else).
BACK_MIN_IOU = 0.3
#: Two tracks are stitched only when the gap between them is at most this many frames
#: (times ``max_gap + 1``: 18 frames, about 2 s, at the default ``max_track_gap`` 5).
STITCH_GAP_TRACKS = 3
#: ... when the later track starts within this share of the person's height from where the
#: earlier one's motion (and its own, run backwards) puts them ...
STITCH_MAX_OFFSET = 0.5
#: ... and when their clothes match: the Bhattacharyya coefficient of the two colour
#: histograms (hue × saturation, each person's pixels weighted by their mask) at least this.
STITCH_MIN_APPEARANCE = 0.6
HIST_BINS = (12, 4)


def _centre(box: np.ndarray) -> np.ndarray:
    return (np.asarray(box[:2]) + np.asarray(box[2:])) / 2


def _first_velocity(track: Track, window: int = 4) -> np.ndarray:
    """(2,) the box centre's motion per frame over the first ``window`` sightings."""
    k = min(len(track), window)
    if k < 2:
        return np.zeros(2)
    dt = track.frames[k - 1] - track.frames[0]
    return (_centre(track.boxes[k - 1]) - _centre(track.boxes[0])) / max(dt, 1)


def _back_prediction(track: Track, frame: int) -> tuple[np.ndarray | None, np.ndarray]:
    """The region and box where ``track`` was at ``frame`` (before its first sighting):
    its first ones moved back by the motion of its first sightings."""
    step = _first_velocity(track) * (frame - track.frames[0])
    box = track.boxes[0] + np.tile(step, 2)
    roi = track.rois[0]
    if roi is None:
        return None, box
    roi = np.array(roi, np.float64)
    roi[:2] += step
    return roi, box


def _prepend(track: Track, frame: int, member: int, obs: Observation) -> None:
    track.frames.insert(0, frame)
    track.members.insert(0, member)
    track.boxes.insert(0, np.asarray(obs.box, np.float64))
    track.landmarks.insert(0, np.asarray(obs.landmarks, np.float64))
    track.rois.insert(0, None if obs.roi is None else np.asarray(obs.roi, np.float64))
    track.presences.insert(0, float(obs.presence))


def _others(track: Track, tracks: Sequence[Track], frame: int) -> list[int]:
    """The members of ``frame`` that belong to tracks other than ``track``."""
    out = []
    for tr in tracks:
        if tr is not track:
            m = tr.member_at(frame)
            if m is not None:
                out.append(m)
    return out


def extend_back(
    tracker: Tracker,
    found: list[list[PersonDetection]],
    rgb_of: Callable[[int], np.ndarray],
    fresh: set[int],
    options: PeopleOptions,
) -> int:
    """Follow each track backwards from its first sighting (frames in ``fresh`` only: a
    restored frame keeps the people it had). Per frame the landmark model runs on the
    region the track's motion predicts, with the people already in that frame left out
    (:func:`hpt_data.perception.masks.without_others`); a sighting counts when its
    presence is at least ``min_presence``, its box overlaps the predicted one
    (:data:`BACK_MIN_IOU`) at a size within
    :data:`~hpt_data.perception.tracking.MAX_SCALE_CHANGE`, and it is no one already in
    that frame (:func:`hpt_data.perception.follow.someone_else`, nor one painted out:
    :data:`~hpt_data.perception.masks.MAX_ON_PAINTED`); up to ``max_gap`` frames in a row
    may fail (someone in front) before the search stops. Each sighting is
    appended to ``found[frame]`` and prepended to its track. Returns how many were added.
    ``rgb_of(pos)``: frame ``pos`` as (H, W, 3) uint8 RGB (BGR with ``options.bgr``)."""
    from hpt_data.perception.follow import observation, someone_else
    from hpt_data.perception.masks import MAX_ON_PAINTED, on_painted, without_others

    added = 0
    max_misses = tracker.options.max_gap
    for track in list(tracker.tracks):
        misses = 0
        t = track.frames[0] - 1
        while t >= 0 and t in fresh and misses <= max_misses:
            roi, box = _back_prediction(track, t)
            if roi is None:
                break
            img, painted = without_others(rgb_of(t), roi, found[t])
            look = landmarks_in_roi(img, roi, landmark_model(), True, bgr=options.bgr)
            lms, presence, seg, nxt, world = look
            got = np.concatenate([lms[:, :2].min(axis=0), lms[:, :2].max(axis=0)])
            ratio = np.hypot(*(got[2:] - got[:2])) / max(np.hypot(*(box[2:] - box[:2])), 1e-6)
            ok = presence >= options.min_presence and ratio >= 1 / MAX_SCALE_CHANGE
            ok = ok and ratio <= MAX_SCALE_CHANGE
            ok = ok and float(box_iou(got, box[None])[0]) >= BACK_MIN_IOU
            person = PersonDetection(got, 0.0, presence, lms, roi, seg, nxt, world)
            if ok and someone_else(got, lms, found[t], options.max_overlap):
                ok = False
            if ok and on_painted(person, painted) > MAX_ON_PAINTED:
                ok = False
            if not ok:
                misses += 1
                t -= 1
                continue
            found[t].append(person)
            _prepend(track, t, len(found[t]) - 1, observation(person))
            added += 1
            misses = 0
            t -= 1
    return added


def appearance(rgb: np.ndarray, person: PersonDetection, bgr: bool = False) -> np.ndarray | None:
    """The person's colour histogram (hue × saturation, :data:`HIST_BINS`), their pixels
    weighted by their mask over their region, summing to 1 (None without a mask; ``rgb``
    BGR with ``bgr``)."""
    import cv2

    from hpt_data.perception.people import _crop

    if person.segmentation is None:
        return None
    crop = (_crop(rgb, person.roi, bgr)[0] * 255).astype(np.uint8)
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    weight = np.where(person.segmentation >= 0.5, person.segmentation, 0).astype(np.float32)
    hist = np.histogram2d(
        hsv[..., 0].ravel(),
        hsv[..., 1].ravel(),
        bins=HIST_BINS,
        range=[[0, 180], [0, 256]],
        weights=weight.ravel(),
    )[0]
    total = hist.sum()
    return None if total <= 0 else hist / total


def _height(track: Track, end: bool, k: int = 3) -> float:
    boxes = track.boxes[-k:] if end else track.boxes[:k]
    return float(np.median([b[3] - b[1] for b in boxes]))


def _diag(track: Track, end: bool, k: int = 3) -> float:
    boxes = track.boxes[-k:] if end else track.boxes[:k]
    return float(np.median([np.hypot(*(b[2:] - b[:2])) for b in boxes]))


def link_cost(a: Track, b: Track, max_gap: int) -> float | None:
    """How far ``b`` (starting after ``a`` ends) is from continuing ``a``: the offset, in
    person heights, between where ``b`` starts and where ``a``'s motion leads (and between
    where ``a`` ends and where ``b``'s motion, run backwards, leads), whichever is smaller;
    None when the gap, the sizes or the offset rule the link out (see the constants)."""
    gap = b.frames[0] - a.frames[-1]
    if gap <= 0 or gap > STITCH_GAP_TRACKS * (max_gap + 1):
        return None
    ratio = _diag(b, False) / max(_diag(a, True), 1e-6)
    if not 1 / MAX_SCALE_CHANGE <= ratio <= MAX_SCALE_CHANGE:
        return None
    height = max((_height(a, True) + _height(b, False)) / 2, 1.0)
    start, end = _centre(b.boxes[0]), _centre(a.boxes[-1])
    ahead = np.linalg.norm(end + a.velocity() * gap - start)
    behind = np.linalg.norm(start - _first_velocity(b) * gap - end)
    cost = float(min(ahead, behind)) / height
    return cost if cost <= STITCH_MAX_OFFSET else None


def _merge(a: Track, b: Track) -> None:
    """Append ``b``'s sightings (all after ``a``'s) to ``a``."""
    for name in ("frames", "members", "boxes", "landmarks", "rois", "presences"):
        getattr(a, name).extend(getattr(b, name))


def stitch(
    tracks: list[Track],
    max_gap: int,
    looks: Callable[[Track, bool], np.ndarray | None],
) -> list[Track]:
    """The tracks with each link that :func:`link_cost` allows and whose ends look alike
    (``looks(track, end)``: the appearance at the track's last (``end``) or first
    sighting, None when unknown; unknown on either side: no link) made, cheapest first;
    each track continues at most one and is continued by at most one. Returns the tracks
    left (the later one of each link merged into the earlier)."""
    pairs = []
    for a in tracks:
        for b in tracks:
            cost = None if a is b else link_cost(a, b, max_gap)
            if cost is not None:
                pairs.append((cost, a.id, b.id, a, b))
    pairs.sort(key=lambda p: p[:3])
    head: dict[int, Track] = {t.id: t for t in tracks}  # a track -> the one it ends in now
    continued, continues = set(), set()
    for _, _, _, a, b in pairs:
        if a.id in continued or b.id in continues:
            continue
        ha, hb = looks(a, True), looks(b, False)
        if ha is None or hb is None or float(np.sqrt(ha * hb).sum()) < STITCH_MIN_APPEARANCE:
            continue
        target = head[a.id]
        if target.frames[-1] >= b.frames[0]:
            continue
        _merge(target, b)
        continued.add(a.id)
        continues.add(b.id)
        for k, v in head.items():
            if v is b:
                head[k] = target
        head[b.id] = target
    return [t for t in tracks if t.id not in continues]


def renumber(tracker: Tracker) -> None:
    """Ids 1, 2, ... by first sighting (ties: the old id), ``tracker.tracks`` in that order."""
    tracks = sorted(tracker.tracks, key=lambda t: (t.frames[0], t.id))
    for k, tr in enumerate(tracks, start=1):
        tr.id = k
    tracker.tracks = tracks


def mend(
    tracker: Tracker,
    found: list[list[PersonDetection]],
    rgb_of: Callable[[int], np.ndarray],
    fresh: set[int],
    options: PeopleOptions,
) -> None:
    """Extend each track backwards, stitch tracks across gaps, renumber (see the module
    doc). Links are made only between sightings of ``fresh`` frames (a rerun's restored
    frames carry the ids the first run gave them)."""
    cache: dict[tuple[int, int], np.ndarray | None] = {}

    def looks(track: Track, end: bool) -> np.ndarray | None:
        pos = track.frames[-1] if end else track.frames[0]
        member = track.members[-1] if end else track.members[0]
        if pos not in fresh:
            return None
        if (pos, member) not in cache:
            cache[pos, member] = appearance(rgb_of(pos), found[pos][member], options.bgr)
        return cache[pos, member]

    extend_back(tracker, found, rgb_of, fresh, options)
    tracker.tracks = stitch(tracker.tracks, tracker.options.max_gap, looks)
    renumber(tracker)
