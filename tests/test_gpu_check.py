"""benchmarks/gpu_check.py's CPU path at tiny sizes, so the one-command GPU check cannot rot
before a GPU runs it; and its README rows say so until a GPU has."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import figures  # noqa: E402
import gpu_check  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def test_the_cpu_path_measures_training_and_inference(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    args = ["--tiny", "--stages", "face,volume", "--batch-sizes", "1", "--out", str(out)]
    assert gpu_check.main([*args, "--steps", "1", "--warmup", "0", "--infer-steps", "1"]) == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["config"] == "tiny" and report["device_name"]
    measured = {
        (r["kind"], r.get("stage"), r["mode"]) for r in report["rows"] if r["status"] == "measured"
    }
    assert measured == {
        ("train", "face", "fp32"),
        ("train", "face", "bf16"),
        ("train", "volume", "fp32"),
        ("train", "volume", "bf16"),
        ("inference", None, "bf16"),
    }
    for row in report["rows"]:
        if row["status"] == "measured":
            assert row["peak_memory_mb"] > 0
            assert row.get("it_per_s", 0) > 0 or row.get("ms_per_image", 0) > 0
        else:
            assert row["status"].startswith("skipped")
            assert "compile" in row["mode"] or "cudagraphs" in row["mode"]
    assert "not yet run on a GPU" in figures._gpu(report, True)
    assert "not yet run on a GPU" in figures._gpu(report, False)


def test_the_time_budget_stops_a_row_and_skips_the_rest(tmp_path: Path) -> None:
    with pytest.raises(gpu_check.OverBudget), gpu_check.deadline(0.05):
        time.sleep(2)
    out = tmp_path / "spent.json"
    assert gpu_check.main(["--tiny", "--stages", "face", "--budget-s", "0", "--out", str(out)]) == 0
    statuses = {r["status"] for r in json.loads(out.read_text())["rows"]}
    assert "skipped: time budget spent" in statuses and "measured" not in statuses


def test_without_a_gpu_the_paper_check_refuses_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if gpu_check.torch.cuda.is_available():
        pytest.skip("a GPU is here")
    assert gpu_check.main([]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
