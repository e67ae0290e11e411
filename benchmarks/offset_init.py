"""How the offset generators start: pix2pixHD's initialisation against a near-identity one,
held-out, on the ``small`` config (issue 22).

The part layers and the fine generator predict offsets (``offset_scale · tanh``) added to
the image they refine. With every conv initialised N(0, 0.02), as pix2pixHD does, a new
offset generator adds noise of mean magnitude ~0.55 to images in [-1, 1]; the late stages
of a short budget (the legs and e2e get tens of steps) never remove it. A small std on the
last conv only (``generators.offset_init_std``) starts each of them near the identity.

One coarse generator is trained (``--coarse-steps``); from it, each arm trains the face,
arm and leg layers and then e2e for the same fixed numbers of steps (so the figures do not
depend on the machine's load), one torch thread each, the two arms side by side. Every
stored test pair (persons never trained on) is then scored on the person as
``benchmarks/small_training.py`` scores it (SSIM, PSNR, L1), for the coarse result, Eq. 6's
İ_t and the final image, beside copying the source.

    python benchmarks/offset_init.py [--data work/small/shards] [--runs runs/offset_init]

Writes ``benchmarks/results/offset_init.json``; the data is ``hpt-data build --dataset small``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from small_training import person_scores, target_on_person  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "offset_init.json"
ARMS = {"pix2pixHD init (std 0.02)": 0.02, "near identity (std 0.001)": 0.001}
LAYER_STAGES = ("face", "arm", "leg")


def train(config: Path, stage: str, out: Path, steps: int, data: Path, **ckpts: Path) -> None:
    """``hpt-model train`` of one stage for ``steps`` steps into ``out`` (skipped when done)."""
    if (out / "last.pt").exists():
        return
    command = [sys.executable, "-m", "hpt_model.cli", "train", "--stage", stage, "-q"]
    command += ["-m", str(config), "-o", str(out), "--max-steps", str(steps)]
    command += ["--data", str(data), "--allow-random-vgg", "--set", "threads=1"]
    command += ["--set", "checkpoint_every=100000", "--set", "tensorboard=false"]
    for name, path in ckpts.items():
        command += [f"--{name}-checkpoint", str(path)]
    subprocess.run(command, cwd=ROOT, check=True, stderr=subprocess.DEVNULL)


def train_arm(config: Path, folder: Path, coarse: Path, steps: dict, data: Path) -> None:
    for stage in LAYER_STAGES:
        train(config, stage, folder / stage, steps[stage], data, coarse=coarse)
    layers = {s: folder / s / "last.pt" for s in LAYER_STAGES}
    train(config, "e2e", folder / "e2e", steps["e2e"], data, coarse=coarse, **layers)


def score(folders: dict[str, Path], data: Path, size: int) -> dict[str, dict[str, list]]:
    """Per image (name → metric → values) over every stored test pair."""
    from torch.utils.data import default_collate

    from hpt_model.checkpoints import load_generators
    from hpt_model.data import PairDataset
    from hpt_model.data.pairs import TARGET_FIELDS, decode_pair_batch
    from hpt_model.inference import run_transfer
    from hpt_model.method import resize

    torch.set_grad_enabled(False)
    gens = {name: load_generators(folder / "e2e" / "last.pt") for name, folder in folders.items()}
    dataset = PairDataset(data, "test", target_fields=(*TARGET_FIELDS, "mask"))
    scores: dict[str, dict[str, list]] = {}

    def add(name: str, pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> None:
        into = scores.setdefault(name, {"ssim": [], "psnr": [], "l1": []})
        for key, values in person_scores(pred.clamp(-1, 1), truth, mask).items():
            into[key] += values

    for index in range(len(dataset)):
        batch = default_collate([dataset[index]])
        dec = decode_pair_batch(dict(batch))
        truth, mask = target_on_person(dec, size)
        add("copy the source", resize(dec["source_image"], size), truth, mask)
        for name, g in gens.items():
            out = run_transfer(g, batch)
            add(f"{name}: coarse", resize(out.coarse, size), truth, mask)
            add(f"{name}: İ_t", out.initial, truth, mask)
            add(f"{name}: final", out.final, truth, mask)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "work/small/shards")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs/offset_init")
    parser.add_argument("--coarse-steps", type=int, default=800)
    parser.add_argument("--layer-steps", type=int, nargs=3, default=[400, 200, 60])
    parser.add_argument("--e2e-steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from hpt_model.config import HPTConfig

    args.runs.mkdir(parents=True, exist_ok=True)
    steps = dict(zip(LAYER_STAGES, args.layer_steps, strict=True), e2e=args.e2e_steps)
    configs = {}
    for name, std in ARMS.items():
        config = HPTConfig.small()
        config.generators.offset_init_std = std
        configs[name] = args.runs / f"small_std{std}.json"
        configs[name].write_text(json.dumps(config.to_dict(), indent=1))
    start = time.perf_counter()
    first = next(iter(configs.values()))  # the coarse generator has no offset output
    train(first, "coarse", args.runs / "coarse", args.coarse_steps, args.data)
    coarse = args.runs / "coarse" / "last.pt"
    folders = {name: args.runs / f"std{std}" for name, std in ARMS.items()}
    with ThreadPoolExecutor(len(ARMS)) as pool:  # each arm's stages run as subprocesses
        jobs = [
            pool.submit(train_arm, configs[n], folders[n], coarse, steps, args.data) for n in ARMS
        ]
        for job in jobs:
            job.result()
    train_s = time.perf_counter() - start
    size = HPTConfig.small().inputs.fine_size
    scores = score(folders, args.data, size)
    table = {n: {k: float(np.mean(v)) for k, v in d.items()} for n, d in scores.items()}
    n_pairs = len(next(iter(scores.values()))["ssim"])
    results = {
        "benchmark": "offset_init",
        "data": str(args.data),
        "n_pairs": n_pairs,
        "size": size,
        "steps": {"coarse": args.coarse_steps, **steps},
        "arms": ARMS,
        "train_wall_s": round(train_s, 1),
        "rows": table,
        "per_pair": scores,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"{n_pairs} held-out pairs at {size} px, on the person; steps {results['steps']}")
    print(f"{'':<40} {'SSIM':>7} {'PSNR':>7} {'L1':>7}")
    for name, row in table.items():
        print(f"{name:<40} {row['ssim']:7.4f} {row['psnr']:7.2f} {row['l1']:7.4f}")


if __name__ == "__main__":
    main()
