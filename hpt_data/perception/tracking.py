"""People linked across frames into tracks with stable ids, and the clip's main person.

Input: per frame the people :func:`hpt_data.perception.people.find_people` gave (boxes and
33 landmarks in frame pixels). Each frame's people are matched to the live tracks by one
assignment (Hungarian, :func:`scipy.optimize.linear_sum_assignment`) on a similarity that
mixes

- the box IoU with the track's *predicted* box (its last box moved on by its velocity,
  so two people crossing are each where their own motion takes them), and
- an object-keypoint similarity (OKS, COCO's: ``exp(-d² / (2 (σ·scale)²))`` averaged over
  the landmarks both see) between the detection's landmarks and the track's last ones
  moved by the same velocity: two overlapping boxes are told apart by where the limbs are.

A pair below ``min_similarity`` is no match. A track not seen for more than ``max_gap``
frames ends (a gap up to that is bridged: the person comes back under the same id); a
detection matching no track starts a new one. Ids are 1, 2, ... in order of first sight.
:class:`Tracker` does this online, and tells which live tracks a frame missed, so that
remove-bg can run the landmark model where such a person should be (the detector, which
needs a face, loses people who turn away; MediaPipe's own tracking does the same).

The main person (the performer, ``person: main``) is the track with the largest sum over
its frames of size × centrality: the box height as a share of the frame's, times one
minus the box centre's distance from the frame centre as a share of half the diagonal.
The sum makes a track seen in more frames weigh more (size × centrality × length).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hpt_data.perception.anchors import box_iou

#: OKS spread per landmark as a share of the person's scale (one value: MediaPipe's 33
#: points have no published per-point spreads; COCO's range 0.025-0.107).
OKS_SIGMA = 0.08


@dataclass(frozen=True)
class TrackOptions:
    """Settings of :func:`track_people`."""

    max_gap: int = 5  # frames a track may go unseen and still continue under its id
    min_similarity: float = 0.2  # below this a detection and a track are not matched
    keypoint_weight: float = 0.5  # share of OKS in the similarity (the rest: box IoU)
    min_visibility: float = 0.5  # landmarks below this visibility are left out of OKS

    def __post_init__(self) -> None:
        if self.max_gap < 0:
            raise ValueError(f"max_gap must be >= 0, got {self.max_gap}")
        if not 0 <= self.keypoint_weight <= 1 or not 0 <= self.min_similarity <= 1:
            raise ValueError("keypoint_weight and min_similarity must be in [0, 1]")


@dataclass(frozen=True)
class Observation:
    """One person in one frame: ``box`` (4,) x0, y0, x1, y1 pixels, ``landmarks``
    (33, 5) x, y, z, visibility, presence (or (0, 5) when only a box is known) and
    optionally ``roi`` (5,), the landmark region to look for them in the next frame, and
    ``presence``, how sure the landmark model was that a person is there."""

    box: np.ndarray
    landmarks: np.ndarray
    roi: np.ndarray | None = None
    presence: float = 1.0


@dataclass
class Track:
    """One person through the clip: ``frames`` (positions in the sequence, increasing)
    and, per such frame, ``members`` (the index of the person in that frame's list)."""

    id: int
    frames: list[int] = field(default_factory=list)
    members: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    rois: list[np.ndarray | None] = field(default_factory=list)
    presences: list[float] = field(default_factory=list)
    #: the last look where the track said they are found someone else in front of them
    hidden: bool = False

    def __len__(self) -> int:
        return len(self.frames)

    def member_at(self, frame: int) -> int | None:
        """The person index of this track in ``frame``, None where it is not seen."""
        try:
            return self.members[self.frames.index(frame)]
        except ValueError:
            return None

    def last_sure(self, min_presence: float) -> int | None:
        """The last frame where the person's presence was at least ``min_presence``."""
        for frame, presence in zip(reversed(self.frames), reversed(self.presences), strict=True):
            if presence >= min_presence:
                return frame
        return None

    def velocity(self, window: int = 4) -> np.ndarray:
        """(2,) the box centre's motion per frame over the last ``window`` sightings (a
        walker's box swings with their limbs from one frame to the next; zeros before a
        second sighting)."""
        k = min(len(self.frames), window)
        if k < 2:
            return np.zeros(2)
        a, b = self.boxes[-k], self.boxes[-1]
        dt = self.frames[-1] - self.frames[-k]
        return ((b[:2] + b[2:]) - (a[:2] + a[2:])) / 2 / max(dt, 1)

    def predicted_roi(self, frame: int) -> np.ndarray | None:
        """The last landmark region moved on by the box centre's velocity (None if the
        track has no region)."""
        roi = self.rois[-1] if self.rois else None
        if roi is None:
            return None
        out = np.array(roi, np.float64)
        out[:2] += self.velocity() * (frame - self.frames[-1])
        return out

    def predicted(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """The box and landmarks expected at ``frame``: the last ones moved on by the
        box centre's velocity."""
        step = self.velocity() * (frame - self.frames[-1])
        lms = self.landmarks[-1].copy()
        if len(lms):
            lms[:, :2] += step
        return self.boxes[-1] + np.tile(step, 2), lms


def oks(a: np.ndarray, b: np.ndarray, scale: float, min_visibility: float = 0.5) -> float:
    """Keypoint similarity in [0, 1] of two (33, 5) landmark sets at person ``scale`` px
    (0 when they share no visible landmark)."""
    if not len(a) or not len(b) or scale <= 0:
        return 0.0
    seen = (a[:, 3] >= min_visibility) & (b[:, 3] >= min_visibility)
    if not seen.any():
        return 0.0
    d2 = ((a[seen, :2] - b[seen, :2]) ** 2).sum(axis=1)
    return float(np.exp(-d2 / (2 * (OKS_SIGMA * scale) ** 2)).mean())


#: A detection whose box diagonal is more than this many times the track's (or less than
#: its inverse) is no match: people do not change size so fast, and a small bystander
#: inside a larger missed person's box would otherwise take over their track.
MAX_SCALE_CHANGE = 1.5


def similarity(track: Track, obs: Observation, frame: int, options: TrackOptions) -> float:
    """How well ``obs`` continues ``track`` at ``frame``, in [0, 1]."""
    box, lms = track.predicted(frame)
    ratio = np.hypot(*(obs.box[2:] - obs.box[:2])) / max(np.hypot(*(box[2:] - box[:2])), 1e-6)
    if not 1 / MAX_SCALE_CHANGE <= ratio <= MAX_SCALE_CHANGE:
        return 0.0
    iou = float(box_iou(obs.box, box[None])[0])
    if not len(lms) or not len(obs.landmarks):
        return iou
    scale = float(np.hypot(box[2] - box[0], box[3] - box[1]))
    k = options.keypoint_weight
    return (1 - k) * iou + k * oks(obs.landmarks, lms, scale, options.min_visibility)


class Tracker:
    """Online tracking, one frame at a time (:meth:`step`); ``tracks`` grows as people
    appear. :meth:`missing` lists the tracks a frame did not continue, so that the caller
    can look for those people where they should be (a detector miss bridged), and
    :meth:`add` them."""

    def __init__(self, options: TrackOptions | None = None) -> None:
        self.options = options or TrackOptions()
        self.tracks: list[Track] = []

    def live(self, t: int) -> list[Track]:
        """Tracks seen within ``max_gap`` frames before ``t`` (twice that while hidden
        behind someone: a person crossing behind another is out of sight longer)."""
        gap = self.options.max_gap + 1
        return [tr for tr in self.tracks if t - tr.frames[-1] <= gap * (1 + tr.hidden)]

    def step(self, t: int, people: Sequence[Observation], first: int = 0) -> None:
        """Match frame ``t``'s people to the live tracks not yet continued in it; the rest
        start new tracks. ``first``: the index of ``people[0]`` in the frame's list (when
        some of the frame's people were added before)."""
        from scipy.optimize import linear_sum_assignment

        live = [tr for tr in self.live(t) if tr.frames[-1] < t]
        taken: set[int] = set()
        if live and people:
            sim = np.array([[similarity(tr, p, t, self.options) for p in people] for tr in live])
            rows, cols = linear_sum_assignment(-sim)
            for r, c in zip(rows, cols, strict=True):
                if sim[r, c] >= self.options.min_similarity:
                    _extend(live[r], t, first + int(c), people[c])
                    taken.add(int(c))
        for c, p in enumerate(people):
            if c not in taken:
                self.tracks.append(Track(len(self.tracks) + 1))
                _extend(self.tracks[-1], t, first + c, p)

    def restore(self, t: int, people: Sequence[Observation], ids: Sequence[int]) -> None:
        """Frame ``t``'s people linked as an earlier run linked them (``ids``: their track
        ids), so that a frame redone alone meets the tracks it met the first time (matching
        again could link differently where the first run followed someone). A frame whose
        ids do not continue these tracks (an earlier frame was redone differently) is
        matched afresh instead."""
        known = len(self.tracks)
        new = sorted({i for i in ids if i > known})
        if len(people) != len(ids) or new != list(range(known + 1, known + 1 + len(new))):
            self.step(t, people)
            return
        for i in new:
            self.tracks.append(Track(i))
        for member, (obs, i) in enumerate(zip(people, ids, strict=True)):
            _extend(self.tracks[i - 1], t, member, obs)

    def missing(self, t: int) -> list[Track]:
        """Live tracks that frame ``t`` (after :meth:`step`) did not continue."""
        return [tr for tr in self.live(t) if tr.frames[-1] < t]

    def add(self, track: Track, t: int, member: int, obs: Observation) -> None:
        """``obs`` (person ``member`` of frame ``t``) continues ``track``."""
        _extend(track, t, member, obs)


def track_people(
    frames: Sequence[Sequence[Observation]], options: TrackOptions | None = None
) -> list[Track]:
    """Link each frame's people into tracks (ids 1, 2, ... in order of first sight)."""
    tracker = Tracker(options)
    for t, people in enumerate(frames):
        tracker.step(t, people)
    return tracker.tracks


def _extend(track: Track, frame: int, member: int, obs: Observation) -> None:
    track.frames.append(frame)
    track.members.append(member)
    track.boxes.append(np.asarray(obs.box, np.float64))
    track.landmarks.append(np.asarray(obs.landmarks, np.float64))
    track.rois.append(None if obs.roi is None else np.asarray(obs.roi, np.float64))
    track.presences.append(float(obs.presence))
    track.hidden = False


def frame_prominence(box: np.ndarray, width: int, height: int) -> float:
    """Size × centrality of one (4,) box in a ``width`` × ``height`` frame."""
    x0, y0, x1, y1 = np.clip(np.asarray(box, np.float64), 0, [width, height, width, height])
    size = max(y1 - y0, 0.0) / height
    centre = np.hypot((x0 + x1) / 2 - width / 2, (y0 + y1) / 2 - height / 2)
    return size * max(0.0, 1.0 - centre / (np.hypot(width, height) / 2))


def prominence(track: Track, width: int, height: int) -> float:
    """Sum over the track's frames of size × centrality (see the module doc)."""
    return sum(frame_prominence(box, width, height) for box in track.boxes)


def main_track(tracks: Sequence[Track], width: int, height: int) -> Track | None:
    """The performer: the track of largest :func:`prominence` (None without tracks)."""
    if not tracks:
        return None
    return max(tracks, key=lambda tr: (prominence(tr, width, height), -tr.id))
