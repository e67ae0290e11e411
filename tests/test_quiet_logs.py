"""MediaPipe's native log lines (``W0000 ... inference_feedback_manager.cc ...``, absl's
"All log messages before absl::InitializeLog()") stay off the terminal in ``hpt-data``
stages and ``hpt transfer``, and ``--verbose`` lets them through. They are written to fd 2
by C++ code, so only a real run in a subprocess, with its stderr captured, shows them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from stages_for_tests import TINY_DATASET
from typer.testing import CliRunner

from hpt_data.native_logs import VERBOSE_ENV

NATIVE_LINE = re.compile(r"^[WIEF]\d{4} ", re.MULTILINE)
ABSL_PREAMBLE = "All log messages before absl::InitializeLog()"


def run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python ARGS`` in ``cwd``, without a ``HPT_VERBOSE`` from the caller's environment."""
    env = {k: v for k, v in os.environ.items() if k != VERBOSE_ENV}
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def assert_quiet(stderr: str) -> None:
    assert not NATIVE_LINE.search(stderr), stderr
    assert ABSL_PREAMBLE not in stderr, stderr


def hpt_data(folder: Path, *args: str) -> str:
    """``hpt-data ARGS -c datasets.yaml -d tiny -w 1 -q`` in ``folder``; its stderr."""
    argv = ["-m", "hpt_data.cli", *args, "-c", "datasets.yaml", "-d", "tiny", "-w", "1", "-q"]
    return run(argv, folder).stderr


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic dataset (two clips of four frames) through sample-frames, which
    runs no MediaPipe graph in its stride mode."""
    folder = tmp_path_factory.mktemp("quiet")
    # pose2d runs MediaPipe Pose again (not its default, which reuses remove-bg's LiteRT
    # landmarks), so that both native runtimes are heard from; PNG frames, one of which
    # hpt transfer takes as its photo
    detect = "    stages:\n      pose2d: {landmarks: detect}\n"
    detect += "      sample-frames: {image_format: png}\n"
    (folder / "datasets.yaml").write_text(TINY_DATASET + detect)
    hpt_data(folder, "sample-frames")
    return folder


def test_code_that_writes_to_fd_2_keeps_all_but_native_info_and_warning_lines() -> None:
    code = (
        "import os\n"
        "from hpt_data.native_logs import quiet_native_logs\n"
        "with quiet_native_logs():\n"
        "    os.write(2, b'W0000 00:00:1.5    42 a.cc:1] dropped\\nkept\\n')\n"
        "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called\\n')\n"
        "    os.write(2, b'E0000 00:00:1.5    42 a.cc:2] an error, kept\\n')\n"
        "try:\n"
        "    with quiet_native_logs():\n"
        "        os.write(2, b'I0000 00:00:1.5    42 b.cc:3] context of a failure\\n')\n"
        "        raise RuntimeError('boom')\n"
        "except RuntimeError:\n"
        "    pass\n"
    )
    err = run(["-c", code], Path.cwd()).stderr
    assert err.splitlines() == [
        "kept",
        "E0000 00:00:1.5    42 a.cc:2] an error, kept",
        "I0000 00:00:1.5    42 b.cc:3] context of a failure",  # the block raised: all back
    ]


@pytest.mark.slow
def test_stages_that_run_mediapipe_print_no_native_log_line(sampled: Path) -> None:
    assert_quiet(hpt_data(sampled, "remove-bg"))  # the LiteRT detector and landmark model
    assert_quiet(hpt_data(sampled, "pose2d"))  # Pose with tracking: resets per video
    assert (sampled / "work/tiny/videos/p000-walk/pose2d/pose2d.npz").is_file()


@pytest.mark.slow
def test_verbose_lets_the_native_log_lines_through(sampled: Path) -> None:
    hpt_data(sampled, "remove-bg")  # done already, or done here when run alone
    err = hpt_data(sampled, "--verbose", "pose2d", "--force")
    assert NATIVE_LINE.search(err) and ABSL_PREAMBLE in err, err  # so the test above can fail


@pytest.mark.slow
def test_hpt_transfer_prints_no_native_log_line(sampled: Path, tmp_path: Path) -> None:
    photo = sampled / "work/tiny/videos/p000-walk/sample-frames/frames/000000.png"
    args = ["-m", "pipelines.cli", "transfer", "--source", str(photo), "--target-named"]
    args += ["crossed_arms", "-m", "tiny", "--allow-random-model", "--out", str(tmp_path), "-q"]
    assert_quiet(run(args, tmp_path).stderr)
    assert (tmp_path / "result.png").is_file()


def test_hpt_verbose_reaches_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.cli import app

    monkeypatch.delenv(VERBOSE_ENV, raising=False)  # and removed again after the test
    result = CliRunner().invoke(app, ["--verbose", "transfer", "--source", "x.png"])
    assert result.exit_code == 2  # no target pose: an error, after the callback ran
    assert os.environ.get(VERBOSE_ENV) == "1"
