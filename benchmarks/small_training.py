"""Held-out pose transfer of models trained by ``hpt-model train-all`` (issue 22, items 2-3).

Every stored test pair of the shards (persons never seen in training; the source frame
from another clip of the same person, docs/shards.md "The rule") goes through each
trained row and through "copy the source"; each result is scored against the ground truth
at the model's fine size on the person (the target's remove-bg mask): SSIM (the map
averaged over the mask), PSNR and L1 (images in [-1, 1]) over the mask's pixels, and OSA
(§IV-C: the result's own fit against the target's) on the first ``--osa-pairs`` pairs.
Writes ``benchmarks/results/small_training.json`` (or ``--out``); with ``--grid``, a PNG of
held-out transfers: source, target pose, coarse Ĩ_t, layers İ_t (Eq. 6), result, ground
truth; with ``--motion``, a GIF of the first row's transfers of one held-out person into
every frame of another of their clips (source | result | ground truth).
For a row with the fine generator (F), its Eq. 6 fusion İ_t before the fine generator is
scored too, as ``ROW: İ_t``.

    python benchmarks/small_training.py --rows full H --minutes 30 \\
        --grid docs/images/small_transfers.png

Each row is first trained, the same budget each, by ``hpt-model train-all --model-config
small:ROW --minutes M`` into ``RUNS/small-ROW`` (which skips what is finished and resumes
what is not: a row already trained is only evaluated); the run folders' ``plan.json`` and
checkpoints give each row's budget and steps, which go into the results.

Issue 22's whole protocol (the five Table IV rows, 3 seeds, 60 minutes each: 15 CPU-hours
on 2 cores) is one command; each seed trains into ``RUNS/small-ROW-seedK`` (seed 0:
``RUNS/small-ROW``) and the results give every figure as the mean over the seeds with
its spread (standard deviation, and each seed's value). Seeds after the first split
their budget over the stages as seed 0's run did (``train-all --split-from``), so that
they differ by their seed alone::

    python benchmarks/small_training.py --rows table --seeds 3 --minutes 60
"""

from __future__ import annotations

import argparse
import copy
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
TABLE_IV = ("H", "H+S", "H+S+D", "H+S+D+PL", "H+S+D+PL+F")
METRICS = ("ssim", "psnr", "l1")


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
    return {
        "folder": str(folder),
        "minutes": plan["minutes"],
        "stages": stages,
        "step_weights": plan.get("step_weights"),
        "split_from": plan.get("split_from"),
    }


def train_row(
    data: Path,
    folder: Path,
    config: str,
    minutes: float,
    seed: int,
    extra: list[str],
    split_from: Path | None = None,
    step_weights: str = "short",
) -> None:
    """``hpt-model train-all`` of one row (finished stages are skipped, others resumed)."""
    command = [sys.executable, "-m", "hpt_model.cli", "train-all", "--data", str(data)]
    if split_from is not None:
        command += ["--split-from", str(split_from)]
    command += ["--step-weights", step_weights]
    command += ["--out", str(folder), "--model-config", config, "--minutes", str(minutes)]
    command += ["--allow-random-vgg", "--set", "checkpoint_every=200", "--quiet"]
    command += ["--set", f"seed={seed}"]
    for assignment in extra:
        command += ["--set", assignment]
    subprocess.run(command, cwd=ROOT, check=True)


def run_folder(runs: Path, config: str, row: str, seed: int) -> Path:
    """RUNS/CONFIG-ROW for seed 0 (the folders one-seed runs made), else RUNS/CONFIG-ROW-seedK."""
    return runs / (f"{config}-{row}" if seed == 0 else f"{config}-{row}-seed{seed}")


