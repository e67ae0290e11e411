"""One person's matte among several, and how much of it another person claims.

Each person found by :func:`hpt_data.perception.people.find_people` (``masks=True``)
carries the landmark model's own person mask over their region. The kept person's
matte is their mask where it is at least every other person's (a pixel two people claim
goes to the likelier one), so the others' pixels drop out of the crop and are replaced by
the background. The *overlap* is the share of the kept person's own mask (≥ 0.5) that
another person's mask also claims (≥ 0.5): large only where bodies really cross in the
image, not merely when someone else is in view.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpt_data.perception.people import PersonDetection, person_matte


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
    pixels only (:func:`hpt_data.stages.remove_bg.landmark_input`)."""
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
