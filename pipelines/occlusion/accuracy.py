"""Step 4 of OSA: the accuracy of a prediction's occlusion states against the ground
truth's, per image and over a set (an image with no overlapping pair has nothing to judge:
NaN, left out of the mean and counted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from pipelines.occlusion.body import BodyParams
from pipelines.occlusion.part_layers import OSA_SIZE
from pipelines.occlusion.states import (
    APART,
    JUNCTION_RADIUS,
    OcclusionStates,
    occlusion_states_smpl,
)


def occlusion_state_accuracy(pred: OcclusionStates, gt: OcclusionStates) -> float:
    """OSA of one prediction: the fraction of pairs overlapping in either body whose states
    agree; NaN when no pair overlaps in either."""
    mine = (pred.size, pred.min_overlap, pred.junction_radius)
    theirs = (gt.size, gt.min_overlap, gt.junction_radius)
    if mine != theirs:
        raise ValueError(
            f"states made at different settings (size, min_overlap, junction_radius): "
            f"{mine} vs {theirs}"
        )
    counted = (pred.states != APART) | (gt.states != APART)
    if not counted.any():
        return math.nan
    return float((pred.states[counted] == gt.states[counted]).mean())


@dataclass
class OsaSummary:
    """OSA over a set of images.

    Attributes
    ----------
    mean : float
        Mean of the per-image OSA over the images with at least one overlapping pair
        (NaN when none has one).
    pooled : float
        Agreeing pairs over counted pairs, all images together (weights images by their
        number of overlapping pairs).
    n_images, n_without_overlap : int
        Images given; of those, images with no overlapping pair (left out of ``mean``).
    """

    mean: float
    pooled: float
    n_images: int
    n_without_overlap: int


def summarize_osa(pairs: Iterable[tuple[OcclusionStates, OcclusionStates]]) -> OsaSummary:
    """Per-image OSA of (prediction, ground truth) state pairs, averaged (see
    :class:`OsaSummary`)."""
    per_image: list[float] = []
    agree = counted_total = 0
    for pred, gt in pairs:
        osa = occlusion_state_accuracy(pred, gt)
        per_image.append(osa)
        counted = (pred.states != APART) | (gt.states != APART)
        agree += int((pred.states[counted] == gt.states[counted]).sum())
        counted_total += int(counted.sum())
    scored = [a for a in per_image if not math.isnan(a)]
    return OsaSummary(
        mean=float(np.mean(scored)) if scored else math.nan,
        pooled=agree / counted_total if counted_total else math.nan,
        n_images=len(per_image),
        n_without_overlap=len(per_image) - len(scored),
    )


def osa_over_set(
    body_model: Any,
    predictions: Sequence[BodyParams],
    ground_truth: Sequence[BodyParams],
    size: int = OSA_SIZE,
    min_overlap: int | None = None,
    junction_radius: float = JUNCTION_RADIUS,
    progress: bool = True,
) -> tuple[list[float], OsaSummary]:
    """OSA of each prediction against its ground truth, and their summary.

    Returns
    -------
    per_image : list of float
        NaN for an image with no overlapping pair in either body.
    summary : OsaSummary
    """
    if len(predictions) != len(ground_truth):
        raise ValueError(
            f"{len(predictions)} predictions but {len(ground_truth)} ground-truth bodies"
        )
    pairs = []
    for pred, gt in tqdm(
        zip(predictions, ground_truth, strict=True),
        total=len(predictions),
        desc="OSA",
        unit="img",
        disable=not progress,
    ):
        pairs.append(
            (
                occlusion_states_smpl(body_model, pred, size, min_overlap, junction_radius),
                occlusion_states_smpl(body_model, gt, size, min_overlap, junction_radius),
            )
        )
    return [occlusion_state_accuracy(p, g) for p, g in pairs], summarize_osa(pairs)
