"""The evaluation loop: every test pair through every row's model, SSIM, LPIPS and OSA per
image, their summary, and the files of :mod:`pipelines.evaluate.report`."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from hpt_data.shards.pairs import pairs_entry
from hpt_data.shards.reading import load_manifest
from hpt_data.shards.schema import CROP, HEATMAP_SIGMA_1024
from hpt_model.data.stored_pairs import PAIR_MODES
from pipelines.evaluate.models import LpipsMetric, ModelResult, ModelSpec
from pipelines.evaluate.osa import image_osa, target_params
from pipelines.evaluate.report import (
    fixed_tiles,
    metrics_json,
    render_table,
    tile_image,
    write_grid,
    write_text,
)
from pipelines.occlusion.part_layers import OSA_SIZE
from pipelines.occlusion.states import (
    JUNCTION_RADIUS,
    OcclusionStates,
    min_overlap_pixels,
    occlusion_states_smpl,
)


@dataclass(frozen=True)
class EvalSettings:
    """What to evaluate on and what to compute."""

    split: str = "test"
    limit: int | None = None  # the first N pairs; None: all
    seed: int = 0  # the pairs' seed (PairDataset), where they are sampled
    pairs: str = "auto"  # PairDataset's pairs: the split's stored list where there is one
    batch_size: int = 1
    workers: int = 0  # DataLoader workers
    osa: bool = True
    grid_rows: int = 8  # pairs shown in grid.png
    grid_tile: int = 192  # side of one grid tile, pixels
    progress: bool = True

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")
        if self.batch_size < 1 or self.workers < 0:
            raise ValueError("batch_size must be at least 1 and workers at least 0")
        if self.pairs not in PAIR_MODES:
            raise ValueError(f"pairs must be one of {', '.join(PAIR_MODES)}, got {self.pairs!r}")
        if self.grid_rows < 0 or self.grid_tile < 32:
            raise ValueError("grid_rows must be >= 0 and grid_tile at least 32 pixels")


def _mean(values: Sequence[float]) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(kept)) if kept else None


def summarize(images: Sequence[dict[str, Any]], with_osa: bool) -> dict[str, Any]:
    """Summary of per-image scores (dicts with ``ssim``, ``lpips`` and, with OSA, ``osa``,
    ``detected``, ``osa_agree``, ``osa_counted``).

    ``osa`` is the mean over the images that have one: detected images with at least one
    overlapping pair, and undetected images at 0 (NaN, i.e. None, images are left out and
    counted in ``n_without_overlap``); ``osa_detected`` the mean over detected images only;
    ``osa_pooled`` agreeing pairs over counted pairs, all images together;
    ``detection_rate`` the fraction of images in which a person was found and fitted.
    """
    out: dict[str, Any] = {
        "n_images": len(images),
        "ssim": _mean([im["ssim"] for im in images]),
        "lpips": _mean([im["lpips"] for im in images]),
    }
    if not with_osa:
        return out
    osa = [im["osa"] for im in images]
    detected = [im for im in images if im["detected"]]
    counted = sum(im["osa_counted"] for im in images)
    out.update(
        osa=_mean(osa),
        osa_detected=_mean([im["osa"] for im in detected]),
        osa_pooled=sum(im["osa_agree"] for im in images) / counted if counted else None,
        detection_rate=len(detected) / len(images) if images else None,
        n_detected=len(detected),
        n_without_overlap=sum(1 for v in osa if v is None or math.isnan(v)),
    )
    return out


# --------------------------------------------------------------------------- the loop


@dataclass
class EvalResult:
    """What :func:`evaluate` computed and wrote."""

    models: list[ModelResult]
    settings: dict[str, Any]
    files: list[Path]


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    from torch.utils.data import default_collate

    return default_collate(items)


def evaluate(
    shards: str | Path,
    models: Sequence[ModelSpec],
    out: str | Path,
    lpips: LpipsMetric,
    settings: EvalSettings | None = None,
    *,
    body_model: Any = None,
    fit_settings: Any = None,
    device: str | torch.device = "cpu",
) -> EvalResult:
    """Evaluate each model on the shards' test pairs and write ``metrics.json``,
    ``table.md`` and ``grid.png`` to ``out``.

    Parameters
    ----------
    shards : the shard folder (``hpt-data``'s ``write-shards`` output).
    models : the rows (see :func:`name_models`); an oracle row feeds the ground truth at the
        first model's resolution (1024 when it is alone).
    lpips : from :func:`load_metric_lpips`.
    body_model : the body model of the shards' fits, for OSA; the built-in one when None.
    fit_settings : ``FitSMPLSettings`` of the OSA fit; the stage's defaults when None.
    """
    from hpt_model.data import PairDataset, decode_pair_batch
    from hpt_model.inference import run_transfer, to_uint8
    from hpt_model.method import resize
    from hpt_model.metrics.ssim import ssim

    settings = settings or EvalSettings()
    if not models:
        raise ValueError("nothing to evaluate: give at least one checkpoint or the oracle")
    device = torch.device(device)
    out = Path(out)
    volume = any(m.volume for m in models)
    dataset = PairDataset(
        shards, settings.split, seed=settings.seed, with_volume=volume, pairs=settings.pairs
    )
    n = len(dataset) if settings.limit is None else min(settings.limit, len(dataset))
    keys = dataset.frames.frame_keys
    stored = pairs_entry(load_manifest(Path(shards)), settings.split) if dataset.stored else None
    if settings.osa and body_model is None:
        from hpt_data.body import load_body_model

        body_model = load_body_model()
    lpips_net = lpips.model.to(device)
    sizes = [m.gens.config.inputs.fine_size for m in models if not m.oracle]
    sigmas = [m.gens.heatmap_sigma for m in models if not m.oracle]
    sigma = sigmas[0] if sigmas else HEATMAP_SIGMA_1024  # of the grid's target pose
    oracle_size = sizes[0] if sizes else CROP
    gt_states: dict[int, OcclusionStates] = {}
    fixed: list[list[np.ndarray]] = []  # per grid row: source, target pose, ground truth
    results = []
    for spec in models:
        size = oracle_size if spec.oracle else spec.gens.config.inputs.fine_size
        result = ModelResult(spec, size)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(dataset, range(n)),
            batch_size=settings.batch_size,
            num_workers=settings.workers,
            collate_fn=_collate,
        )
        bar = tqdm(loader, desc=spec.name, unit="batch", disable=not settings.progress)
        for batch in bar:
            target = decode_pair_batch({"target_image": batch["target_image"].to(device)})
            truth = resize(target["target_image"], size)
            if spec.oracle:
                pred = truth
            else:
                pred = run_transfer(spec.gens, batch, volume=spec.volume).final.to(device)
                pred = pred.clamp(-1, 1)
            with torch.no_grad():
                s = ssim(pred, truth).cpu().tolist()
                d = lpips_net(pred, truth).cpu().tolist()
            pred_u8 = to_uint8(pred).numpy()  # (B, size, size, 3) RGB
            for b, index in enumerate(batch["index"].tolist()):
                record: dict[str, Any] = {
                    "index": index,
                    "target": keys[int(dataset.targets[index])],
                    "source": keys[int(dataset.sources[index])],
                    "ssim": float(s[b]),
                    "lpips": float(d[b]),
                }
                if settings.osa:
                    if index not in gt_states:
                        gt_states[index] = occlusion_states_smpl(
                            body_model, target_params(batch, b)
                        )
                    scored = image_osa(
                        np.ascontiguousarray(pred_u8[b][..., ::-1]),
                        target_params(batch, b),
                        body_model,
                        target_states=gt_states[index],
                        fit_settings=fit_settings,
                    )
                    record.update(
                        osa=None if math.isnan(scored.osa) else scored.osa,
                        detected=scored.detected,
                        osa_agree=scored.agree,
                        osa_counted=scored.counted,
                        osa_note=scored.note,
                    )
                result.images.append(record)
                if index < settings.grid_rows:
                    result.grid.append(tile_image(pred_u8[b], settings.grid_tile))
                    if len(fixed) <= index:
                        fixed.append(fixed_tiles(batch, b, settings.grid_tile, sigma))
        result.summary = summarize(result.images, settings.osa)
        results.append(result)
    meta = {
        "shards": str(shards),
        "split": settings.split,
        # "stored": the split's stored list (origin "dataset": the dataset's own pairs;
        # "rule": docs/shards.md's rule), else sampled with pairs_seed
        "pairs": "stored" if stored is not None else "sampled",
        "pairs_origin": None if stored is None else stored.get("origin"),
        "pairs_seed": None if stored is not None else settings.seed,
        "limit": settings.limit,
        "n_pairs": n,  # pairs scored
        "n_pairs_available": len(dataset),
        # the dataset's own list: how many it names for the split (stored + left out) and
        # why write-shards left some out (a frame dropped, a video not built, ...)
        "n_pairs_listed": None if stored is None else _listed(stored),
        "pairs_left_out": None if stored is None else dict(stored.get("left_out") or {}),
        "lpips_net": lpips.net,
        "lpips_backbone": lpips.backbone,
        "osa": settings.osa,
        "osa_settings": {
            "size": OSA_SIZE,
            "min_overlap_px": min_overlap_pixels(OSA_SIZE),
            "junction_radius_m": JUNCTION_RADIUS,
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    files = [
        write_text(out / "metrics.json", json.dumps(metrics_json(results, meta), indent=1)),
        write_text(out / "table.md", render_table(results, meta, lpips.trusted)),
    ]
    if settings.grid_rows and fixed:
        files.append(write_grid(out / "grid.png", results, fixed, settings.grid_tile))
    return EvalResult(results, meta, files)


def _listed(entry: dict[str, Any]) -> int:
    """Pairs the dataset lists for the split: those stored plus those left out."""
    return int(entry["pairs"]) + sum(int(v) for v in (entry.get("left_out") or {}).values())
