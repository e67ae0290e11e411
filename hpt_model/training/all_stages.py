"""``hpt-model train-all``: every stage of one Table IV row in the paper's order (§IV-B:
coarse, then the part layers on the trained coarse generator, then all sub-networks
end to end), each stage with its share of one wall-clock budget
(:mod:`~hpt_model.training.budget`), each starting from the earlier stages' ``final.pt``.

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
from hpt_model.training.loop import TrainResult, train
from hpt_model.training.settings import TrainSettings

logger = logging.getLogger(__name__)

#: Share of the budget per stage (renormalised over a row's stages): the coarse and
#: end-to-end stages are the slow, important ones; the face layer is the cheapest.
STAGE_SHARE: Mapping[str, float] = {"coarse": 3, "face": 1, "arm": 1.5, "leg": 1.5, "e2e": 3}
PLAN = "plan.json"


def row_stages(config: HPTConfig) -> tuple[str, ...]:
    """The stages of the config's row in the paper's order (no ``fine`` option, no
    ``volume``): ``coarse``; then ``face``, ``arm``, ``leg`` with part layers; ``e2e`` with F."""
    return tuple(s for s in config.variant.stages() if s in STAGE_SHARE)


def stage_budgets(stages: tuple[str, ...], seconds: float) -> dict[str, float]:
    """``seconds`` split over ``stages`` by :data:`STAGE_SHARE`."""
    weight = sum(STAGE_SHARE[s] for s in stages)
    return {s: seconds * STAGE_SHARE[s] / weight for s in stages}


def _check_plan(out: Path, plan: dict[str, Any]) -> None:
    """Write ``OUT/plan.json``, or refuse when the folder was made with another config."""
    path = out / PLAN
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TrainingError(f"{path}: not a readable plan ({exc})") from exc
        if old.get("config") != plan["config"]:
            raise TrainingError(
                f"{path}: this run folder was made with another model config; "
                "use another --out or remove the folder"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(plan, indent=1))
    tmp.replace(path)


def train_all(
    data: Path,
    out: Path,
    config: HPTConfig,
    minutes: float,
    common: Mapping[str, Any] | None = None,
) -> dict[str, TrainResult | None]:
    """Train every stage of ``config``'s row into ``out/<stage>`` within about ``minutes``.

    ``common``: further TrainSettings fields for every stage (seed, num_workers, ...).
    Returns each stage's result (None for a stage already finished); a stage that stops
    before its end (``stop_after``) ends the sequence there.
    """
    if minutes <= 0:
        raise TrainingError(f"--minutes must be positive, got {minutes}")
    common = dict(common or {})
    stages = row_stages(config)
    budgets = stage_budgets(stages, minutes * 60)
    _check_plan(out, {"config": config.to_dict(), "minutes": minutes, "stages": budgets})
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
