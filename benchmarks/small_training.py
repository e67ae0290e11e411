"""Held-out pose transfer of models trained by ``hpt-model train-all`` (issue 22, items 2-3).

Every stored test pair of the shards (persons never seen in training; the source frame
from another clip of the same person, docs/shards.md "The rule") goes through each
trained row and through "copy the source"; each result is scored against the ground truth
at the model's fine size on the person (the target's remove-bg mask): SSIM (the map
averaged over the mask), PSNR and L1 (images in [-1, 1]) over the mask's pixels, and OSA
(§IV-C: the result's own fit against the target's) on the first ``--osa-pairs`` pairs.
Writes ``benchmarks/results/small_training.json`` and, with ``--grid``, a PNG of held-out
transfers: source, target pose, coarse Ĩ_t, layers İ_t (Eq. 6), result, ground truth.
For a row with the fine generator (F), its Eq. 6 fusion İ_t before the fine generator is
scored too, as ``ROW: İ_t``.

    python benchmarks/small_training.py --rows full H --minutes 30 \\
        --grid docs/images/small_transfers.png

Each row is first trained, the same budget each, by ``hpt-model train-all --model-config
small:ROW --minutes M`` into ``RUNS/small-ROW`` (which skips what is finished and resumes
what is not: a row already trained is only evaluated); the run folders' ``plan.json`` and
checkpoints give each row's budget and steps, which go into the results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "small_training.json"
COPY = "copy the source"


def run_info(folder: Path) -> dict[str, Any]:
    """A train-all folder's budget (plan.json) and each stage's steps (its final.pt)."""
    plan = json.loads((folder / "plan.json").read_text())
    stages = {}
    for stage in plan["stages"]:
        state = torch.load(folder / stage / "final.pt", map_location="cpu", weights_only=True)
        stages[stage] = {
            "steps": int(state["step"]),
            "budget_min": round(plan["stages"][stage] / 60, 2),
            "random_vgg": bool(state["config"]["loss"].get("allow_random_vgg")),
        }
    return {"folder": str(folder), "minutes": plan["minutes"], "stages": stages}


def train_row(data: Path, folder: Path, config: str, minutes: float) -> None:
    """``hpt-model train-all`` of one row (finished stages are skipped, others resumed)."""
    command = [sys.executable, "-m", "hpt_model.cli", "train-all", "--data", str(data)]
    command += ["--out", str(folder), "--model-config", config, "--minutes", str(minutes)]
    command += ["--allow-random-vgg", "--set", "checkpoint_every=200", "--quiet"]
    subprocess.run(command, cwd=ROOT, check=True)


def person_scores(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> dict:
    """Per-image SSIM, PSNR and L1 on the person. pred, truth (B, 3, R, R) in [-1, 1];
    mask (B, 1, R, R) in {0, 1}."""
    from hpt_model.metrics.ssim import ssim

    pixels = (mask.sum(dim=(1, 2, 3)) * 3).clamp_min(1)
    diff = (pred - truth) * mask
    l1 = diff.abs().sum(dim=(1, 2, 3)) / pixels
    mse = ((diff / 2) ** 2).sum(dim=(1, 2, 3)) / pixels  # on [0, 1] intensities
    psnr = 10 * torch.log10(1 / mse.clamp_min(1e-10))
    s = ssim(pred, truth, mask=mask)
    return {"ssim": s.tolist(), "psnr": psnr.tolist(), "l1": l1.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "work/small/shards")
    parser.add_argument("--rows", nargs="+", default=["full", "H"], help="Table IV rows")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs", help="RUNS/small-ROW")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per row")
    parser.add_argument("--config", default="small", help="the preset the rows are of")
    parser.add_argument("--limit", type=int, default=None, help="only the first N pairs")
    parser.add_argument("--osa-pairs", type=int, default=24, help="pairs scored with OSA")
    parser.add_argument("--grid", type=Path, default=None, help="PNG of held-out transfers")
    parser.add_argument("--grid-rows", type=int, default=6)
    parser.add_argument("--grid-tile", type=int, default=128)
    parser.add_argument("--note", default="", help="how the training ran (machine load...)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from torch.utils.data import default_collate

    from hpt_data.body import load_body_model
    from hpt_model.checkpoints import load_generators
    from hpt_model.data import PairDataset
    from hpt_model.data.pairs import TARGET_FIELDS, decode_pair_batch
    from hpt_model.inference import run_transfer, to_uint8
    from hpt_model.method import resize
    from pipelines.evaluate.osa import image_osa, target_params
    from pipelines.evaluate.report import fixed_tiles, tile_image
    from pipelines.occlusion.states import occlusion_states_smpl

    rows = {row: args.runs / f"{args.config}-{row}" for row in args.rows}
    for row, folder in rows.items():
        train_row(args.data, folder, f"{args.config}:{row}", args.minutes)
    torch.set_grad_enabled(False)
    gens = {name: load_generators(Path(folder)) for name, folder in rows.items()}
    size = {g.config.inputs.fine_size for g in gens.values()}
    if len(size) != 1:
        raise SystemExit(f"the rows' fine sizes differ: {size}")
    size = size.pop()
    dataset = PairDataset(args.data, "test", target_fields=(*TARGET_FIELDS, "mask"))
    n = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    keys = dataset.frames.frame_keys
    body = load_body_model()
    names = [COPY]
    for name, g in gens.items():
        names += [name, f"{name}: İ_t"] if g.config.variant.fusion else [name]
    scores: dict[str, dict[str, list]] = {k: {"ssim": [], "psnr": [], "l1": []} for k in names}
    osa: dict[str, list] = {k: [] for k in names}
    grid_rows = []
    pairs = []
    load = [os.getloadavg()[0]]
    start = time.perf_counter()
    for index in range(n):
        batch = default_collate([dataset[index]])
        dec = decode_pair_batch(dict(batch))
        truth = resize(dec["target_image"], size)
        mask = dec["target_mask"].float()
        mask = mask.view(mask.shape[0], 1, *mask.shape[-2:])
        mask = mask / 255 if mask.max() > 1 else mask  # uint8 or [0, 1]
        mask = (resize(mask, size) > 0.5).float()
        pairs.append(
            {
                "source": keys[int(dataset.sources[index])],
                "target": keys[int(dataset.targets[index])],
            }
        )
        results = {COPY: resize(dec["source_image"], size)}
        outs = {}
        for name, g in gens.items():
            outs[name] = run_transfer(g, batch)
            results[name] = outs[name].final.clamp(-1, 1)
            if outs[name].refinement is not None:  # Eq. 6's İ_t, before the fine generator
                results[f"{name}: İ_t"] = outs[name].initial.clamp(-1, 1)
        states = (
            occlusion_states_smpl(body, target_params(batch, 0)) if index < args.osa_pairs else None
        )
        for name, pred in results.items():
            for key, values in person_scores(pred, truth, mask).items():
                scores[name][key] += values
            if states is not None:
                image = np.ascontiguousarray(to_uint8(pred)[0].numpy()[..., ::-1])
                scored = image_osa(image, target_params(batch, 0), body, target_states=states)
                osa[name].append(None if math.isnan(scored.osa) else scored.osa)
        if args.grid and index < args.grid_rows:
            full = outs[next(iter(rows))]  # the first row's intermediates
            t = args.grid_tile
            source, pose, gt = fixed_tiles(batch, 0, t, 16.0)
            tiles = [source, pose, tile_image(to_uint8(resize(full.coarse, size))[0].numpy(), t)]
            if full.initial is not None:
                tiles.append(tile_image(to_uint8(full.initial)[0].numpy(), t))
            tiles += [tile_image(to_uint8(results[k])[0].numpy(), t) for k in rows]
            grid_rows.append(np.concatenate([*tiles, gt], axis=1))
        load.append(os.getloadavg()[0])
        print(f"pair {index + 1}/{n}", flush=True)

    def summary(name: str) -> dict[str, Any]:
        out = {k: float(np.mean(v)) for k, v in scores[name].items()}
        out.update({f"{k}_std": float(np.std(v)) for k, v in scores[name].items()})
        kept = [v for v in osa[name] if v is not None]
        out["osa"] = float(np.mean(kept)) if kept else None
        out["osa_pairs"] = len(kept)
        return out

    table = {name: summary(name) for name in names}
    results_json = {
        "benchmark": "small_training",
        "data": str(args.data),
        "split": "test",
        "n_pairs": n,
        "n_test_persons": len(set(dataset.frames.person_ids)),
        "size": size,
        "rows": table,
        "config": args.config,
        "train_minutes": args.minutes,
        "runs": {name: run_info(Path(folder)) for name, folder in rows.items()},
        "seeds": 1,
        "eval_wall_s": round(time.perf_counter() - start, 1),
        "eval_load_average": [round(min(load), 2), round(max(load), 2)],
        "note": args.note,
        "pairs": pairs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results_json, indent=1) + "\n")
    print(f"\n{n} held-out pairs at {size} px, on the person (target mask)")
    print(f"{'row':<22} {'SSIM':>6} {'PSNR':>6} {'L1':>6} {'OSA':>6}")
    for name, r in table.items():
        o = "-" if r["osa"] is None else f"{r['osa']:.3f}"
        print(f"{name:<22} {r['ssim']:6.3f} {r['psnr']:6.2f} {r['l1']:6.3f} {o:>6}")
    if args.grid and grid_rows:
        import cv2

        first = next(iter(rows))
        captions = ["source", "target pose", f"{first}: coarse", f"{first}: layers"]
        captions = captions[: 4 if outs[first].initial is not None else 3]
        captions += [f"{k}: result" for k in rows] + ["ground truth"]
        body = np.concatenate(grid_rows, axis=0)
        header = np.full((20, body.shape[1], 3), 255, np.uint8)
        for c, text in enumerate(captions):
            x = c * args.grid_tile + 3
            cv2.putText(header, text, (x, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1)
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.grid), np.concatenate([header, body], axis=0)[..., ::-1])
        print(f"grid: {args.grid}")


if __name__ == "__main__":
    main()
