"""The ``hpt-model`` and ``hpt`` commands print a user-facing error (``HptError``) as one
line with exit status 2, and let anything else, a bug, escape with its traceback rather
than disguise it as a one-line 'error'."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import hpt_model.config
import pipelines.targets
from hpt_data.errors import HptError
from hpt_model.cli import app as model_app
from hpt_model.errors import (
    CheckpointError,
    MissingWeightsError,
    ModelConfigError,
    TrainingError,
    WeightsFileError,
)
from pipelines.cli import app as hpt_app
from pipelines.perceive import PerceptionError
from pipelines.targets import TargetError

runner = CliRunner()


def _raiser(exc: Exception):
    def raise_it(*args, **kwargs):
        raise exc

    return raise_it


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_every_user_facing_error_is_an_hpt_error() -> None:
    for cls in (
        CheckpointError,
        MissingWeightsError,
        ModelConfigError,
        TrainingError,
        WeightsFileError,
        PerceptionError,
        TargetError,
    ):
        assert issubclass(cls, HptError), cls


@pytest.mark.parametrize(
    "command",
    [
        (
            "model",
            ["train", "--stage", "coarse", "--model-config", "tiny"],
            hpt_model.config,
            "load_config",
        ),
        (
            "hpt",
            ["transfer", "--source", "photo.png", "--target-named", "x", "-q"],
            pipelines.targets,
            "named_target",
        ),
    ],
    ids=["hpt-model train", "hpt transfer"],
)
def test_a_bug_shows_its_traceback_and_a_user_error_one_line(
    command, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    which, args, module, name = command
    app = model_app if which == "model" else hpt_app
    args = [*args, "--out", str(tmp_path / "out")]

    monkeypatch.setattr(module, name, _raiser(ValueError("a bug: index 3 out of range")))
    result = runner.invoke(app, args)
    assert isinstance(result.exception, ValueError), result.output
    assert result.exit_code != 2 and "error: a bug" not in result.output

    monkeypatch.setattr(module, name, _raiser(HptError("bad input: named file\ndetails")))
    line = _one_error_line(runner.invoke(app, args))
    assert line == "error: bad input: named file"
