"""One set of CLI options (issue 21): each flag means one thing in hpt-data, hpt-model and
hpt; the old spellings still work for a release and warn; stage commands run through the
orchestrator; hpt-model train reads a settings file plus typed overrides; the README's
option tables are the ones the code makes."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import hpt_data.orchestrator
import hpt_model.training
import pipelines.cli
from hpt_data.cli import app as data_app
from hpt_data.errors import HptError
from hpt_data.stages import STAGE_NAMES
from hpt_model.cli import app as model_app
from hpt_model.errors import ModelError
from hpt_model.overrides import parse_assignments, read_settings_file
from hpt_model.renamed_flags import Renamed, RenamingCommand, rewrite
from hpt_model.training import TrainSettings
from pipelines.cli import app as hpt_app
from pipelines.cli_docs import BEGIN, END, README, clis, flags, render_options

runner = CliRunner()


def test_readme_option_tables_are_the_ones_the_code_makes() -> None:
    table = README.read_text().split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == render_options(), "run: python -m pipelines.cli_docs"


def test_each_short_and_long_flag_means_one_thing_in_all_three_clis() -> None:
    longs_of_short: dict[str, set[str]] = defaultdict(set)
    shorts_of_long: dict[str, set[str | None]] = defaultdict(set)
    kinds_of_long: dict[str, set[str]] = defaultdict(set)
    for flag in flags():
        if flag.short:
            longs_of_short[flag.short].add(flag.long)
        shorts_of_long[flag.long].add(flag.short)
        kinds_of_long[flag.long].add(flag.value.removesuffix(", repeatable"))
    assert {s: ls for s, ls in longs_of_short.items() if len(ls) > 1} == {}
    assert {lf: ss for lf, ss in shorts_of_long.items() if len(ss - {None}) > 1} == {}
    assert {lf: ks for lf, ks in kinds_of_long.items() if len(ks) > 1} == {}


def test_the_flags_the_issue_named_have_one_meaning() -> None:
    where: dict[str, set[str]] = defaultdict(set)
    for flag in flags():
        where[flag.long].add(flag.cli)
        if flag.short:
            where[flag.short].add(flag.cli)
    assert where["--config"] == where["-c"] == {"hpt-data"}  # a datasets.yaml
    assert where["--dataset"] == where["-d"] == {"hpt-data"}
    assert where["--workers"] == where["-w"] == {"hpt-data"}  # processes
    assert where["--model-config"] == where["-m"] == {"hpt-model", "hpt"}
    assert where["--loader-workers"] == {"hpt-model", "hpt"}
    assert where["--data"] == {"hpt-data", "hpt-model", "hpt"}  # a shard folder
    assert "-s" in where and all(
        f.long == "--stage" for f in flags() if f.short == "-s"
    )  # --source has no short flag


def test_an_old_spelling_is_no_live_flag_of_its_command_and_its_new_one_is() -> None:
    for cli, group in clis().items():
        for name, command in group.commands.items():
            if not isinstance(command, RenamingCommand):
                continue
            live = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
            for old in command.renamed:
                assert old.old not in live, (cli, name, old.old)
                assert old.new in live, (cli, name, old.new)
                if old.field is not None:
                    parse_assignments([f"{old.field}={old.value or '1'}"], TrainSettings)


# --------------------------------------------------------------------------- hpt-data


def test_a_stage_command_runs_through_the_orchestrators_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "videos").mkdir()
    config = tmp_path / "datasets.yaml"
    config.write_text(
        "version: 1\nwork_root: work\ndatasets:\n  clips:\n    source: video_folder\n"
        "    root: videos\n"
    )
    calls: list[dict[str, Any]] = []

    def fake_build(ds: Any, executor: Any, **kwargs: Any) -> Any:
        calls.append({"dataset": ds.config.name, **kwargs})
        return hpt_data.orchestrator.BuildReport([], [])

    monkeypatch.setattr(hpt_data.orchestrator, "build", fake_build)
    assert set(STAGE_NAMES) <= set(clis()["hpt-data"].commands)
    for stage in STAGE_NAMES:
        args = [stage, "-c", str(config), "-d", "clips", "-w", "1", "-n", "3", "--force", "-q"]
        result = runner.invoke(data_app, args)
        assert result.exit_code == 0, result.output
    assert calls == [
        {
            "dataset": "clips",
            "stages": [s],
            "limit": 3,
            "force": True,
            "progress": False,
            "fuse_stages": False,
        }
        for s in STAGE_NAMES
    ]


# --------------------------------------------------------------------------- hpt-model


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list[TrainSettings]:
    """The settings ``hpt-model train`` would train with (training itself stubbed)."""
    seen: list[TrainSettings] = []

    def fake_train(settings: TrainSettings, config: Any) -> Any:
        seen.append(settings)
        raise HptError("stopped by the test")

    monkeypatch.setattr(hpt_model.training, "train", fake_train)
    return seen


def test_train_reads_a_settings_file_then_options_then_set(
    tmp_path: Path, trained: list[TrainSettings]
) -> None:
    settings = tmp_path / "coarse.yaml"
    settings.write_text("stage: coarse\nepochs: 3\nlog_every: 7\nout: runs/a\nseed: 1\n")
    args = ["train", "--settings", str(settings), "-m", "tiny", "--epochs", "5"]
    args += ["--set", "seed=9", "--set", "init=none", "--set", "compile=yes", "-q"]
    result = runner.invoke(model_app, args)
    assert result.stderr.strip() == "error: stopped by the test"
    (s,) = trained
    assert (s.stage, s.epochs, s.log_every, s.out, s.seed) == ("coarse", 5, 7, Path("runs/a"), 9)
    assert s.init is None and s.compile is True and s.progress is False


def test_old_train_spellings_still_work_and_warn(trained: list[TrainSettings]) -> None:
    args = ["train", "-s", "fine", "-d", "shards", "--config", "tiny", "-w", "0"]
    args += ["--log-every", "3", "--no-tensorboard", "--precision=bf16", "--compile"]
    result = runner.invoke(model_app, args)
    (s,) = trained
    assert (s.stage, s.data, s.num_workers, s.log_every) == ("fine", Path("shards"), 0, 3)
    assert (s.tensorboard, s.precision, s.compile) == (False, "bf16", True)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: -d is renamed --data; the old name goes in the next release",
        "warning: --config is renamed --model-config; the old name goes in the next release",
        "warning: -w is renamed --loader-workers; the old name goes in the next release",
        "warning: --log-every is renamed --set log_every=VALUE; the old name goes in the next "
        "release",
        "warning: --no-tensorboard is renamed --set tensorboard=false; the old name goes in "
        "the next release",
        "warning: --precision is renamed --set precision=VALUE; the old name goes in the next "
        "release",
        "warning: --compile is renamed --set compile=true; the old name goes in the next release",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--set", "log_evry=3"],
            "--set log_evry=3: unknown TrainSettings key 'log_evry'; did you mean log_every",
        ),
        (["--set", "epochs=three"], "--set epochs=three: expected int"),
        (["--set", "compile=maybe"], "--set compile=maybe: expected bool"),
        (["--set", "epochs"], "--set epochs: expected KEY=VALUE"),
        (["--epochs", "2", "--set", "epochs=3"], "epochs is given twice: --epochs and --set"),
        ([], "no stage: pass --stage"),
    ],
)
def test_train_settings_errors_are_one_line(
    extra: list[str], message: str, trained: list[TrainSettings]
) -> None:
    result = runner.invoke(model_app, ["train", *extra])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines
    assert trained == []


def test_a_settings_file_names_an_unknown_key_and_reads_json(tmp_path: Path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text('{"stage": "coarse", "batchsize": 2}')
    with pytest.raises(ModelError, match=r"unknown TrainSettings key 'batchsize'; did you mean"):
        read_settings_file(bad, TrainSettings)
    bad.write_text("stage: coarse\ndata: 12\n")
    with pytest.raises(ModelError, match=r"data: expected pathlib.Path \| None, got 12"):
        read_settings_file(bad, TrainSettings)
    good = tmp_path / "t.json"
    good.write_text('{"stage": "coarse", "batch_size": 2}')
    assert read_settings_file(good, TrainSettings) == {"stage": "coarse", "batch_size": 2}


def test_rewrite_leaves_values_and_everything_after_a_double_dash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    renamed = [Renamed("-s", "--source"), Renamed("--log-every", field="log_every")]
    args = ["-s", "a.png", "--log-every=2", "--out", "x", "--", "-s"]
    assert rewrite(args, renamed) == [
        "--source",
        "a.png",
        "--set",
        "log_every=2",
        "--out",
        "x",
        "--",
        "-s",
    ]
    assert capsys.readouterr().err.count("warning: ") == 2


# --------------------------------------------------------------------------- hpt


def test_old_hpt_spellings_still_work_and_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[pipelines.cli.ModelOptions] = []

    def fake_load(self: pipelines.cli.ModelOptions) -> Any:
        loaded.append(self)
        raise HptError("stopped by the test")

    monkeypatch.setattr(pipelines.cli.ModelOptions, "load", fake_load)
    args = ["transfer", "-s", "photo.png", "--target-named", "crossed_arms", "-c", "tiny:H+S"]
    result = runner.invoke(hpt_app, [*args, "--allow-random-model", "--seed", "4", "-q"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "warning: -s is renamed --source; the old name goes in the next release",
        "warning: -c is renamed --model-config; the old name goes in the next release",
        "error: stopped by the test",
    ]
    assert loaded == [
        pipelines.cli.ModelOptions(model_config="tiny:H+S", allow_random_model=True, seed=4)
    ]
    result = runner.invoke(hpt_app, ["eval", "--data", ".", "--out", "o", "--workers", "2"])
    assert result.stderr.splitlines()[0].startswith("warning: --workers is renamed --loader-")
    assert result.stderr.splitlines()[1].startswith("error: nothing to evaluate")
