"""``hpt-model train-all`` (every stage of a row in the paper's order, each with a share of
one wall-clock budget, resumable) and the wall budget that sets a stage's length."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from train_records import small_config, write_config, write_train_shards
from typer.testing import CliRunner

from hpt_model.cli import app
from hpt_model.config import HPTConfig
from hpt_model.errors import TrainingError
from hpt_model.training.all_stages import STEP_WEIGHTS, row_stages, stage_budgets
from hpt_model.training.budget import WallBudget
from hpt_model.training.settings import TrainSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_fits_the_measured_speed_in_the_rest_of_the_time() -> None:
    clock = FakeClock()
    budget = WallBudget(60.0, calibrate_steps=4, clock=clock)
    clock.now += 5.0  # first step: set-up, not timed
    assert budget.after_step(1, 10_000) is None
    for step in range(2, 5):
        clock.now += 0.5
        assert budget.after_step(step, 10_000) is None
    clock.now += 0.5  # 4 steps in 2 s after the first: 2 steps/s; 53 s of 60 left
    assert budget.after_step(5, 10_000) == 5 + 106
    capped = WallBudget(60.0, calibrate_steps=1, clock=clock)
    capped.after_step(1, 50)
    clock.now += 0.01
    assert capped.after_step(2, 50) == 50  # never beyond the epochs' steps
    late = WallBudget(1.0, calibrate_steps=1, clock=clock)
    late.after_step(1, 50)
    clock.now += 5.0
    assert late.after_step(2, 50) == 2  # out of time: ends at once


def test_rows_train_their_stages_in_the_papers_order_with_shares_of_the_budget() -> None:
    assert row_stages(HPTConfig.small()) == ("coarse", "face", "arm", "leg", "e2e")
    assert row_stages(HPTConfig.small("H")) == ("coarse",)
    assert row_stages(HPTConfig.small("H+S+D+PL")) == ("coarse", "face", "arm", "leg")
    stages = ("coarse", "face", "arm", "leg", "e2e")
    budgets = stage_budgets(stages, 600.0)  # equal step costs: the weights 4:2:2:2:1
    assert budgets["coarse"] == pytest.approx(600.0 * 4 / 11)
    assert budgets["e2e"] == pytest.approx(600.0 / 11)
    # an e2e step costing ten coarse steps: 4·1 + 2·0.5 + 2·1 + 2·2 + 1·10 = 21 parts
    seconds = {"coarse": 1.0, "face": 0.5, "arm": 1.0, "leg": 2.0, "e2e": 10.0}
    budgets = stage_budgets(stages, 630.0, seconds)
    assert sum(budgets.values()) == pytest.approx(630.0)
    assert budgets["e2e"] == pytest.approx(300.0) and budgets["coarse"] == pytest.approx(120.0)
    steps = {s: budgets[s] / seconds[s] for s in stages}  # 120 : 60 : 60 : 60 : 30
    assert steps["coarse"] == pytest.approx(4 * steps["e2e"])
    assert steps["leg"] == pytest.approx(steps["face"]) == pytest.approx(2 * steps["e2e"])
    assert stage_budgets(("coarse",), 600.0) == {"coarse": 600.0}


def _train_all(shards: Path, out: Path, config: Path, *extra: str):
    args = ["train-all", "--data", str(shards), "--out", str(out), "--model-config", str(config)]
    args += [] if "--minutes" in extra else ["--minutes", "5"]
    args += ["--allow-random-vgg", "--quiet", "--set", "num_workers=0"]
    args += ["--set", "tensorboard=false", "--set", "epochs=1", "--set", "device=cpu", *extra]
    return CliRunner().invoke(app, args)


def test_train_all_runs_every_stage_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    shards = write_train_shards(tmp_path / "shards", persons=2, frames=2)
    config = write_config(tmp_path / "config.json", small_config())
    out = tmp_path / "run"
    first = _train_all(shards, out, config, "--set", "stop_after=2")
    assert first.exit_code == 0, first.output
    assert (out / "coarse" / "last.pt").is_file()
    assert not (out / "coarse" / "final.pt").exists() and not (out / "face").exists()
    assert "coarse: step 2/4" in first.output

    again = _train_all(shards, out, config)  # resumes coarse, then the rest
    assert again.exit_code == 0, again.output
    for stage in ("coarse", "face", "arm", "leg", "e2e"):
        state = torch.load(out / stage / "final.pt", map_location="cpu", weights_only=True)
        assert state["step"] == state["total_steps"] == 4, stage
        assert state["length_fixed"] is False  # 4 steps end before the budget is measured
    plan = json.loads((out / "plan.json").read_text())
    assert set(plan["stages"]) == {"coarse", "face", "arm", "leg", "e2e"}
    assert set(plan["step_seconds"]) == set(plan["stages"])  # measured before the split
    assert all(v > 0 for v in plan["step_seconds"].values())
    assert sum(plan["stages"].values()) <= 5 * 60  # the probe's time comes off the budget

    done = _train_all(shards, out, config)
    assert done.exit_code == 0 and done.output.count("done before") == 5, done.output

    other = write_config(tmp_path / "other.json", small_config(lambda_fm=3.0))
    refused = _train_all(shards, out, other)
    assert refused.exit_code == 2
    assert "another model config" in refused.output


def test_seeds_can_share_one_split_of_the_budget(tmp_path: Path) -> None:
    """--split-from takes another run's measured step costs instead of probing again (the
    probe's figures move with the load, and the stages' shares with them)."""
    shards = write_train_shards(tmp_path / "shards", persons=2, frames=2)
    config = write_config(tmp_path / "config.json", small_config())
    first, second = tmp_path / "seed0", tmp_path / "seed1"
    assert _train_all(shards, first, config, "--set", "stop_after=1").exit_code == 0
    shared = _train_all(shards, second, config, "--split-from", str(first), "--set", "stop_after=1")
    assert shared.exit_code == 0, shared.output
    plans = [json.loads((run / "plan.json").read_text()) for run in (first, second)]
    assert plans[1]["step_seconds"] == plans[0]["step_seconds"]
    assert plans[0]["split_from"] is None and plans[1]["split_from"] == str(first)
    shares = [{s: v / sum(p["stages"].values()) for s, v in p["stages"].items()} for p in plans]
    assert shares[1] == pytest.approx(shares[0], rel=1e-9)
    other = write_config(tmp_path / "other.json", small_config(lambda_fm=3.0))
    refused = _train_all(shards, tmp_path / "x", other, "--split-from", str(first))
    assert refused.exit_code == 2 and "that run trained another model config" in refused.output
    missing = _train_all(shards, tmp_path / "y", config, "--split-from", str(tmp_path))
    assert missing.exit_code == 2 and "not a readable plan" in missing.output


def test_step_weights_set_the_stages_steps_relative_to_one_another(tmp_path: Path) -> None:
    """--step-weights paper gives the coarse generator the paper's 10 epochs to the layers'
    20 (1:2), where the default gives it 4:2; a run folder keeps the weights it began with."""
    stages = ("coarse", "face", "arm", "leg", "e2e")
    seconds = {"coarse": 1.0, "face": 0.5, "arm": 1.0, "leg": 2.0, "e2e": 10.0}
    paper = stage_budgets(stages, 600.0, seconds, STEP_WEIGHTS["paper"])
    steps = {s: paper[s] / seconds[s] for s in stages}
    assert steps["coarse"] == pytest.approx(steps["e2e"]) == pytest.approx(steps["arm"] / 2)
    shards = write_train_shards(tmp_path / "shards", persons=2, frames=2)
    config = write_config(tmp_path / "config.json", small_config())
    out = tmp_path / "run"
    first = _train_all(shards, out, config, "--step-weights", "paper", "--set", "stop_after=1")
    assert first.exit_code == 0, first.output
    plan = json.loads((out / "plan.json").read_text())
    assert plan["step_weights"] == {"coarse": 1, "face": 2, "arm": 2, "leg": 2, "e2e": 1}
    assert plan["step_weights_name"] == "paper"
    measured = {s: plan["stages"][s] / plan["step_seconds"][s] for s in stages}
    assert measured["face"] == pytest.approx(2 * measured["coarse"], rel=1e-9)
    other = _train_all(shards, out, config, "--set", "stop_after=1")  # the default: short
    assert other.exit_code == 2 and "split with the step weights" in other.output
    unknown = _train_all(shards, tmp_path / "x", config, "--step-weights", "long")
    assert unknown.exit_code == 2 and "'long': not one of short, paper" in unknown.output


def test_a_budget_fixes_the_length_and_resume_keeps_it(tmp_path: Path) -> None:
    shards = write_train_shards(tmp_path / "shards", persons=2, frames=2)
    row = small_config().to_dict()
    row["variant"] = {"maps": ["H"], "layers": "none", "fusion": False}  # coarse only
    config = tmp_path / "h.json"
    config.write_text(json.dumps(row))
    out = tmp_path / "run"
    # 50 epochs of 4 pairs (200 steps) do not fit 0.6 s: the length is set after 2 timed steps
    budget = ("--minutes", "0.01", "--set", "epochs=50", "--set", "calibrate_steps=2")
    torch.set_num_threads(2)  # --set threads=1 is honoured (the fixture restores it)
    first = _train_all(shards, out, config, *budget, "--set", "stop_after=4", "--set", "threads=1")
    assert first.exit_code == 0, first.output
    assert torch.get_num_threads() == 1
    state = torch.load(out / "coarse" / "last.pt", map_location="cpu", weights_only=True)
    assert state["length_fixed"] is True
    fixed = state["total_steps"]
    assert 3 <= fixed < 200
    again = _train_all(shards, out, config, *budget)  # resumes to the same length
    assert again.exit_code == 0, again.output
    final = torch.load(out / "coarse" / "final.pt", map_location="cpu", weights_only=True)
    assert final["step"] == final["total_steps"] == fixed


def test_a_cpu_budget_does_not_count_time_spent_waiting() -> None:
    """budget_clock: cpu counts this process's CPU seconds: a run that waits (a machine
    loaded by others) is given the steps its compute fits, not fewer; the wall clock counts
    the waits."""
    from hpt_model.training.budget import BUDGET_CLOCKS

    totals = {}
    for name in ("wall", "cpu"):
        budget = WallBudget(0.5, calibrate_steps=2, clock=BUDGET_CLOCKS[name])
        for step in range(1, 4):
            time.sleep(0.1)  # waiting, as behind other jobs: no CPU time
            total = budget.after_step(step, 10_000)
        totals[name] = total
    assert totals["wall"] is not None and totals["wall"] <= 5  # 0.3 s of 0.5 gone waiting
    assert totals["cpu"] is not None and totals["cpu"] >= 50  # steps of ~no CPU: many fit
    with pytest.raises(TrainingError, match="budget_clock"):
        TrainSettings(stage="coarse", budget_clock="gpu")
