"""remove-bg's helpers: its rescans rule, its flags in words, the frames kept in memory
between its passes, its ``people.npz`` made from the frames' people and tracks, and the last
run's people (and the kept person's landmarks found on the crop) read back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hpt_data.errors import StageError
from hpt_data.stages._frames_io import PreviousOutput
from hpt_data.stages.outputs import Crop, Frames
from hpt_data.stages.outputs.people import People

if TYPE_CHECKING:
    from hpt_data.perception.people import PersonDetection
    from hpt_data.perception.tracking import Track


#: ``rescan_every`` when unset, with ``person: all`` and otherwise: the zoomed rescans find
#: the small and turned-away people that make clips of their own (``docs/perception.md``)
RESCAN_EVERY_ALL = 4
RESCAN_EVERY_MAIN = 0


def rescans(rescan_every: int | None, person: str | int) -> int:
    """Every how many frames remove-bg's detector also looks on zoomed tiles (0: never):
    ``rescan_every`` where set, else the default of the ``person`` mode."""
    if rescan_every is not None:
        return rescan_every
    return RESCAN_EVERY_ALL if person == "all" else RESCAN_EVERY_MAIN


FLAG_TEXT = {
    "no_person": "no person found",
    "cut_by_edge": "the person is cut by the frame edge",
    "several_people": "another person overlaps the kept person",
}


def flag_summary(entries: Sequence[Crop]) -> str:
    """``all 12 flagged (no person found: 12)``: why none of ``entries`` is usable."""
    counts = Counter(f for e in entries for f in e.flags)
    detail = ", ".join(f"{FLAG_TEXT[f]}: {k}" for f, k in sorted(counts.items()))
    return f"all {len(entries)} flagged ({detail})"


def landmark_box(lm: np.ndarray, min_vis: float = 0.5) -> tuple[float, float, float, float]:
    pts = lm[lm[:, 3] >= min_vis, :2]
    if len(pts) == 0:
        pts = lm[:, :2]
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    pad = 0.15 * max(x1 - x0, y1 - y0)
    return x0 - pad, y0 - pad, x1 + pad, y1 + pad


def keep_person_components(binary: np.ndarray, box: tuple[float, ...]) -> np.ndarray:
    """The connected parts of ``binary`` (H, W) bool that overlap ``box``."""
    import cv2

    if binary.size == 0:
        return binary

    # labelled within the box of the set pixels only (the parts and their boxes are those
    # of the whole: nothing is set outside it)
    ox, oy, ow, oh = cv2.boundingRect(binary.view(np.uint8))
    if ow == 0:  # nothing set
        return binary
    part = binary[oy : oy + oh, ox : ox + ow]
    n, labels, stats, _ = cv2.connectedComponentsWithStats(part.view(np.uint8), connectivity=8)
    x0, y0, x1, y1 = box
    keep = np.zeros(n, bool)
    for k in range(1, n):
        bx, by, bw, bh = stats[k, :4]
        bx, by = bx + ox, by + oy
        keep[k] = bx < x1 and bx + bw > x0 and by < y1 and by + bh > y0
    if keep[1:].all():  # every part kept (the usual one body): binary itself
        return binary
    out = np.zeros_like(binary)
    out[oy : oy + oh, ox : ox + ow] = keep[labels]
    return out


class ImageCache:
    """The frames of ``sample-frames`` by position, kept in memory between remove-bg's
    two passes up to ``limit`` bytes (then read again)."""

    def __init__(self, upstream: Frames, limit: int = 512 << 20) -> None:
        self.upstream, self.limit, self.used = upstream, limit, 0
        self.images: dict[int, np.ndarray] = {}

    def get(self, pos: int) -> np.ndarray:
        if pos in self.images:
            return self.images[pos]
        image = self.upstream.image(self.upstream.frames[pos].file)
        if self.used + image.nbytes <= self.limit:
            self.images[pos] = image
            self.used += image.nbytes
        return image

    def drop(self, pos: int) -> None:
        image = self.images.pop(pos, None)
        if image is not None:
            self.used -= image.nbytes


def people_arrays(
    upstream: Frames,
    found: list[list[PersonDetection]],
    tracks: list[Track],
    kept: Track | None,
    on_crop: list[tuple[np.ndarray, np.ndarray] | None] | None = None,
) -> People:
    """``people.npz`` of the frames' people (fresh detections or the last run's) and, per
    frame, the kept person's (33, 5) landmarks and (33, 4) world landmarks found on the
    crop (``on_crop``; zeros and NaN where there are none, and everywhere without it)."""
    track_of = {(f, m): t.id for t in tracks for f, m in zip(t.frames, t.members, strict=True)}
    rows: list[tuple[PersonDetection, int]] = []
    kept_rows = []
    for pos, people in enumerate(found):
        member = kept.member_at(pos) if kept is not None else None
        kept_rows.append(-1 if member is None else len(rows) + member)
        rows += [(p, track_of[(pos, m)]) for m, p in enumerate(people)]

    crops = on_crop or [None] * len(found)

    def col(get: Any, shape: tuple[int, ...]) -> np.ndarray:
        return np.array([get(p) for p, _ in rows], np.float64).reshape(-1, *shape)

    return People(
        frame_index=np.array([f.index for f in upstream.frames], np.int64),
        count=np.array([len(p) for p in found], np.int64),
        kept=np.array(kept_rows, np.int64),
        boxes=col(lambda p: p.box, (4,)),
        scores=col(lambda p: [p.score, p.presence], (2,)),
        landmarks=col(lambda p: p.landmarks, (33, 5)),
        rois=col(lambda p: p.roi, (5,)),
        next_rois=col(lambda p: np.full(5, np.nan) if p.next_roi is None else p.next_roi, (5,)),
        track=np.array([t for _, t in rows], np.int64),
        crop_landmarks=np.array(
            [np.zeros((33, 5)) if c is None else c[0] for c in crops], np.float64
        ).reshape(-1, 33, 5),
        crop_world=np.array(
            [np.full((33, 4), np.nan) if c is None else c[1] for c in crops], np.float64
        ).reshape(-1, 33, 4),
    )


def read_people(previous: PreviousOutput, prefix: str = "") -> People | None:
    """The last run's intact ``people.npz`` (under ``prefix``, a person clip's folder), or
    None when it is missing or does not read."""
    rel = f"{prefix}/{People.ARRAYS}" if prefix else People.ARRAYS
    if previous.folder is None or not previous.intact(rel):
        return None
    try:
        return People.read(previous.folder / prefix if prefix else previous.folder)
    except StageError:
        return None


def previous_people(
    previous: PreviousOutput, people: People | None = None
) -> dict[int, tuple[list[PersonDetection], list[int]]] | None:
    """Each frame's people (without masks) and their track ids by source index from the
    last run's intact ``people.npz`` (``people``, when already read); None when there is
    none or it does not read."""
    from hpt_data.perception.people import PersonDetection

    people = people if people is not None else read_people(previous)
    if people is None:
        return None
    f64 = people.boxes.astype(np.float64), people.landmarks.astype(np.float64)
    return {
        int(idx): (
            [
                PersonDetection(
                    f64[0][r],
                    float(people.scores[r, 0]),
                    float(people.scores[r, 1]),
                    f64[1][r],
                    people.rois[r].astype(np.float64),
                    next_roi=None if np.isnan(people.next_rois[r]).any() else people.next_rois[r],
                )
                for r in people.rows(pos)
            ],
            [int(people.track[r]) for r in people.rows(pos)],
        )
        for pos, idx in enumerate(people.frame_index)
    }


def previous_crop_landmarks(
    previous: PreviousOutput, prefix: str = "", people: People | None = None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The kept person's (33, 5) landmarks and (33, 4) world landmarks found on the crop,
    by source index, from the last run's intact ``people.npz`` under ``prefix`` (a person
    clip's folder; ``people``, when already read); frames without any are left out, and so
    is everything when the file is missing or does not read."""
    people = people if people is not None else read_people(previous, prefix)
    if people is None:
        return {}
    return {
        int(idx): (
            people.crop_landmarks[pos].astype(np.float64),
            people.crop_world[pos].astype(np.float64),
        )
        for pos, idx in enumerate(people.frame_index)
        if people.crop_landmarks[pos].any()
    }
