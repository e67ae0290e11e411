"""One-command GPU check of the ``paper`` config: training speed of every stage and
inference latency of the whole hierarchy, in at most 8 minutes, with no downloads.

    python benchmarks/gpu_check.py                 # on a GPU machine (H100, H200, ...)
    python benchmarks/gpu_check.py --tiny          # CPU smoke run at the tiny preset's sizes

What it measures, on synthetic batches at the shards' resolution (1024 crop; random
weights, a random VGG-19: the speed is the same):

- training, every stage (coarse, face, arm, leg, fine, e2e, volume), batch 1: iterations
  per second (building the stage inputs and one optimisation step, as the training loop
  does once a batch is on the device) and peak memory, at fp32, bf16 autocast, and bf16 +
  ``torch.compile``;
- inference of the whole hierarchy (stage inputs, coarse, five part layers, Eq. 6, fine;
  :func:`hpt_model.inference.run_transfer`) at 1024×1024, batch 1 and 8: bf16, bf16 +
  ``torch.compile``, and bf16 + CUDA graphs (``mode="reduce-overhead"``). The issue's aim:
  ≤ 30 ms per image at batch 1 on an H100 (the paper: 0.44 s on a GTX 1080 Ti).

Everything runs in this one process, in order of cost (the uncompiled rows first, the
compiled training rows last, smallest stage first); a row that would pass ``--budget-s``
(default 420 s) is stopped by an alarm and the rest are marked skipped, so the command ends
within 8 minutes on one H100/H200 whatever the compiler does. Peak memory is
``torch.cuda.max_memory_allocated`` after a reset per row; on the CPU the process's peak RSS
(so only the first row's is its own). On the CPU (``--tiny``) compilation and CUDA graphs
are skipped: the run only keeps the script from rotting (tests/test_gpu_check.py).

Results: ``benchmarks/results/gpu_check.json`` (``--out``) with the device name; the README
row says "not yet run on a GPU" until a GPU run's file is there.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmarks

from inference_speed import compact_batch
from train_speed import synthetic_batch

STAGES = ("face", "arm", "volume", "coarse", "leg", "fine", "e2e")  # about cheapest first
TRAIN_MODES = ("fp32", "bf16", "bf16-compile")
INFER_MODES = ("bf16", "bf16-compile", "bf16-cudagraphs")
GPU_AIM_MS = 30.0
COMMAND = "python benchmarks/gpu_check.py"


class OverBudget(Exception):
    """The time budget ran out inside a row."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`OverBudget` in the block after ``seconds`` (SIGALRM; main thread)."""

    def _alarm(signum: int, frame: Any) -> None:
        raise OverBudget()

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset(device: torch.device) -> None:
    gc.collect()
    if hasattr(torch, "_dynamo"):
        torch._dynamo.reset()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _timed(run: Callable[[], Any], device: torch.device, warmup: int, steps: int) -> dict:
    start = time.perf_counter()
    for _ in range(warmup):
        run()
    _sync(device)
    warmup_s = time.perf_counter() - start
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        run()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {"median_s": float(np.median(times)), "min_s": min(times), "warmup_s": warmup_s}


def train_row(stage: str, mode: str, config: Any, device: torch.device, args: Any) -> dict:
    """One training stage at one precision: iterations/s and peak memory."""
    from hpt_model.training import StageTrainer, TrainSettings

    settings = TrainSettings(
        stage=stage,
        device=device.type,
        precision="fp32" if mode == "fp32" else "bf16",
        tensorboard=False,
        progress=False,
        compile=mode.endswith("compile"),
    )
    trainer = StageTrainer(settings, config, device)
    if settings.compile:
        trainer.compile()
    trainer.total_steps = args.warmup + args.steps
    batch = {k: v.to(device) for k, v in synthetic_batch(1, stage == "volume").items()}
    t = _timed(lambda: trainer.train_step(trainer.inputs(batch)), device, args.warmup, args.steps)
    return {
        "it_per_s": 1.0 / t["median_s"],
        "s_per_it": t["median_s"],
        "warmup_s": round(t["warmup_s"], 2),
        "peak_memory_mb": _peak_mb(device),
    }


