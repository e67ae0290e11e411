"""benchmarks/small_training.py runs issue 22's protocol (rows × seeds, one budget each) in
one command: a short run at the tiny preset keeps it from rotting. It takes ~15 s on an
idle 2-core machine (up to 40 s under load): three processes (two train-all runs and the
evaluation) each import torch, which is most of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from train_records import write_train_shards

ROOT = Path(__file__).resolve().parent.parent


def test_rows_and_seeds_train_and_give_mean_and_spread(tmp_path: Path) -> None:
    shards = write_train_shards(tmp_path / "shards", persons=2, frames=2, held_out_persons=1)
    out = tmp_path / "small.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "small_training.py")]
    command += ["--data", str(shards), "--runs", str(tmp_path / "runs"), "--config", "tiny"]
    command += ["--rows", "H", "--seeds", "2", "--minutes", "0.05", "--limit", "2"]
    command += ["--osa-pairs", "0", "--set", "epochs=1", "--set", "num_workers=0"]
    command += ["--set", "tensorboard=false", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["seeds"] == 2 and r["n_pairs"] == 2
    assert (tmp_path / "runs" / "tiny-H" / "coarse" / "final.pt").is_file()
    assert (tmp_path / "runs" / "tiny-H-seed1" / "coarse" / "final.pt").is_file()
    h = r["rows"]["H"]
    assert len(h["ssim_seeds"]) == 2 and len(h["l1_seeds"]) == 2
    assert h["ssim"] == sum(h["ssim_seeds"]) / 2
    assert h["ssim_seed_std"] == abs(h["ssim_seeds"][0] - h["ssim_seeds"][1]) / 2
    assert -1 <= h["ssim"] <= 1 and h["l1"] > 0
    assert "copy the source" in r["rows"] and "H seed 1" in r["seed_runs"]
    plan = json.loads((tmp_path / "runs" / "tiny-H-seed1" / "plan.json").read_text())
    assert plan["split_from"] == str(tmp_path / "runs" / "tiny-H")  # seed 0's split

    # --evaluate-only scores the folders as they are: a third seed's is not trained
    again = tmp_path / "again.json"
    command[command.index("--seeds") + 1] = "3"
    command[command.index("--out") + 1] = str(again)
    done = subprocess.run(
        [*command, "--evaluate-only"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0 and not (tmp_path / "runs" / "tiny-H-seed2").exists()
    assert "Traceback" not in done.stderr and "tiny-H-seed2: no such" in done.stderr
    command[command.index("--seeds") + 1] = "2"
    done = subprocess.run(
        [*command, "--evaluate-only"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(again.read_text())["rows"]["H"]["ssim_seeds"] == h["ssim_seeds"]
