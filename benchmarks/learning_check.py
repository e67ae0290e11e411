"""The learning check on pairs the data chain made, over several seeds and thread counts, on
the people trained on and on a person held out.

Builds the tiny synthetic dataset of the test suite (``tests/stages_for_tests.py``: two
people, rendered, MediaPipe, the fitter, the maps, the shards; one person per split), then
trains every stage in the paper's order (``tests/train_records.learn_every_stage`` with
``REAL_PAIRS_STEPS``, the steps ``tests/test_learning_real_pairs.py`` uses) once per
seed and torch thread count, and measures the L1 reconstruction error of each stage
before and after, and of copying the source frame, on the training pairs and on the
held-out person's pairs. The test's bounds are set from the spread this prints.

    python benchmarks/learning_check.py [--seeds 5] [--threads 1,2]

Writes ``benchmarks/results/learning_check.json``. A ratio over 1 against copying the
source means the stage does worse than handing back the source frame: with one person to
train on, the networks memorise that person (train error far below copying) and do not
transfer to a new one, which is what the held-out columns show.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the learning harness and TinyFeatures live there

from stages_for_tests import TINY_DATASET  # noqa: E402
from train_records import (  # noqa: E402
    REAL_PAIRS_STEPS,
    figures_table,
    learn_every_stage,
    real_pairs_config,
    real_pairs_settings,
)

RESULTS = ROOT / "benchmarks" / "results" / "learning_check.json"


def build_tiny(work: Path) -> Path:
    """The tiny dataset's shards, built with the real CLI; returns the shard folder."""
    from typer.testing import CliRunner

    from hpt_data.cli import app

    config = work / "datasets.yaml"
    config.write_text(TINY_DATASET)
    cwd = os.getcwd()
    os.chdir(work)  # work_root in TINY_DATASET is relative to the config
    try:
        result = CliRunner().invoke(
            app, ["build", "-c", str(config), "-d", "tiny", "-w", "1", "-q"]
        )
    finally:
        os.chdir(cwd)
    if result.exit_code != 0:
        raise SystemExit(f"tiny dataset build failed:\n{result.output}")
    return work / "work" / "tiny" / "shards"


def summarise(runs: list[dict]) -> dict[str, dict[str, float]]:
    """Per stage, over all runs: the worst and median ratios the test bounds."""
    out: dict[str, dict[str, float]] = {}
    for stage in REAL_PAIRS_STEPS:
        figs = [r["figures"][stage] for r in runs]
        ratios = {
            "train_over_start": [f["end"] / f["start"] for f in figs],
            "train_over_copy": [f["end"] / f["copy_source"] for f in figs],
            "held_out_over_start": [f["held_out_end"] / f["held_out_start"] for f in figs],
            "held_out_over_copy": [f["held_out_end"] / f["held_out_copy"] for f in figs],
        }
        out[stage] = {}
        for name, values in ratios.items():
            out[stage][f"{name}_max"] = round(max(values), 4)
            out[stage][f"{name}_median"] = round(statistics.median(values), 4)
            out[stage][f"{name}_min"] = round(min(values), 4)
    return out


def main() -> None:
    from hpt_model.data import PairDataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", default="1,2", help="torch thread counts to run each seed at")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    runs = []
    with tempfile.TemporaryDirectory(prefix="hpt-learning-") as tmp:
        shards = build_tiny(Path(tmp))
        train, test = PairDataset(shards, "train"), PairDataset(shards, "test")
        items = [train[i] for i in range(len(train))]
        held_out = [test[i] for i in range(len(test))]
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                start = time.perf_counter()
                out = Path(tmp) / f"run-{n_threads}-{seed}"
                figures = learn_every_stage(
                    items,
                    real_pairs_config(),
                    out,
                    real_pairs_settings,
                    REAL_PAIRS_STEPS,
                    held_out=held_out,
                    verbose=False,
                )
                runs.append(
                    {
                        "seed": seed,
                        "threads": n_threads,
                        "seconds": round(time.perf_counter() - start, 1),
                        "figures": figures,
                    }
                )
                print(f"seed {seed}, {n_threads} thread(s):{figures_table(figures)}", flush=True)
    summary = summarise(runs)
    result = {
        "benchmark": "learning_check",
        "dataset": "tests/stages_for_tests.py TINY_DATASET (1 person trained, 1 held out)",
        "train_pairs": len(items),
        "held_out_pairs": len(held_out),
        "steps": REAL_PAIRS_STEPS,
        "seeds": args.seeds,
        "threads": threads,
        "summary": summary,
        "runs": runs,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("\nstage   end/start (max)  end/copy (max)  held-out end/start (max)  end/copy (median)")
    for stage, s in summary.items():
        print(
            f"{stage:7s} {s['train_over_start_max']:15.2f}  {s['train_over_copy_max']:14.2f}"
            f"  {s['held_out_over_start_max']:24.2f}  {s['held_out_over_copy_median']:17.2f}"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
