"""Run every benchmark, stamp each results file with where and when it was made, and write
the README's figures table from the results (``benchmarks/figures.py``).

    python benchmarks/run_all.py --quick          # small sizes (~20 min on 2 cores)
    python benchmarks/run_all.py                  # the sizes the docs quote
    python benchmarks/run_all.py --only fit_smpl perception
    python benchmarks/run_all.py --table-only     # rewrite the README table, run nothing

Each benchmark runs as its own process, one after the other (they would only slow each
other on a shared machine). The demo build runs first: its clips and shards are what the
perception, detection and shard-loading benchmarks read, so nothing is rendered twice.
After each one, ``run`` is added to its results file: the git commit (and whether the tree
had changes), the date, the load average before and after, the wall time, the command and
whether it was ``--quick``. Timings on a shared machine are noisy: compare the ratios each
benchmark measures side by side, and read the load beside every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from figures import RESULTS, ROOT, update_readme


@dataclass(frozen=True)
class Benchmark:
    """One script and the arguments it gets at each size. ``{work}`` in an argument is the
    shared scratch folder (the demo build's clips and shards)."""

    name: str  # its results file: benchmarks/results/<name>.json
    script: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()


SMALL_TRAINING = "benchmarks/small_training.py"

# small_training.py's quick run: the demo's shards, 1 minute a row, 4 pairs
SMALL_QUICK = (
    "--data",
    "{work}/work/demo/shards",
    "--runs",
    "{work}/runs",
    "--minutes",
    "1",
    "--limit",
    "4",
    "--osa-pairs",
    "1",
)

BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("demo_build", "benchmarks/demo_build.py", ("--keep", "{work}"), ("--keep", "{work}")),
    Benchmark(
        "synthetic_detection",
        "benchmarks/synthetic_detection.py",
        (),
        ("--persons", "2", "--seconds", "1.0"),
    ),
    Benchmark(
        "perception",
        "benchmarks/perception.py",
        ("--data", "{work}/clips"),
        ("--data", "{work}/clips", "--repeats", "1"),
    ),
    Benchmark(
        "shard_loading",
        "benchmarks/shard_loading.py",
        ("--shards", "{work}/work/demo/shards"),
        ("--shards", "{work}/work/demo/shards", "--pairs", "80", "--rounds", "1"),
    ),
    Benchmark(
        "people_detection",
        "benchmarks/people_detection.py",
        (),
        ("--persons", "2", "--seconds", "1.0"),
    ),
    Benchmark(
        "people_tracking",
        "benchmarks/people_tracking.py",
        (),
        ("--persons", "1", "--seconds", "1.0"),
    ),
    Benchmark("real_material", "benchmarks/real_material.py", (), ("--frames", "12")),
    Benchmark("body_model", "benchmarks/body_model_figures.py", (), ("--skip-derivation",)),
    Benchmark("fit_smpl", "benchmarks/fit_smpl.py", (), ("--frames", "40")),
    Benchmark(
        "fit_anny",
        "benchmarks/fit_anny.py",
        # the 2D-only fit, and fit-smpl version 4's bone term (the whole direction), on the
        # same frames
        ("--split", "test", "--variants", "w_world=0", "w_world=625,world_lateral_share=1"),
        ("--tiny",),
    ),
    Benchmark("osa_calibration", "benchmarks/osa_calibration.py", (), ("--quick",)),
    Benchmark("maps_and_volumes", "benchmarks/maps_and_volumes.py", (), ("--quick",)),
    Benchmark(
        "executor_overhead",
        "benchmarks/executor_overhead.py",
        (),
        ("--limit", "2", "--repeats", "1"),
    ),
    Benchmark("chain", "benchmarks/chain.py", ("--profile",), ("--quick",)),
    Benchmark("image_io", "benchmarks/image_io.py", (), ("--frames", "6", "--repeats", "1")),
    Benchmark("deflate", "benchmarks/deflate.py", (), ("--frames", "8", "--repeats", "1")),
    Benchmark("landmark_heads", "benchmarks/landmark_heads.py", (), ("--turns", "3")),
    Benchmark("ray_fused", "benchmarks/ray_fused.py", (), ("--quick",)),
    Benchmark("train_speed", "benchmarks/train_speed.py", (), ("--steps", "4", "--warmup", "1")),
    Benchmark(
        "train_step_costs",
        "benchmarks/train_step_costs.py",
        (),
        ("--threads", "1", "--steps", "1", "--stages", "coarse", "leg", "e2e"),
    ),
    Benchmark(
        "inference_speed",
        "benchmarks/inference_speed.py",
        (),
        ("--configs", "tiny", "--steps", "3", "--warmup", "1"),
    ),
    Benchmark("learning_check", "benchmarks/learning_check.py", (), ("--seeds", "3")),
    # the offset generators' initialisation, held-out on the small dataset (~30 CPU-minutes)
    Benchmark(
        "offset_init",
        "benchmarks/offset_init.py",
        (),
        (
            "--data",
            "{work}/work/demo/shards",
            "--runs",
            "{work}/runs/offset_init",
            "--coarse-steps",
            "2",
            "--layer-steps",
            "1",
            "1",
            "1",
            "--e2e-steps",
            "1",
        ),
    ),
    # trains the small config's rows (./run train-small's model; 30 min each) if not done
    Benchmark(
        "small_training",
        SMALL_TRAINING,
        (
            "--rows",
            "full",
            "H",
            "--seeds",
            "3",
            "--set",
            "budget_clock=cpu",
            "--set",
            "threads=1",
            "--grid",
            "docs/images/small_transfers.png",
            "--motion",
            "docs/images/small_motion.gif",
        ),
        SMALL_QUICK,
    ),
    # issue 22's budget, 60 CPU-minutes a row, full and H, 3 seeds (its own run folders; H
    # stops at its 10-epoch cap inside 30 minutes, so its 30-minute runs may be linked in)
    Benchmark(
        "small_training_60",
        SMALL_TRAINING,
        (
            *("--rows", "full", "H", "--seeds", "3", "--minutes", "60", "--runs", "runs/60min"),
            *("--set", "budget_clock=cpu", "--set", "threads=1"),
            *("--out", "benchmarks/results/small_training_60.json"),
        ),
        (*SMALL_QUICK, "--out", "benchmarks/results/small_training_60.json"),
    ),
    # Table IV's five rows at issue 22's 60 CPU-minutes, seed 0, in small_training_60's
    # folders (H, H+S and H+S+D stop at the 10-epoch cap inside 30 minutes)
    Benchmark(
        "small_ablation_60",
        SMALL_TRAINING,
        (
            *("--rows", "H", "H+S", "H+S+D", "H+S+D+PL", "full"),
            *("--minutes", "60", "--runs", "runs/60min"),
            *("--set", "budget_clock=cpu", "--set", "threads=1"),
            *("--out", "benchmarks/results/small_ablation_60.json"),
        ),
        (
            *SMALL_QUICK,
            *("--rows", "H", "H+S", "H+S+D", "H+S+D+PL", "full"),
            *("--out", "benchmarks/results/small_ablation_60.json"),
        ),
    ),
    # issue 22's clothes: full and H at 60 CPU-minutes with colour_augment, seed 0
    Benchmark(
        "small_colour_augment",
        SMALL_TRAINING,
        (
            *("--rows", "full", "H", "--minutes", "60", "--runs", "runs/60min-colour"),
            *("--set", "budget_clock=cpu", "--set", "threads=1", "--set", "colour_augment=true"),
            *("--grid", "docs/images/small_transfers_colour.png"),
            *("--out", "benchmarks/results/small_colour_augment.json"),
        ),
        (
            *SMALL_QUICK,
            *("--runs", "{work}/runs-colour", "--set", "colour_augment=true"),
            *("--out", "benchmarks/results/small_colour_augment.json"),
        ),
    ),
    # colour_augment's full row over 3 seeds (seed 0 is small_colour_augment's), each on the
    # committed seed-0 run's step costs
    Benchmark(
        "small_colour_augment_seeds",
        SMALL_TRAINING,
        (
            *("--rows", "full", "--seeds", "3", "--minutes", "60", "--runs", "runs/60min-colour"),
            *("--split-from", "runs/60min/small-full"),
            *("--set", "budget_clock=cpu", "--set", "threads=1", "--set", "colour_augment=true"),
            *("--out", "benchmarks/results/small_colour_augment_seeds.json"),
        ),
        (
            *SMALL_QUICK,
            *("--rows", "full", "--seeds", "2", "--runs", "{work}/runs-colour"),
            *("--set", "colour_augment=true"),
            *("--out", "benchmarks/results/small_colour_augment_seeds.json"),
        ),
    ),
    # issue 22's step weights: the full row at 60 CPU-minutes with the paper's proportions
    # (coarse 1 : layers 2 : e2e 1), seed 0, on small_training_60's seed-0 step costs
    Benchmark(
        "small_step_weights",
        SMALL_TRAINING,
        (
            *("--rows", "full", "--minutes", "60", "--runs", "runs/60min-paper-weights"),
            *("--step-weights", "paper", "--split-from", "runs/60min/small-full"),
            *("--set", "budget_clock=cpu", "--set", "threads=1"),
            *("--out", "benchmarks/results/small_step_weights.json"),
        ),
        (
            *SMALL_QUICK,
            *("--rows", "full", "--runs", "{work}/runs-weights", "--step-weights", "paper"),
            *("--out", "benchmarks/results/small_step_weights.json"),
        ),
    ),
    # Table IV's five rows of the small config, seed 0, 30 CPU-minutes each: H and full are
    # small_training's (its folders, not trained again), the other three 1.5 CPU-hours
    Benchmark(
        "small_ablation",
        SMALL_TRAINING,
        (
            "--rows",
            "H",
            "H+S",
            "H+S+D",
            "H+S+D+PL",
            "full",
            "--set",
            "budget_clock=cpu",
            "--set",
            "threads=1",
            "--out",
            "benchmarks/results/small_ablation.json",
        ),
        (
            *SMALL_QUICK,
            *("--rows", "H", "H+S", "H+S+D", "H+S+D+PL", "full"),
            *("--out", "benchmarks/results/small_ablation.json"),
        ),
    ),
    # the paper config on a GPU; without one, its CPU smoke run at the tiny sizes
    Benchmark("gpu_check", "benchmarks/gpu_check.py", ("--tiny-without-gpu",), ("--tiny",)),
)


