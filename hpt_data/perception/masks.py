"""One person's matte among several, and how much of it another person claims.

Each person found by :func:`hpt_data.perception.people.find_people` (``masks=True``)
carries the landmark model's own person mask over their region. The kept person's
matte is their mask where it is at least every other person's (a pixel two people claim
goes to the likelier one), so the others' pixels drop out of the crop and are replaced by
the background. The *overlap* is the share of the kept person's own mask (≥ 0.5) that
another person's mask also claims (≥ 0.5): large only where bodies really cross in the
image, not merely when someone else is in view.

Where the landmark model looks for someone besides the people already found, those are
painted out first (:func:`without_others`), and a sighting lying on the painted pixels is
one of them drawn again (:func:`on_painted`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpt_data.perception.people import PersonDetection, person_matte, region_window


def kept_matte(
    people: Sequence[PersonDetection],
    keep: int,
    width: int,
    height: int,
    window: tuple[int, int, int, int] | None = None,
) -> tuple[np.ndarray, float]:
    """The matte of ``people[keep]`` with every other person excluded, (height, width)
    float32 in [0, 1] (with ``window`` (x0, y0, x1, y1) that part of the frame only: the
    kept person's region's window holds all of it), and the overlap (see the module doc)
    in [0, 1]."""
    matte, overlap, _ = kept_and_others(people, keep, width, height, window)
    return matte, overlap


def kept_and_others(
    people: Sequence[PersonDetection],
    keep: int,
    width: int,
    height: int,
    window: tuple[int, int, int, int] | None = None,
) -> tuple[np.ndarray, float, np.ndarray | None]:
    """:func:`kept_matte`'s matte and overlap, and what the others claim: their matte
    where it is above the kept person's, 0 elsewhere (same shape, float32 in [0, 1]; None
    when the kept person is alone). remove-bg's landmark pass on the crop removes those
    pixels only (:func:`hpt_data.stages._crop_matte.landmark_input`)."""
    own = person_matte(people[keep], width, height, window)
    if len(people) == 1:
        return own, 0.0, None
    others = np.zeros_like(own)
    for j, p in enumerate(people):
        if j != keep:
            np.maximum(others, person_matte(p, width, height, window), out=others)
    mine = own >= 0.5
    overlap = float((mine & (others >= 0.5)).sum() / max(int(mine.sum()), 1))
    won = others > own
    matte = np.where(won, 0.0, own).astype(np.float32)
    return matte, overlap, np.where(won, others, 0.0).astype(np.float32)


def left_to_right(people: Sequence[PersonDetection]) -> list[int]:
    """Indices of ``people`` ordered by their box centre from left to right (how a photo's
    people are numbered for ``--person N``, 1 = leftmost)."""
    return sorted(range(len(people)), key=lambda i: float(people[i].box[0] + people[i].box[2]))


#: A person the landmark model finds with more than this share of their mask on the pixels
#: :func:`without_others` painted out is the one painted out, drawn again (dev seed 101: a
#: crosser out of sight behind the performer was "found" there with 0.76-0.96 of the mask on
#: them, presence up to 1.0; real sightings of the crosser half behind them: 0.00-0.47).
MAX_ON_PAINTED = 0.6
#: The grey that stands in for the people already found in a frame where the landmark model
#: looks for someone else (:func:`without_others`).
OTHERS_FILL = 127


def without_others(
    rgb: np.ndarray, roi: np.ndarray, others: list[PersonDetection]
) -> tuple[np.ndarray, np.ndarray | None]:
    """``rgb`` with the pixels of ``others`` (their masks >= 0.5) inside region ``roi``'s
    window painted :data:`OTHERS_FILL` (``rgb`` itself when none is there), and where it
    was painted ((H, W) bool, None where nowhere). The landmark model finds the most
    prominent person in its region: a person half behind another is found only once the
    one in front is out of the picture (dev seed 101: a crosser
    behind the performer's raised arms, presence 0.02-0.49 on the frame, 0.84-0.98 with
    the performer painted out)."""
    h, w = rgb.shape[:2]
    probe = PersonDetection(np.zeros(4), 0.0, 0.0, np.zeros((0, 5)), np.asarray(roi))
    window = region_window(probe, w, h)
    x0, y0, x1, y1 = window
    out, painted = rgb, None
    for p in others:
        if p.segmentation is None or x1 <= x0 or y1 <= y0:
            continue
        covered = person_matte(p, w, h, window) >= 0.5
        if covered.any():
            if painted is None:
                out, painted = rgb.copy(), np.zeros((h, w), bool)
            out[y0:y1, x0:x1][covered] = OTHERS_FILL
            painted[y0:y1, x0:x1] |= covered
    return out, painted


def on_painted(person: PersonDetection, painted: np.ndarray | None) -> float:
    """The share of ``person``'s mask (>= 0.5) on the ``painted`` pixels of
    :func:`without_others` (0 without any)."""
    if painted is None or person.segmentation is None:
        return 0.0
    h, w = painted.shape
    x0, y0, x1, y1 = region_window(person, w, h)
    mine = person_matte(person, w, h, (x0, y0, x1, y1)) >= 0.5
    return float((mine & painted[y0:y1, x0:x1]).sum() / max(mine.sum(), 1))