def over_seeds(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's mean over the seeds, its standard deviation (``_seed_std``) and the
    seeds' values (``_seeds``); the per-pair spread of the first seed stays ``_std``."""
    out: dict[str, Any] = {}
    for key in (*METRICS, "osa"):
        values = [x[key] for x in per_seed if x.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
        out[f"{key}_seed_std"] = float(np.std(values)) if values else None
        out[f"{key}_seeds"] = values
    for key in METRICS:
        out[f"{key}_std"] = per_seed[0][f"{key}_std"]
    out["osa_pairs"] = per_seed[0]["osa_pairs"]
    return out


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


def target_on_person(dec: dict[str, torch.Tensor], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A decoded pair batch's ground truth (B, 3, size, size) in [-1, 1] and the target's
    remove-bg mask (B, 1, size, size) in {0, 1}, at the size the results are scored at."""
    from hpt_model.method import resize

    mask = dec["target_mask"].float()
    mask = mask.view(mask.shape[0], 1, *mask.shape[-2:])
    mask = mask / 255 if mask.max() > 1 else mask  # uint8 or [0, 1]
    return resize(dec["target_image"], size), (resize(mask, size) > 0.5).float()


def write_motion(dataset: Any, generators: Any, out: Path, tile: int, fps: float = 5.0) -> None:
    """A GIF of held-out transfers in sequence: the source person of the dataset's first
    pair (never trained on) in every frame of that pair's target clip, in order; each
    frame source | result | ground truth, ``tile`` pixels each."""
    from PIL import Image
    from torch.utils.data import default_collate

    from hpt_model.inference import run_transfer, to_uint8
    from pipelines.evaluate.report import fixed_tiles, tile_image

    keys = dataset.frames.frame_keys  # "<video id>/<frame id>"
    clip = keys[int(dataset.targets[0])].rsplit("/", 1)[0]
    targets = sorted(
        (i for i, key in enumerate(keys) if key.startswith(f"{clip}/")), key=keys.__getitem__
    )
    dataset = copy.copy(dataset)  # the caller's pairs stay as they are
    dataset.sources = np.full(len(targets), dataset.sources[0])
    dataset.targets = np.array(targets)
    frames = []
    for index in range(len(targets)):
        batch = default_collate([dataset[index]])
        source, _, truth = fixed_tiles(batch, 0, tile, 16.0)
        result = tile_image(to_uint8(run_transfer(generators, batch).final)[0].numpy(), tile)
        frames.append(Image.fromarray(np.concatenate([source, result, truth], axis=1)))
    out.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=1000 / fps, loop=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "work/small/shards")
    parser.add_argument(
        "--rows",
        nargs="+",
        default=["full", "H"],
        help="Table IV rows; 'table' for all five (" + ", ".join(TABLE_IV) + ")",
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per row")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs", help="RUNS/small-ROW")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per row")
    parser.add_argument(
        "--set",
        dest="train_set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a TrainSettings field for every stage (train-all's --set)",
    )
    parser.add_argument("--config", default="small", help="the preset the rows are of")
    parser.add_argument(
        "--step-weights", default="short", help="train-all's --step-weights (short, paper)"
    )
    parser.add_argument(
        "--split-from",
        type=Path,
        default=None,
        metavar="RUN",
        help="seed 0 of a one-row run takes RUN's step costs (train-all's --split-from)",
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N pairs")
    parser.add_argument("--osa-pairs", type=int, default=24, help="pairs scored with OSA")
    parser.add_argument("--grid", type=Path, default=None, help="PNG of held-out transfers")
    parser.add_argument("--grid-rows", type=int, default=6)
    parser.add_argument("--grid-tile", type=int, default=128)
    parser.add_argument(
        "--motion",
        type=Path,
        default=None,
        help="GIF: the first pair's source person in every pose of its target's clip",
    )
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="score the run folders as they are (trained by hand, e.g. with another loss)",
    )
    parser.add_argument("--note", default="", help="how the training ran (machine load...)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from torch.utils.data import default_collate

    from hpt_data.body import load_body_model
    from hpt_model.checkpoints import CheckpointError, load_generators
    from hpt_model.data import PairDataset
    from hpt_model.data.pairs import TARGET_FIELDS, decode_pair_batch
    from hpt_model.inference import run_transfer, to_uint8
    from hpt_model.method import resize
    from pipelines.evaluate.osa import image_osa, target_params
    from pipelines.evaluate.report import fixed_tiles, tile_image
    from pipelines.occlusion.states import occlusion_states_smpl

    if args.seeds < 1:
        raise SystemExit("--seeds must be at least 1")
    row_names = [r for name in args.rows for r in (TABLE_IV if name == "table" else (name,))]
    seeds = range(args.seeds)
    folders = {
        (seed, row): run_folder(args.runs, args.config, row, seed)
        for seed in seeds
        for row in row_names
    }
    if args.split_from is not None and len(row_names) != 1:
        raise SystemExit("--split-from: one row only (RUN trained one row's config)")
    # seed 0's rows train first: the later seeds take their split of the budget
    for (seed, row), folder in [] if args.evaluate_only else folders.items():
        split_from = args.split_from if seed == 0 else folders[(0, row)]
        config = f"{args.config}:{row}"
        train_row(
            args.data,
            folder,
            config,
            args.minutes,
            seed,
            args.train_set,
            split_from,
            args.step_weights,
        )
    rows = {row: folders[(0, row)] for row in row_names}
    torch.set_grad_enabled(False)
    try:
        by_seed = {k: load_generators(Path(folder)) for k, folder in folders.items()}
    except CheckpointError as exc:  # e.g. --evaluate-only on a folder never trained
        raise SystemExit(f"error: {exc}") from None
    gens = {row: by_seed[(0, row)] for row in row_names}
    size = {g.config.inputs.fine_size for g in gens.values()}
    if len(size) != 1:
        raise SystemExit(f"the rows' fine sizes differ: {size}")
    size = size.pop()
    dataset = PairDataset(args.data, "test", target_fields=(*TARGET_FIELDS, "mask"))
    n = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    keys = dataset.frames.frame_keys
    body = load_body_model() if args.osa_pairs > 0 else None
    names = [COPY]
    for name, g in gens.items():
        names += [name, f"{name}: İ_t"] if g.config.variant.fusion else [name]
    keys_of = [(0, COPY)] + [(seed, name) for seed in seeds for name in names[1:]]
    scores: dict[tuple, dict[str, list]] = {k: {m: [] for m in METRICS} for k in keys_of}
    osa: dict[tuple, list] = {k: [] for k in keys_of}
    grid_rows = []
    pairs = []
    load = [os.getloadavg()[0]]
    start = time.perf_counter()
    for index in range(n):
        batch = default_collate([dataset[index]])
        dec = decode_pair_batch(dict(batch))
        truth, mask = target_on_person(dec, size)
        pairs.append(
            {
                "source": keys[int(dataset.sources[index])],
                "target": keys[int(dataset.targets[index])],
            }
        )
        results = {(0, COPY): resize(dec["source_image"], size)}
        outs = {}
        for (seed, name), g in by_seed.items():
            out = run_transfer(g, batch)
            if seed == 0:
                outs[name] = out
            results[(seed, name)] = out.final.clamp(-1, 1)
            if out.refinement is not None:  # Eq. 6's İ_t, before the fine generator
                results[(seed, f"{name}: İ_t")] = out.initial.clamp(-1, 1)
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
            tiles += [tile_image(to_uint8(results[(0, k)])[0].numpy(), t) for k in rows]
            grid_rows.append(np.concatenate([*tiles, gt], axis=1))
        load.append(os.getloadavg()[0])
        print(f"pair {index + 1}/{n}", flush=True)

    def summary(key: tuple) -> dict[str, Any]:
        out = {k: float(np.mean(v)) for k, v in scores[key].items()}
        out.update({f"{k}_std": float(np.std(v)) for k, v in scores[key].items()})
        kept = [v for v in osa[key] if v is not None]
        out["osa"] = float(np.mean(kept)) if kept else None
        out["osa_pairs"] = len(kept)
        return out

    table = {COPY: summary((0, COPY))}
    for name in names[1:]:
        table[name] = over_seeds([summary((seed, name)) for seed in seeds])
    results_json = {
        "benchmark": args.out.stem,  # small_training, small_training_60, small_ablation
        "data": str(args.data),
        "split": "test",
        "n_pairs": n,
        "n_test_persons": len(set(dataset.frames.person_ids)),
        "size": size,
        "rows": table,
        "config": args.config,
        "train_minutes": args.minutes,
        "train_set": args.train_set,  # train-all's --set values (budget_clock among them)
        "runs": {name: run_info(Path(folder)) for name, folder in rows.items()},
        "seed_runs": {
            f"{row} seed {seed}": run_info(Path(folder))
            for (seed, row), folder in folders.items()
            if seed > 0
        },
        "seeds": args.seeds,
        "eval_wall_s": round(time.perf_counter() - start, 1),
        "eval_load_average": [round(min(load), 2), round(max(load), 2)],
        "note": args.note,
        "pairs": pairs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results_json, indent=1) + "\n")
    print(f"\n{n} held-out pairs at {size} px, on the person (target mask)")
    print(f"mean over {args.seeds} seed(s) ± their standard deviation")
    print(f"{'row':<22} {'SSIM':>13} {'PSNR':>13} {'L1':>13} {'OSA':>13}")

    def cell(r: dict[str, Any], key: str, digits: int) -> str:
        if r.get(key) is None:
            return "-"
        spread = r.get(f"{key}_seed_std")
        return f"{r[key]:.{digits}f}" + ("" if spread is None else f" ±{spread:.{digits}f}")

    for name, r in table.items():
        figures = [cell(r, k, d) for k, d in (("ssim", 3), ("psnr", 2), ("l1", 3), ("osa", 3))]
        print(f"{name:<22} " + " ".join(f"{x:>13}" for x in figures))
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
    if args.motion:
        first = next(iter(rows))
        write_motion(dataset, gens[first], args.motion, args.grid_tile)
        print(f"motion: {args.motion} ({first})")


if __name__ == "__main__":
    main()
