"""``hpt-model train-all``: every stage of one Table IV row in the paper's order (§IV-B:
coarse, then the part layers on the trained coarse generator, then all sub-networks
end to end), each stage with its share of one wall-clock budget
(:mod:`~hpt_model.training.budget`), each starting from the earlier stages' ``final.pt``.

The shares are set in steps, not in wall clock: each stage's seconds per step are
measured first (:mod:`~hpt_model.training.probe`, a few steps each on random weights), and
stage s gets the budget share ``weight[s] × seconds_per_step[s]`` (normalised), so that
the stages' step counts stand in the ratio of the step weights (:data:`STEP_WEIGHTS`,
``--step-weights``) whatever each step costs (docs/training.md, "Budget shares").

Run folders: ``OUT/<stage>/`` as ``hpt-model train`` writes them, and ``OUT/plan.json``
(the model config and the budget). Running the same command again resumes: stages with a
``final.pt`` are skipped, a stage with only ``last.pt`` continues from it (``--resume``),
the others start. A run folder made with another model config is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpt_model.checkpoints import FINAL, LAST
from hpt_model.config import HPTConfig
from hpt_model.errors import TrainingError
from hpt_model.training.budget import BUDGET_CLOCKS
from hpt_model.training.loop import TrainResult, train
from hpt_model.training.probe import probe_step_seconds
from hpt_model.training.settings import TrainSettings

logger = logging.getLogger(__name__)

#: Steps per stage relative to one another, by name (``train-all --step-weights``).
#: ``paper``: §IV-B's epochs (coarse 10, each layer 20, e2e 10). ``short``, the default: the
#: same between the layers and e2e, and the coarse generator, which every later stage
#: stands on (and which the coarse-only rows train for the whole budget), four times e2e's.
STEP_WEIGHTS: Mapping[str, Mapping[str, float]] = {
    "short": {"coarse": 4, "face": 2, "arm": 2, "leg": 2, "e2e": 1},
    "paper": {"coarse": 1, "face": 2, "arm": 2, "leg": 2, "e2e": 1},
}
DEFAULT_STEP_WEIGHTS = "short"
STEP_WEIGHT = STEP_WEIGHTS[DEFAULT_STEP_WEIGHTS]
PLAN = "plan.json"


def row_stages(config: HPTConfig) -> tuple[str, ...]:
    """The stages of the config's row in the paper's order (no ``fine`` option, no
    ``volume``): ``coarse``; then ``face``, ``arm``, ``leg`` with part layers; ``e2e`` with F."""
    return tuple(s for s in config.variant.stages() if s in STEP_WEIGHT)


def stage_budgets(
    stages: tuple[str, ...],
    seconds: float,
    step_seconds: Mapping[str, float] | None = None,
    weights: Mapping[str, float] = STEP_WEIGHT,
) -> dict[str, float]:
    """``seconds`` split over ``stages`` ∝ ``weights × step_seconds`` (equal step costs
    when None), so that the step counts stand in the ratio of ``weights``."""
    cost = {s: weights[s] * (1.0 if step_seconds is None else step_seconds[s]) for s in stages}
    total = sum(cost.values())
    return {s: seconds * cost[s] / total for s in stages}


def _read_plan(
    out: Path, config: dict[str, Any], weights: dict[str, float]
) -> dict[str, Any] | None:
    """``OUT/plan.json`` if there is one (refused when made with another config or other
    step weights)."""
    path = out / PLAN
    if not path.is_file():
        return None
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainingError(f"{path}: not a readable plan ({exc})") from exc
    if old.get("config") != config:
        raise TrainingError(
            f"{path}: this run folder was made with another model config; "
            "use another --out or remove the folder"
        )
    planned = old.get("step_weights", weights)
    if planned != weights:
        raise TrainingError(
            f"{path}: this run folder's budget was split with the step weights {planned}, "
            f"not {weights}; use another --out or the same --step-weights"
        )
    return old


def _write_plan(out: Path, plan: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / PLAN
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(plan, indent=1))
    tmp.replace(path)


def _split_of(run: Path, config: HPTConfig, stages: tuple[str, ...]) -> dict[str, Any]:
    """The plan of another run folder of the same row (``--split-from``), whose step costs
    this run takes instead of measuring its own."""
    path = run / PLAN
    try:
        plan = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainingError(f"--split-from {path}: not a readable plan ({exc})") from exc
    if plan.get("config") != config.to_dict() or set(plan.get("stages", {})) != set(stages):
        raise TrainingError(
            f"--split-from {path}: that run trained another model config; its split does not apply"
        )
    return plan


def _plan_budgets(
    data: Path,
    out: Path,
    config: HPTConfig,
    minutes: float,
    common: Mapping[str, Any],
    split_from: Path | None = None,
    step_weights: str = DEFAULT_STEP_WEIGHTS,
) -> dict[str, float]:
    """Each stage's seconds: from the plan of an earlier run of this folder (its shares, at
    this call's ``minutes``), else from step costs, measured (the probe's time is taken from
    the budget) or those of ``split_from``'s plan, written into a new plan."""
    stages = row_stages(config)
    weights = {s: float(STEP_WEIGHTS[step_weights][s]) for s in stages}
    plan = _read_plan(out, config.to_dict(), weights)
    if plan is not None and set(plan.get("stages", {})) == set(stages):
        total = sum(plan["stages"].values())
        return {s: minutes * 60 * plan["stages"][s] / total for s in stages}
    clock = BUDGET_CLOCKS[str(common.get("budget_clock", "wall"))]
    start = clock()
    step_seconds = None
    if split_from is not None:
        step_seconds = _split_of(split_from, config, stages)["step_seconds"]
    elif len(stages) > 1:
        step_seconds = probe_step_seconds(data, config, stages, common)
        logger.info(
            "seconds per step: %s",
            ", ".join(f"{s} {v:.2f}" for s, v in step_seconds.items()),
        )
    probe_s = clock() - start
    budgets = stage_budgets(stages, max(minutes * 60 - probe_s, 1.0), step_seconds, weights)
    _write_plan(
        out,
        {
            "config": config.to_dict(),
            "minutes": minutes,
            "stages": budgets,
            "step_weights": weights,
            "step_weights_name": step_weights,
            "step_seconds": step_seconds,
            "probe_s": round(probe_s, 2),
            "split_from": None if split_from is None else str(split_from),
        },
    )
    return budgets