def git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return out.stdout.strip()


def stamp(bench: Benchmark, command: list[str], quick: bool, load_before: float, wall: float):
    """Add ``run`` (provenance) to the benchmark's results file."""
    path = RESULTS / f"{bench.name}.json"
    if not path.is_file():
        raise SystemExit(f"{bench.script} wrote no {path}")
    results = json.loads(path.read_text())
    results["run"] = {
        "script": bench.script,
        "command": " ".join(command),
        "quick": quick,
        "commit": git("rev-parse", "HEAD"),
        "tree_changed": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_before": [round(load_before, 2)],
        "load_average_after": [round(os.getloadavg()[0], 2)],
        "wall_s": round(wall, 1),
        "cpus": os.cpu_count(),
    }
    path.write_text(json.dumps(results, indent=1) + "\n")


def run(bench: Benchmark, quick: bool, work: Path) -> float:
    args = [a.replace("{work}", str(work)) for a in (bench.quick if quick else bench.full)]
    command = [sys.executable, bench.script, *args]
    print(f"\n=== {bench.name}: {' '.join(command[1:])}", flush=True)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{bench.script} failed (exit {done.returncode}); results not stamped")
    stamp(bench, [Path(bench.script).name, *args], quick, load, wall)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about 20 min)")
    names = [b.name for b in BENCHMARKS]
    parser.add_argument("--only", nargs="+", choices=names, help="these benchmarks only")
    parser.add_argument("--table-only", action="store_true", help="only rewrite the README")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    walls: dict[str, float] = {}
    if not args.table_only:
        chosen = [b for b in BENCHMARKS if not args.only or b.name in args.only]
        demo_users = {"perception", "shard_loading"}
        if args.quick:  # the small rows' quick runs train on the demo's shards
            demo_users |= {b.name for b in BENCHMARKS if b.script == SMALL_TRAINING}
        needs_demo = demo_users & {b.name for b in chosen}
        if needs_demo and "demo_build" not in {b.name for b in chosen}:
            chosen.insert(0, BENCHMARKS[0])  # their clips and shards come from the demo build
        with tempfile.TemporaryDirectory(prefix="hpt-bench-") as tmp:
            work = (args.work or Path(tmp)).resolve()
            for bench in chosen:
                walls[bench.name] = run(bench, args.quick, work)
    changed = update_readme()
    print("\nbenchmark            wall")
    for name, wall in walls.items():
        print(f"{name:<20} {wall:7.1f} s")
    if walls:
        print(f"{'total':<20} {sum(walls.values()):7.1f} s")
    print("README table", "rewritten" if changed else "unchanged")


if __name__ == "__main__":
    main()
