"""OSA of one generated image (§IV-C): its own single-image fit against the target frame's
fit, through :mod:`pipelines.occlusion`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from pipelines.occlusion.accuracy import occlusion_state_accuracy
from pipelines.occlusion.body import BodyParams
from pipelines.occlusion.states import APART, OcclusionStates, occlusion_states_smpl


@dataclass
class ImageOSA:
    """OSA of one generated image against its target frame's fit.

    ``osa``: the fraction of agreeing part pairs among those overlapping in either body; 0
    when no person was found (``detected`` False, ``note`` says why); NaN when a person was
    found but no pair overlaps in either body (nothing to judge). ``agree`` / ``counted``:
    the pairs behind it (for an undetected image, ``counted`` is the target's overlapping
    pairs, none agreeing).
    """

    osa: float
    detected: bool
    agree: int
    counted: int
    note: str = ""


def target_params(batch: dict[str, Any], i: int) -> BodyParams:
    """The target frame's fit (item ``i`` of a PairDataset batch) as OSA's BodyParams."""

    def arr(key: str) -> np.ndarray:
        value = batch[key][i]
        value = value.detach().cpu().numpy() if isinstance(value, Tensor) else value
        return np.asarray(value, np.float64)

    # a perspective fit's distance, where the shards carry it (0 = weak perspective)
    extra = {}
    if "target_camera_distance" in batch:
        extra["camera_distance"] = float(arr("target_camera_distance"))
    return BodyParams(
        global_orient=arr("target_global_orient"),
        body_pose=arr("target_body_pose").reshape(-1),
        camera=arr("target_camera"),
        betas=arr("target_betas"),
        **extra,
    )


def image_osa(
    generated: np.ndarray,
    target: BodyParams,
    body_model: Any,
    *,
    target_states: OcclusionStates | None = None,
    fit_settings: Any = None,
) -> ImageOSA:
    """OSA of a generated image (the docstring of ``pipelines.occlusion`` leaves this
    signature).

    Parameters
    ----------
    generated : (H, W, 3) uint8 BGR, square: the generated target crop (any size; the
        perception works at 1024).
    target : the target frame's fit.
    body_model : ``hpt_data.body.BodyModel`` that posed both fits.
    target_states : the target's states when already computed (they do not depend on
        the generated image).
    fit_settings : ``FitSMPLSettings`` of the fit; the stage's defaults when None.
    """
    from pipelines.perceive import PerceptionError, perceive

    gt = target_states if target_states is not None else occlusion_states_smpl(body_model, target)
    try:
        fit = BodyParams.from_fit(perceive(generated, crop=False, fit=fit_settings))
    except PerceptionError as exc:
        counted = int((gt.states != APART).sum())
        return ImageOSA(0.0, False, 0, counted, str(exc).splitlines()[0])
    pred = occlusion_states_smpl(body_model, fit)
    counted_mask = (pred.states != APART) | (gt.states != APART)
    agree = int((pred.states[counted_mask] == gt.states[counted_mask]).sum())
    return ImageOSA(occlusion_state_accuracy(pred, gt), True, agree, int(counted_mask.sum()), "")