def train_all(
    data: Path,
    out: Path,
    config: HPTConfig,
    minutes: float,
    common: Mapping[str, Any] | None = None,
    split_from: Path | None = None,
    step_weights: str = DEFAULT_STEP_WEIGHTS,
) -> dict[str, TrainResult | None]:
    """Train every stage of ``config``'s row into ``out/<stage>`` within about ``minutes``.

    ``common``: further TrainSettings fields for every stage (seed, num_workers, ...).
    ``split_from``: a run folder of the same row whose measured step costs split the budget
    (another seed's: the probe's own figures move with the machine's load, and with them
    the stages' shares).
    ``step_weights``: a name in :data:`STEP_WEIGHTS`, the stages' steps relative to one another.
    Returns each stage's result (None for a stage already finished); a stage that stops
    before its end (``stop_after``) ends the sequence there.
    """
    if minutes <= 0:
        raise TrainingError(f"--minutes must be positive, got {minutes}")
    if step_weights not in STEP_WEIGHTS:
        raise TrainingError(
            f"--step-weights {step_weights!r}: not one of {', '.join(STEP_WEIGHTS)}"
        )
    common = dict(common or {})
    stages = row_stages(config)
    if not data.is_dir():
        raise TrainingError(f"--data {data}: no such folder")
    budgets = _plan_budgets(data, out, config, minutes, common, split_from, step_weights)
    finals = {s: out / s / FINAL for s in stages}
    results: dict[str, TrainResult | None] = {}
    for stage in stages:
        folder = out / stage
        if finals[stage].is_file():
            logger.info("%s: done (%s)", stage, finals[stage])
            results[stage] = None
            continue
        earlier = {}
        if stage != "coarse":
            earlier["coarse_checkpoint"] = finals["coarse"]
        if stage == "e2e":
            earlier.update({f"{k}_checkpoint": finals[k] for k in ("face", "arm", "leg")})
        settings = TrainSettings(
            stage=stage,
            data=data,
            out=folder,
            resume=(folder / LAST).is_file(),
            time_budget_s=budgets[stage],
            **earlier,
            **common,
        )
        logger.info(
            "%s: %s, budget %.1f min",
            stage,
            "resuming" if settings.resume else "starting",
            budgets[stage] / 60,
        )
        result = results[stage] = train(settings, config)
        if result.step < result.total_steps:  # stopped early (stop_after): later stages wait
            logger.info(
                "%s: stopped at step %d of %d; run again to resume",
                stage,
                result.step,
                result.total_steps,
            )
            break
    return results
