"""Where one training step of each stage of the ``small`` config goes on a CPU, before and
after this project's step-cost changes, measured side by side in one run (issue 22).

Each (stage, thread count, code version) runs ``--rounds`` times in its own child process
(before and after alternating, round after round) over the same shards: one warm-up
step, then ``--steps`` timed steps of ``StageTrainer`` as the training
loop runs them (read the pair from the shards, build the stage's inputs, one
discriminator + generator update). Per step it splits the time into: reading (the
PairDataset item and its collation), the inputs (``build_stage_inputs``), each network's
forward (hooks on the coarse, layer and fine generators, the discriminators and the frozen
VGG-19), the VGG-19's backward (from the first gradient reaching its features to the
gradient of its input), the rest of the backward passes, the optimiser steps, and what
is left (losses, crops, the bank). Each version's figure is its fastest step over the
rounds (the least disturbed measure on a shared machine; the median is kept too).

"Before" is the code at ``--baseline`` (a git ref, unpacked with ``git archive`` into a
temporary folder and put first on the child's PYTHONPATH; default: the commit this
branch started from); "after" is this tree. The VGG-19 has random weights (the speed is
the same). The shards are ``--data``, or, by default, 12 frames of the learnable records
the training tests use (``tests/train_records.py``: every field at the shards' 1024),
written by each version's own code (an older tree reads only the shard schemas it knew).

    python benchmarks/train_step_costs.py                # 1 and 2 threads, 2 steps × 3 rounds
    python benchmarks/train_step_costs.py --threads 1 --steps 1 --stages coarse leg

Writes ``benchmarks/results/train_step_costs.json``: per thread count and stage, the
before and after breakdowns in ms, the speed-up (before / after step time) and each
stage's step time relative to coarse (what ``train-all``'s budget shares rest on).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "train_step_costs.json"
STAGES = ("coarse", "face", "arm", "leg", "e2e")
BASELINE = "27b58f4"  # main when the step-cost work began


# --------------------------------------------------------------------------- the child


def _timed_update(acc: dict[str, float]):  # -> the replacement of steps._update
    def update(ctx: Any, which: str, loss: Any) -> None:
        optimizer = ctx.optimizers[which]
        optimizer.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        loss.backward()
        t1 = time.perf_counter()
        optimizer.step()
        acc["backward"] += t1 - t0
        acc["optimizer"] += time.perf_counter() - t1

    return update


def _hook_forward(module: Any, name: str, acc: dict[str, float]) -> None:
    start: list[float] = []
    module.register_forward_pre_hook(lambda m, a: start.append(time.perf_counter()))

    def done(m: Any, a: Any, o: Any) -> None:
        acc[f"fwd {name}"] += time.perf_counter() - start.pop()

    module.register_forward_hook(done)


def _record_vgg_calls(vgg: Any, calls: list[tuple[tuple[int, ...], bool]]) -> None:
    """Each VGG call's input shape and whether it needs a gradient (the predictions)."""
    vgg.register_forward_pre_hook(
        lambda m, args: calls.append((tuple(args[0].shape), args[0].requires_grad))
    )


