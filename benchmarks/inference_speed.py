"""Inference speed of the generator's model part: coarse → part layers → fine fusion.

What is timed, per image: :func:`hpt_model.inference.run_transfer` on a batch already on the
device in the PairDataset format (1024 crop): building the stage inputs (parsing one-hot,
relative depth, heatmaps, part crops at the config's sizes), the coarse generator, the five
part layers, Eq. 6 and the fine generator. Not timed: perceiving the photo and rendering
the target maps (CPU work of ``hpt_data``, done once per source and per pose). The paper
reports 0.44 s per image for its entire pipeline on a GTX 1080 Ti (§IV-B).

Each row runs in its own child process, so its peak memory is its own (peak RSS on the CPU,
``torch.cuda.max_memory_allocated`` on a GPU). GPU timings are CUDA-synchronised. Variants:

- ``fp32``;
- ``bf16``: bf16 autocast, channels_last on CUDA;
- ``bf16-compile``: bf16 and ``torch.compile`` of each generator's convolution stack;
- ``bf16-cudagraphs``: the same with ``mode="reduce-overhead"`` (CUDA graphs; GPU only).

CPU, what a machine without a GPU can measure (the paper's sizes, a few iterations, and the
tiny config)::

    python benchmarks/inference_speed.py --device cpu

GPU, the table the issue asks for (batch 1 and batched; ≤ 30 ms per image at batch 1 on an
H100 is the aim)::

    python benchmarks/inference_speed.py --device cuda --configs paper --batch-sizes 1,8 \
        --variants fp32,bf16,bf16-compile,bf16-cudagraphs --steps 50 --warmup 10

Results go to ``benchmarks/results/inference_speed.json`` (``--out``); the random weights
change nothing about the speed.
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

VARIANTS = ("fp32", "bf16", "bf16-compile", "bf16-cudagraphs")
GPU_COMMAND = (
    "python benchmarks/inference_speed.py --device cuda --configs paper --batch-sizes 1,8 "
    "--variants fp32,bf16,bf16-compile,bf16-cudagraphs --steps 50 --warmup 10"
)
PAPER_SECONDS = 0.44  # §IV-B, GTX 1080 Ti, the entire pipeline
GPU_AIM_MS = 30.0  # issue #10: per image at batch 1 on an H100


def compact_batch(batch_size: int, seed: int = 0) -> dict:
    """A collated PairDataset batch (compact dtypes, 1024 crop) with a blocky body."""
    from hpt_data.shards.schema import CROP, NUM_KEYPOINTS, PART_LAYER_SIZE, PART_LAYERS

    rng = np.random.default_rng(seed)
    labels = np.zeros((CROP, CROP), np.uint8)
    for label, (y0, y1, x0, x1) in enumerate(
        [(100, 230, 450, 580), (230, 600, 400, 620), (250, 560, 620, 700),
         (250, 560, 320, 400), (600, 950, 520, 610), (600, 950, 410, 500)],
        start=1,
    ):  # fmt: skip
        labels[y0:y1, x0:x1] = label
    depth = np.where(labels > 0, 0.05 * labels, np.inf).astype(np.float16)
    centres = {"face": (512, 160), "left_arm": (660, 400), "right_arm": (360, 400)}
    centres |= {"left_leg": (560, 770), "right_leg": (460, 770)}
    boxes = np.array(
        [
            [centres[p][0] - PART_LAYER_SIZE[p] // 2, centres[p][1] - PART_LAYER_SIZE[p] // 2,
             PART_LAYER_SIZE[p]]
            for p in PART_LAYERS
        ],
        np.int32,
    )  # fmt: skip
    b = batch_size
    batch = {
        "source_image": torch.from_numpy(rng.integers(0, 256, (b, 3, CROP, CROP), np.uint8)),
        "source_part_boxes": torch.from_numpy(np.stack([boxes] * b)),
        "target_image": torch.zeros(b, 3, CROP, CROP, dtype=torch.uint8),
        "target_parsing": torch.from_numpy(np.stack([labels] * b)),
        "target_depth": torch.from_numpy(np.stack([depth] * b))[:, None],
        "target_parsing_512": torch.from_numpy(np.stack([labels[::2, ::2]] * b)),
        "target_depth_512": torch.from_numpy(np.stack([depth[::2, ::2]] * b))[:, None],
        "target_joints2d": torch.from_numpy(rng.uniform(200, 800, (b, 24, 2)).astype(np.float32)),
        "target_keypoints": torch.from_numpy(
            rng.uniform((200, 200, 2.5), (800, 800, 3.5), (b, NUM_KEYPOINTS, 3)).astype(np.float32)
        ),
        "target_part_boxes": torch.from_numpy(np.stack([boxes] * b)),
    }
    for part in PART_LAYERS:
        s = PART_LAYER_SIZE[part]
        batch[f"target_layer_mask_{part}"] = torch.ones(b, 1, s, s, dtype=torch.uint8)
        batch[f"target_layer_depth_{part}"] = torch.full((b, 1, s, s), 0.2, dtype=torch.float16)
    return batch


def measure(config_name: str, variant: str, batch_size: int, args: argparse.Namespace) -> dict:
    """In a child process: build random generators, warm up, time ``args.steps`` batches."""
    from hpt_model.checkpoints import load_generators
    from hpt_model.config import HPTConfig
    from hpt_model.inference import run_transfer
    from hpt_model.method import build_stage_inputs

    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if variant == "bf16-cudagraphs" and not cuda:
        raise ValueError("CUDA graphs need a GPU")
    config = HPTConfig.paper() if config_name == "paper" else HPTConfig.tiny()
    gens = load_generators(
        None,
        config,
        allow_random=True,
        device=device,
        precision="fp32" if variant == "fp32" else "bf16",
        channels_last=cuda and variant != "fp32",
    )
    compile_seconds = 0.0
    if variant.endswith(("compile", "cudagraphs")):
        gens.compile("reduce-overhead" if variant == "bf16-cudagraphs" else None)
    batch = {k: v.to(device) for k, v in compact_batch(batch_size).items()}
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    start = time.perf_counter()
    for _ in range(args.warmup):
        run_transfer(gens, batch)
    sync()
    warmup_seconds = time.perf_counter() - start
    if variant.endswith(("compile", "cudagraphs")):
        compile_seconds = warmup_seconds
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        run_transfer(gens, batch)
        sync()
        times.append(time.perf_counter() - t0)
    per_batch = float(np.median(times))
    inputs_times = []  # the share of building the stage inputs (maps, crops) alone
    for _ in range(args.steps):
        t0 = time.perf_counter()
        build_stage_inputs(batch, gens.config, "fine", gens.heatmap_sigma)
        sync()
        inputs_times.append(time.perf_counter() - t0)
    if cuda:
        peak_mb, kind = torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    else:  # ru_maxrss is in KiB on Linux
        peak_mb, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_peak_rss"
    return {
        "config": config_name,
        "variant": variant,
        "batch_size": batch_size,
        "status": "measured",
        "ms_per_image": 1000 * per_batch / batch_size,
        "images_per_s": batch_size / per_batch,
        "ms_per_batch_median": 1000 * per_batch,
        "ms_per_batch_min": 1000 * min(times),
        "ms_inputs_per_batch_median": 1000 * float(np.median(inputs_times)),
        "steps": args.steps,
        "warmup": args.warmup,
        "warmup_seconds": round(warmup_seconds, 2),
        "compile_seconds": round(compile_seconds, 2) if compile_seconds else None,
        "peak_memory_mb": round(peak_mb, 1),
        "memory": kind,
    }


def _child(config: str, variant: str, batch: int, args: argparse.Namespace, q: mp.Queue) -> None:
    try:
        q.put(measure(config, variant, batch, args))
    except Exception as exc:  # report, do not hang the parent
        q.put(
            {
                "config": config,
                "variant": variant,
                "batch_size": batch,
                "status": f"failed: {type(exc).__name__}: {exc}",
            }
        )


def _row(r: dict) -> str:
    head = f"{r['config']:6s} {r['variant']:16s} batch {r['batch_size']:2d}  "
    if r["status"] != "measured":
        return head + r["status"]
    return (
        head + f"{r['ms_per_image']:10.1f} ms/image {r['images_per_s']:8.2f} images/s  "
        f"(inputs {r['ms_inputs_per_batch_median'] / r['batch_size']:7.1f})  "
        f"peak {r['peak_memory_mb']:6.0f} MiB ({r['memory']})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--configs", default=None, help="paper,tiny (default: cpu both)")
    parser.add_argument("--variants", default=None, help=f"of {','.join(VARIANTS)}")
    parser.add_argument("--batch-sizes", default=None, help="e.g. 1,8")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/inference_speed.json"))
    args = parser.parse_args(argv)
    cpu = args.device == "cpu"
    configs = (args.configs or ("paper,tiny" if cpu else "paper")).split(",")
    variants = (args.variants or ("fp32,bf16" if cpu else ",".join(VARIANTS))).split(",")
    batches = [int(b) for b in (args.batch_sizes or ("1" if cpu else "1,8")).split(",")]
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"unknown variant {v!r}; expected some of {VARIANTS}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no GPU")

    ctx = mp.get_context("spawn")
    results = []
    for config in configs:
        steps = args.steps or (3 if cpu and config == "paper" else 20)
        warmup = args.warmup if args.warmup is not None else (1 if cpu else 10)
        for variant in variants:
            for batch in batches:
                run_args = argparse.Namespace(**{**vars(args), "steps": steps, "warmup": warmup})
                queue = ctx.Queue()
                proc = ctx.Process(target=_child, args=(config, variant, batch, run_args, queue))
                proc.start()
                result = queue.get()
                proc.join()
                results.append(result)
                print(_row(result), flush=True)
    not_run = []
    if cpu:
        for variant in VARIANTS:
            for batch in (1, 8):
                not_run.append(
                    {
                        "config": "paper",
                        "variant": variant,
                        "batch_size": batch,
                        "status": "not run (no GPU lent)",
                        "command": GPU_COMMAND,
                    }
                )
        print(f"GPU rows: not run (no GPU lent). On a GPU machine: {GPU_COMMAND}")
    report = {
        "benchmark": "inference_speed",
        "what": "run_transfer on a device-resident PairDataset batch: stage inputs, coarse, "
        "five part layers, Eq. 6, fine generator; per image = median batch time / batch size",
        "device": args.device,
        "device_name": torch.cuda.get_device_name()
        if not cpu
        else platform.processor() or platform.machine(),
        "threads": args.threads or torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "torch": torch.__version__,
        "paper_reference_s_per_image": PAPER_SECONDS,
        "gpu_aim_ms_per_image_batch1": GPU_AIM_MS,
        "results": results,
        "not_run": not_run,
        "gpu_command": GPU_COMMAND,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
