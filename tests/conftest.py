"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from stages_for_tests import TINY_DATASET
from typer.testing import CliRunner

from hpt_data.cli import app


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests (``pytest.mark.usefixtures``): two OpenMP threads
    on two shared cores spin against each other, up to 50× slower here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``datasets.yaml`` of a tiny synthetic dataset (two people, four frames each) built
    through every stage into shards, once per test session; the work folder is beside it
    (``work/tiny``). Real renders, detectors, fits, maps and volumes: the data the model
    package trains on, at a size a CPU test can afford."""
    root = tmp_path_factory.mktemp("tiny_dataset")
    config = root / "datasets.yaml"
    config.write_text(TINY_DATASET)
    result = CliRunner().invoke(app, ["build", "-c", str(config), "-d", "tiny", "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "write-shards   frames written:" in result.stdout
    return config