def inference_row(mode: str, batch_size: int, config: Any, device: torch.device, args: Any) -> dict:
    """The whole hierarchy on a batch at 1024: ms per image and peak memory."""
    from hpt_model.checkpoints import load_generators
    from hpt_model.inference import run_transfer

    cuda = device.type == "cuda"
    gens = load_generators(
        None, config, allow_random=True, device=device, precision="bf16", channels_last=cuda
    )
    if mode != "bf16":
        gens.compile("reduce-overhead" if mode == "bf16-cudagraphs" else None)
    batch = {k: v.to(device) for k, v in compact_batch(batch_size).items()}
    with torch.inference_mode():
        t = _timed(lambda: run_transfer(gens, batch), device, args.warmup, args.infer_steps)
    return {
        "ms_per_image": 1000 * t["median_s"] / batch_size,
        "ms_per_batch_median": 1000 * t["median_s"],
        "ms_per_batch_min": 1000 * t["min_s"],
        "warmup_s": round(t["warmup_s"], 2),
        "peak_memory_mb": _peak_mb(device),
    }


def plan(args: Any, cuda: bool) -> list[dict]:
    """Every row in the order it runs: uncompiled training, inference, compiled training."""
    stages = [s for s in STAGES if s in args.stages.split(",")]
    rows = [{"kind": "train", "stage": s, "mode": m} for m in TRAIN_MODES[:2] for s in stages]
    rows += [
        {"kind": "inference", "mode": m, "batch_size": b}
        for m in INFER_MODES
        for b in (int(x) for x in args.batch_sizes.split(","))
    ]
    rows += [{"kind": "train", "stage": s, "mode": "bf16-compile"} for s in stages]
    for row in rows:
        if not cuda and row["mode"] != "bf16" and row["mode"] != "fp32":
            row["status"] = "skipped: compilation and CUDA graphs are measured on a GPU only"
    return rows


def run_rows(rows: list[dict], config: Any, device: torch.device, args: Any) -> None:
    """Measure the rows in place (``status``: measured, failed, or skipped)."""
    start = time.perf_counter()
    for row in rows:
        if "status" in row:
            print(_line(row), flush=True)
            continue
        left = args.budget_s - (time.perf_counter() - start)
        if left <= 1:
            row["status"] = "skipped: time budget spent"
            print(_line(row), flush=True)
            continue
        _reset(device)
        try:
            with deadline(left), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if row["kind"] == "train":
                    row.update(train_row(row["stage"], row["mode"], config, device, args))
                else:
                    row.update(inference_row(row["mode"], row["batch_size"], config, device, args))
            row["status"] = "measured"
        except OverBudget:
            row["status"] = "stopped: time budget spent"
        except Exception as exc:  # a row that fails is reported, the others still run
            row["status"] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        print(_line(row), flush=True)
    _reset(device)


def _line(row: dict) -> str:
    if row["kind"] == "train":
        head = f"train  {row['stage']:7s} {row['mode']:16s}"
        if row.get("status") == "measured":
            figure = f"{row['it_per_s']:9.2f} it/s"
    else:
        head = f"infer  batch {row['batch_size']:<2d} {row['mode']:16s}"
        if row.get("status") == "measured":
            figure = f"{row['ms_per_image']:9.1f} ms/image"
    if row.get("status") != "measured":
        return f"{head} {row.get('status')}"
    return (
        f"{head} {figure}  peak {row['peak_memory_mb']:8.0f} MiB  warm-up {row['warmup_s']:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tiny", action="store_true", help="the tiny preset on the CPU (no GPU needed)"
    )
    parser.add_argument(
        "--tiny-without-gpu", action="store_true", help="--tiny when no CUDA GPU is here"
    )
    parser.add_argument("--stages", default=",".join(STAGES), help="training stages to time")
    parser.add_argument("--batch-sizes", default="1,8", help="inference batch sizes")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per row")
    parser.add_argument("--infer-steps", type=int, default=20, help="timed inference batches")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (compilation)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop rows after this")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_check.json"))
    args = parser.parse_args(argv)
    args.tiny = args.tiny or (args.tiny_without_gpu and not torch.cuda.is_available())

    from hpt_model.config import HPTConfig

    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        print("error: no CUDA GPU here; --tiny runs the CPU smoke check", file=sys.stderr)
        return 2
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 rows: as PyTorch users run them
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    config = HPTConfig.tiny() if args.tiny else HPTConfig.paper()
    config.loss.allow_random_vgg = True
    torch.manual_seed(0)
    rows = plan(args, cuda)
    began = time.perf_counter()
    run_rows(rows, config, device, args)
    report = {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device)
        if cuda
        else platform.processor() or platform.machine(),
        "config": "tiny" if args.tiny else "paper",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "steps": args.steps,
        "infer_steps": args.infer_steps,
        "warmup": args.warmup,
        "budget_s": args.budget_s,
        "wall_s": round(time.perf_counter() - began, 1),
        "gpu_aim_ms_per_image_batch_1": GPU_AIM_MS,
        "rows": rows,
        "command": COMMAND,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
