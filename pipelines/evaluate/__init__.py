"""Evaluation of trained generators on a test split (§IV-C, Tables II and IV): SSIM, LPIPS
and Occlusion State Accuracy per image, a Table II-like table and a grid of results.

For every test pair of the shards (:class:`~hpt_model.data.PairDataset` on the split: the
split's stored pair list where the shards have one, exactly and in its order, else pairs
sampled with a seed; the first ``limit`` of them) each evaluated model generates the target from the
source (:func:`hpt_model.inference.run_transfer`, as far as its Table IV variant goes), and
the result is compared with the target frame, both at the model's output resolution (the
config's fine size; the 1024 ground truth is area-averaged down to it, as the training's
inputs are):

- SSIM (:func:`hpt_model.metrics.ssim.ssim`) and LPIPS (:mod:`hpt_model.metrics.lpips`) on
  the result clamped to [-1, 1];
- OSA (:func:`image_osa`): the result as uint8 goes through the project's single-image
  perception and fit (:func:`pipelines.perceive.perceive` with ``crop=False``: the result
  *is* the target crop, so its fit lives in the target frame's normalised coordinates) and
  :mod:`pipelines.occlusion` compares its occlusion states with those of the target frame's
  own fit (the shard's ``body_pose``, ``global_orient``, ``betas``, ``camera``). A result in
  which no person (or too few landmarks) is found scores 0 and counts as not detected.

The oracle (``ModelSpec`` with no generators) feeds the ground truth itself as the result:
SSIM 1 and LPIPS 0 by construction, and its OSA is the ceiling the fitter allows.

:func:`evaluate` writes ``metrics.json`` (settings, a summary and every image's scores per
model), ``table.md`` (one row per model) and ``grid.png`` (source, target pose, each model,
ground truth for the first pairs). ``docs/evaluation.md`` ("The ``eval`` command") is the
user's view. This lives in ``pipelines`` rather than ``hpt_model`` because OSA needs
``hpt_data``'s fitter, detector and renderer (DESIGN.md's import rule).

One module per concern: :mod:`~pipelines.evaluate.osa` (OSA of one image),
:mod:`~pipelines.evaluate.models` (the table's rows and the LPIPS network),
:mod:`~pipelines.evaluate.run` (settings, the loop over pairs and models, the summary),
:mod:`~pipelines.evaluate.report` (``metrics.json``, ``table.md``, ``grid.png``). A row's
generators come from :func:`hpt_model.checkpoints.load_generators`, which reads a Table IV
row's run folder.
"""

from pipelines.evaluate.models import (
    ORACLE,
    LpipsMetric,
    ModelResult,
    ModelSpec,
    load_metric_lpips,
    name_models,
)
from pipelines.evaluate.osa import ImageOSA, image_osa, target_params
from pipelines.evaluate.report import GRID_HEADER, pose_tile, render_table
from pipelines.evaluate.run import EvalResult, EvalSettings, evaluate, summarize

__all__ = [
    "GRID_HEADER",
    "ORACLE",
    "EvalResult",
    "EvalSettings",
    "ImageOSA",
    "LpipsMetric",
    "ModelResult",
    "ModelSpec",
    "evaluate",
    "image_osa",
    "load_metric_lpips",
    "name_models",
    "pose_tile",
    "render_table",
    "summarize",
    "target_params",
]