def _vgg_backward_ms(loss: Any, calls: list[tuple[tuple[int, ...], bool]]) -> float:
    """The VGG-19's backward for one step's calls with a gradient, timed alone at their
    shapes and the loss's precision (autograd interleaves the calls inside a step)."""
    import torch

    total = 0.0
    features = getattr(loss, "_features", loss.vgg)  # the bf16 path where the code has it
    for shape, grad in calls:
        if not grad:
            continue
        x = (torch.rand(shape) * 2 - 1).requires_grad_(True)
        out = sum(f.float().abs().mean() for f in features(x))
        t0 = time.perf_counter()
        out.backward()
        total += time.perf_counter() - t0
    return 1000 * total


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One stage's breakdown in this process's code (PYTHONPATH decides which)."""
    import dataclasses
    import warnings

    import torch
    from torch.utils.data import default_collate

    import hpt_model.training.steps as steps
    from hpt_model.config import preset
    from hpt_model.data import PairDataset, fields_for_stage
    from hpt_model.training.settings import TrainSettings
    from hpt_model.training.trainer import StageTrainer

    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads[0])
    torch.manual_seed(0)
    config = preset(args.config)
    config.loss.allow_random_vgg = True
    known = {f.name for f in dataclasses.fields(TrainSettings)}
    extra = {"vgg_precision": args.vgg_precision} if "vgg_precision" in known else {}
    with tempfile.TemporaryDirectory() as out:
        settings = TrainSettings(
            stage=args.child,
            data=args.data,
            out=Path(out),
            num_workers=0,
            tensorboard=False,
            progress=False,
            **extra,
        )
        trainer = StageTrainer(settings, config)
    acc: dict[str, float] = defaultdict(float)
    for name, net in trainer.nets.items():
        if name == "layers":
            for kind, g in net.generators.items():
                _hook_forward(g, f"layer {kind}", acc)
        elif name.endswith("_d"):
            _hook_forward(net, "discriminators", acc)
        else:
            _hook_forward(net, name, acc)
    vgg = trainer.ctx.vgg_loss.vgg
    _hook_forward(vgg, "vgg", acc)
    calls: list[tuple[tuple[int, ...], bool]] = []
    _record_vgg_calls(vgg, calls)
    steps._update = _timed_update(acc)
    dataset = PairDataset(args.data, "train", **fields_for_stage(args.child, config))
    records = []
    for i in range(args.steps + 1):  # the first step pays for lazy set-up: not kept
        acc.clear()
        calls.clear()
        t0 = time.perf_counter()
        raw = default_collate([dataset[i % len(dataset)]])
        t1 = time.perf_counter()
        inputs = trainer.inputs(raw)
        t2 = time.perf_counter()
        trainer.train_step(inputs)
        t3 = time.perf_counter()
        if i:
            parts = {k: 1000 * v for k, v in sorted(acc.items())}
            step_ms = 1000 * (t3 - t2)
            records.append(
                {
                    "read_ms": 1000 * (t1 - t0),
                    "inputs_ms": 1000 * (t2 - t1),
                    "step_ms": step_ms,
                    "total_ms": 1000 * (t3 - t0),
                    "parts_ms": parts,
                }
            )
    vgg_backward = _vgg_backward_ms(trainer.ctx.vgg_loss, list(calls))  # the same every step
    for record in records:
        parts = record["parts_ms"]
        bwd = min(vgg_backward, parts["backward"])
        parts["bwd vgg"] = bwd  # timed alone at the step's shapes (see above)
        parts["bwd rest"] = parts.pop("backward") - bwd
        parts["other"] = record["step_ms"] - sum(parts.values())
    return {"steps": records, "vgg_precision": extra.get("vgg_precision", "fp32")}


# --------------------------------------------------------------------------- the parent


def default_shards(tree: Path, folder: Path) -> Path:
    """12 frames (3 persons × 4) of the training tests' learnable records, written by the
    code of ``tree`` (its tests' data maker and its shard writer) into ``folder``."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, 'tests'); "
        "from train_records import write_train_shards; "
        "write_train_shards(Path(sys.argv[1]), persons=3, frames=4)"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-c", code, str(folder)], env=env, check=True, cwd=tree)
    return folder


def unpack(ref: str, folder: Path) -> Path | None:
    """The tree at ``ref`` (git archive), or None where git or the ref is missing."""
    try:
        archive = subprocess.run(
            ["git", "archive", ref], cwd=ROOT, check=True, capture_output=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run_child(tree: Path, data: Path, stage: str, threads: int, args: argparse.Namespace) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        command = [sys.executable, __file__, "--child", stage, "--threads", str(threads)]
        command += ["--steps", str(args.steps), "--data", str(data), "--config", args.config]
        command += ["--vgg-precision", args.vgg_precision, "--child-out", f.name]
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads)}
        subprocess.run(command, env=env, check=True, cwd=tree)
        return json.loads(Path(f.name).read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--steps", type=int, default=2, help="timed steps per child run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="child runs per stage and version (alternating)"
    )
    parser.add_argument("--config", default="small", help="model config preset")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="shards both versions train on (an older tree refuses a newer schema; "
        "default: each version writes its own)",
    )
    parser.add_argument("--baseline", default=BASELINE, help="git ref of 'before'; none: skip")
    parser.add_argument("--vgg-precision", default="auto", help="'after's vgg_precision")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        Path(args.child_out).write_text(json.dumps(child(args)))
        return

    from tqdm import tqdm

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        trees = {"after": ROOT}
        before = None if args.baseline == "none" else unpack(args.baseline, work / "before")
        if before is not None:
            trees = {"before": before, "after": ROOT}
        data = {
            version: args.data or default_shards(tree, work / f"shards-{version}")
            for version, tree in trees.items()
        }
        load = [os.getloadavg()[0]]
        jobs = [
            (t, s, v)
            for t in args.threads
            for s in args.stages
            for _ in range(args.rounds)
            for v in trees
        ]
        runs: dict[tuple, list[dict]] = defaultdict(list)
        for threads, stage, version in tqdm(jobs, desc="steps", unit="run"):
            # before and after alternate, round after round, so load drifts hit both alike
            result = run_child(trees[version], data[version], stage, threads, args)
            runs[(stage, threads, version)] += result["steps"]
            load.append(os.getloadavg()[0])
    rows: list[dict[str, Any]] = []
    for (stage, threads, version), steps in runs.items():
        # the fastest step: on a shared machine the least disturbed measure of the cost
        fastest = min(steps, key=lambda x: x["total_ms"])
        median = float(sorted(x["total_ms"] for x in steps)[len(steps) // 2])
        row = {"stage": stage, "threads": threads, "version": version, **fastest}
        rows.append({**row, "median_total_ms": median, "n_steps": len(steps)})
    summary: dict[str, dict[str, Any]] = {}
    for threads in args.threads:
        by = {(r["stage"], r["version"]): r for r in rows if r["threads"] == threads}
        entry: dict[str, Any] = {}
        for stage in args.stages:
            after = by[(stage, "after")]
            item = {"after_ms": round(after["total_ms"], 1)}
            if (stage, "before") in by:
                before_ms = by[(stage, "before")]["total_ms"]
                item["before_ms"] = round(before_ms, 1)
                item["speedup"] = round(before_ms / after["total_ms"], 2)
            if ("coarse", "after") in by:
                item["relative_to_coarse"] = round(
                    after["total_ms"] / by[("coarse", "after")]["total_ms"], 2
                )
            entry[stage] = item
        summary[str(threads)] = entry
    results = {
        "benchmark": "train_step_costs",
        "config": args.config,
        "steps": args.steps,
        "rounds": args.rounds,
        "statistic": "fastest step of steps × rounds per stage and version",
        "baseline": None if len(trees) == 1 else args.baseline,
        "threads": args.threads,
        "stages": args.stages,
        "summary": summary,
        "rows": rows,
        "load_average": [round(min(load), 2), round(max(load), 2)],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    for threads in args.threads:
        print(
            f"\n{args.config} config, {threads} thread(s): ms per step (read + inputs + "
            f"step), fastest of {args.steps} × {args.rounds}"
        )
        print(f"{'stage':<8} {'before':>8} {'after':>8} {'speed-up':>9} {'÷ coarse':>9}")
        for stage, item in summary[str(threads)].items():
            b = item.get("before_ms")
            print(
                f"{stage:<8} {'-' if b is None else f'{b:.0f}':>8} {item['after_ms']:8.0f} "
                f"{item.get('speedup', float('nan')):9.2f} "
                f"{item.get('relative_to_coarse', float('nan')):9.2f}"
            )
        for row in rows:
            if row["threads"] != threads or row["version"] != "after":
                continue
            parts = ", ".join(f"{k} {v:.0f}" for k, v in row["parts_ms"].items())
            print(
                f"  {row['stage']} after: read {row['read_ms']:.0f}, inputs "
                f"{row['inputs_ms']:.0f}, step {row['step_ms']:.0f} = {parts}"
            )
    print(f"load average {results['load_average']}; {args.out}")


if __name__ == "__main__":
    main()
