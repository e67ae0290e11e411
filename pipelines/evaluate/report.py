"""What an evaluation writes: ``metrics.json`` (settings, summaries, every image's scores),
``table.md`` (Table II's columns, one row per model) and ``grid.png`` (source, target pose,
each model's result, ground truth), each written under a temporary name and renamed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pipelines.evaluate.models import ModelResult

#: Height of the caption strip above the grid's tiles, pixels.
GRID_HEADER = 28


# --------------------------------------------------------------------------- grid tiles


def tile_image(image: np.ndarray, tile: int) -> np.ndarray:
    """(H, W, 3) uint8 → (tile, tile, 3): area average when shrinking, linear otherwise."""
    import cv2

    mode = cv2.INTER_AREA if image.shape[0] > tile else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (tile, tile), interpolation=mode)


def pose_tile(parsing: np.ndarray, joints2d: np.ndarray, tile: int, sigma: float) -> np.ndarray:
    """The target pose as the grid shows it: S in the parts' colours with the joints' heatmaps
    H in white over it. parsing (1024, 1024) labels; joints2d (24, 2) pixels at 1024; sigma in
    1024-frame pixels; → (tile, tile, 3) uint8 RGB."""
    import cv2

    from hpt_data.render.preview_maps import colour_labels
    from hpt_model.method import render_heatmaps

    labels = cv2.resize(np.asarray(parsing, np.uint8), (tile, tile), cv2.INTER_NEAREST)
    base = colour_labels(labels)[..., ::-1].astype(np.float32)  # BGR palette → RGB
    joints = torch.as_tensor(np.asarray(joints2d, np.float32))[None]
    heat = render_heatmaps(joints, tile, sigma)[0].amax(dim=0).numpy()[..., None]
    return (base * (1 - heat) + 255 * heat).round().astype(np.uint8)


def _rgb(image: Tensor) -> np.ndarray:
    """(3, H, W) uint8 → (H, W, 3) uint8 RGB."""
    return image.permute(1, 2, 0).cpu().numpy()


def fixed_tiles(batch: dict[str, Any], b: int, tile: int, sigma: float) -> list[np.ndarray]:
    """The grid tiles of pair ``b`` of a batch that no model changes: source, target pose,
    ground truth."""
    pose = pose_tile(
        batch["target_parsing"][b].numpy(), batch["target_joints2d"][b].numpy(), tile, sigma
    )
    source, truth = _rgb(batch["source_image"][b]), _rgb(batch["target_image"][b])
    return [tile_image(source, tile), pose, tile_image(truth, tile)]


# --------------------------------------------------------------------------- files


def write_text(path: Path, text: str) -> Path:
    """Write to a temporary name, then rename: no half-written file under the real name."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def metrics_json(results: Sequence[ModelResult], meta: dict[str, Any]) -> dict[str, Any]:
    models = []
    for r in results:
        gens = r.spec.gens
        models.append(
            {
                "name": r.spec.name,
                "origin": r.spec.origin,
                "variant": "ground truth" if gens is None else gens.config.variant.name,
                "volume": r.spec.volume,
                "random_weights": bool(gens is not None and gens.random),
                "resolution": r.resolution,
                "summary": r.summary,
                "images": r.images,
            }
        )
    return {"settings": meta, "models": models}


def _fmt(value: float | None, digits: int, mark: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{mark}"


def describe_pairs(meta: dict[str, Any]) -> str:
    """Which pairs were scored, in one line: ``2 of the dataset's 4 pairs (2 left out by
    write-shards: video not built 2)``, ``6 of 6 pairs of the rule's stored list`` or
    ``6 of 6 pairs sampled with seed 0``."""
    scored, available = meta["n_pairs"], meta.get("n_pairs_available", meta["n_pairs"])
    if meta.get("pairs") != "stored":
        return f"{scored} of {available} pairs sampled with seed {meta['pairs_seed']}"
    if meta.get("pairs_origin") != "dataset":
        return f"{scored} of {available} pairs of the rule's stored list"
    listed = meta.get("n_pairs_listed") or available
    text = f"{scored} of the dataset's {listed} pairs"
    left = meta.get("pairs_left_out") or {}
    notes = []
    if left:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(left.items()))
        notes.append(f"{sum(left.values())} left out by write-shards: {reasons}")
    if scored < available:
        notes.append(f"{available - scored} past --limit")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def render_table(results: Sequence[ModelResult], meta: dict[str, Any], lpips_trusted: bool) -> str:
    """``table.md``: Table II's columns (SSIM ↑, LPIPS ↓, OSA ↑) plus the detection rate,
    one row per model, and notes on how the numbers were made."""
    mark = "" if lpips_trusted else "*"
    lines = [
        f"# Evaluation on {meta['shards']} ({meta['split']} split, {describe_pairs(meta)})",
        "",
        "| method | resolution | SSIM ↑ | LPIPS ↓ | OSA ↑ | detected | pairs |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        s = r.summary
        rate = s.get("detection_rate")
        lines.append(
            f"| {r.spec.name} | {r.resolution} | {_fmt(s['ssim'], 4)} | "
            f"{_fmt(s['lpips'], 4, mark)} | {_fmt(s.get('osa'), 3)} | "
            f"{'—' if rate is None else f'{100 * rate:.1f} %'} | {s['n_images']} |"
        )
    lines += ["", "- Metrics at each model's output resolution (the config's fine size)."]
    if lpips_trusted:
        lines.append(f"- LPIPS v0.1, {meta['lpips_net']} backbone `{meta['lpips_backbone']}`.")
    else:
        lines.append(
            f"- \\* LPIPS UNTRUSTWORTHY: random {meta['lpips_net']} backbone weights "
            "(--allow-random-lpips); for testing the pipeline only."
        )
    if meta["osa"]:
        lines.append(
            "- OSA: mean over pairs judged (a result where no person is found scores 0; "
            "pairs with no overlapping parts in either body are left out); detected: "
            "results in which the fitter found and fitted a person. See docs/evaluation.md."
        )
    else:
        lines.append("- OSA not computed (--no-osa).")
    if any(r.spec.gens is not None and r.spec.gens.random for r in results):
        lines.append("- (random): RANDOM generator weights (--allow-random-model): noise.")
    return "\n".join(lines) + "\n"


def write_grid(
    path: Path, results: Sequence[ModelResult], fixed: list[list[np.ndarray]], tile: int
) -> Path:
    """``grid.png``: a caption strip, then one row per pair: source, target pose, each
    model's result (not the oracle's, which is the ground truth), ground truth."""
    import cv2

    shown = [r for r in results if not r.spec.oracle]  # the oracle's column is the truth
    captions = ["source", "target pose", *(r.spec.name for r in shown), "ground truth"]
    rows = []
    for i, (source, pose, truth) in enumerate(fixed):
        rows.append(np.concatenate([source, pose, *(r.grid[i] for r in shown), truth], 1))
    body = np.concatenate(rows, axis=0)
    header = np.full((GRID_HEADER, body.shape[1], 3), 255, np.uint8)
    for c, text in enumerate(captions):
        cv2.putText(
            header, text[: tile // 8], (c * tile + 4, GRID_HEADER - 9),
            cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA,
        )  # fmt: skip
    image = np.concatenate([header, body], axis=0)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    if not cv2.imwrite(str(tmp), np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f"{path}: cannot write the grid image")
    os.replace(tmp, path)
    return path
