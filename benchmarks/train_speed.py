"""Training speed of every stage: iterations per second, fp32 vs bf16, and peak memory.

Each (stage, precision) runs in its own child process, so its peak memory is its own: peak
resident set size on the CPU (``ru_maxrss``), ``torch.cuda.max_memory_allocated`` on a GPU.
An iteration is what the training loop does per step once a batch is on the device:
turning the shard-resolution batch into the stage's inputs and one optimisation step
(discriminator and generator). Data loading is not included. The batch is synthetic, at the
shards' resolution (1024 crop), with the batch size of the paper (1).

CPU, small size (what a machine without a GPU can measure)::

    python benchmarks/train_speed.py --device cpu --config tiny

GPU, the paper's resolutions (coarse 512, parts 128/256/512, fine 1024)::

    python benchmarks/train_speed.py --device cuda --config paper

Results go to ``benchmarks/results/train_speed.json`` (``--out``). The VGG-19 has random
weights unless torchvision's file is in its cache: the speed is the same.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

STAGES = ("coarse", "face", "arm", "leg", "fine", "e2e", "volume")
GPU_COMMAND = "python benchmarks/train_speed.py --device cuda --config paper"


def synthetic_batch(batch_size: int, with_volume: bool, seed: int = 0) -> dict:
    """A collated PairDataset-like batch at shard resolution with plausible structure."""
    from hpt_data.shards.schema import CROP, NUM_KEYPOINTS, PART_LAYER_SIZE, PART_LAYERS, VOXELS

    rng = np.random.default_rng(seed)
    labels = np.zeros((batch_size, CROP, CROP), np.int64)
    for label, (y0, y1, x0, x1) in enumerate(
        [(100, 230, 450, 580), (230, 600, 400, 620), (250, 560, 620, 700), (250, 560, 320, 400),
         (600, 950, 520, 610), (600, 950, 410, 500)],
        start=1,
    ):  # fmt: skip
        labels[:, y0:y1, x0:x1] = label
    depth = np.where(labels > 0, 3.0, 0.0).astype(np.float32)
    boxes = np.array(
        [[[512 - s // 2, 300 - s // 2, s] for s in (PART_LAYER_SIZE[p] for p in PART_LAYERS)]]
        * batch_size,
        np.int64,
    )
    batch = {
        "source_image": torch.rand(batch_size, 3, CROP, CROP) * 2 - 1,
        "source_part_boxes": torch.from_numpy(boxes),
        "target_image": torch.rand(batch_size, 3, CROP, CROP) * 2 - 1,
        "target_parsing": torch.from_numpy(labels),
        "target_depth": torch.from_numpy(depth).unsqueeze(1),
        "target_parsing_512": torch.from_numpy(labels[:, ::2, ::2].copy()),
        "target_depth_512": torch.from_numpy(depth[:, ::2, ::2].copy()).unsqueeze(1),
        "target_joints2d": torch.from_numpy(rng.uniform(200, 800, (batch_size, 24, 2))).float(),
        "target_keypoints": torch.from_numpy(
            rng.uniform((200, 200, 2.5), (800, 800, 3.5), (batch_size, NUM_KEYPOINTS, 3))
        ).float(),
        "target_part_boxes": torch.from_numpy(boxes),
    }
    for part in PART_LAYERS:
        s = PART_LAYER_SIZE[part]
        mask = torch.zeros(batch_size, 1, s, s)
        mask[..., s // 4 : 3 * s // 4, s // 4 : 3 * s // 4] = 1
        batch[f"target_layer_mask_{part}"] = mask
        batch[f"target_layer_depth_{part}"] = torch.where(mask > 0, 3.1, float("inf"))
    if with_volume:
        batch["target_voxels"] = torch.from_numpy(
            rng.integers(0, 7, (batch_size, *VOXELS), dtype=np.uint8).astype(np.int64)
        )
    return batch


def measure(stage: str, precision: str, args: argparse.Namespace) -> dict:
    """Run in a child process: warm up, then time ``args.steps`` iterations."""
    from hpt_model.config import HPTConfig
    from hpt_model.training import StageTrainer, TrainSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    device = torch.device(args.device)
    config = HPTConfig.paper() if args.config == "paper" else HPTConfig.tiny()
    config.loss.allow_random_vgg = True
    settings = TrainSettings(
        stage=stage,
        device=args.device,
        precision=precision,
        tensorboard=False,
        progress=False,
        compile=args.compile,
    )
    trainer = StageTrainer(settings, config, device)
    if args.compile:
        trainer.compile()
    trainer.total_steps = args.warmup + args.steps
    batch = {
        k: v.to(device) for k, v in synthetic_batch(args.batch_size, stage == "volume").items()
    }
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(args.warmup):
        trainer.train_step(trainer.inputs(batch))
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        trainer.train_step(trainer.inputs(batch))
    sync()
    seconds = (time.perf_counter() - start) / args.steps
    if device.type == "cuda":
        peak_mb, kind = torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    else:  # ru_maxrss is in KiB on Linux
        peak_mb, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_peak_rss"
    return {
        "stage": stage,
        "precision": precision,
        "it_per_s": 1.0 / seconds,
        "s_per_it": seconds,
        "peak_memory_mb": round(peak_mb, 1),
        "memory": kind,
    }


def _child(stage: str, precision: str, args: argparse.Namespace, queue: mp.Queue) -> None:
    try:
        queue.put(measure(stage, precision, args))
    except Exception as exc:  # report, do not hang the parent
        queue.put({"stage": stage, "precision": precision, "error": f"{type(exc).__name__}: {exc}"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--config", default="tiny", choices=("tiny", "paper"))
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train_speed.json"))
    args = parser.parse_args(argv)

    ctx = mp.get_context("spawn")
    results = []
    for stage in args.stages.split(","):
        for precision in args.precisions.split(","):
            queue = ctx.Queue()
            proc = ctx.Process(target=_child, args=(stage, precision, args, queue))
            proc.start()
            result = queue.get()
            proc.join()
            results.append(result)
            if "error" in result:
                print(f"{stage:7s} {precision:5s} failed: {result['error']}", flush=True)
            else:
                print(
                    f"{stage:7s} {precision:5s} {result['it_per_s']:8.2f} it/s  "
                    f"peak {result['peak_memory_mb']:8.0f} MiB ({result['memory']})",
                    flush=True,
                )
    report = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name()
        if args.device == "cuda"
        else platform.processor() or platform.machine(),
        "config": args.config,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "threads": args.threads or torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "torch": torch.__version__,
        "compile": args.compile,
        "results": results,
        "gpu_command": GPU_COMMAND,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    if args.device == "cpu":
        print(f"on a GPU machine, run: {GPU_COMMAND}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
